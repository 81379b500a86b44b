"""Errors raised by the experiments package.

Every error a user can cause (a malformed spec, a bad ``--out`` directory, a bad CLI option)
is an :class:`ExperimentError`: a ``ValueError`` with a one-line message naming the problem.
The CLI prints that line and exits with status 2, without a traceback.
"""


class ExperimentError(ValueError):
    """A problem with the user's input (spec, options or result directory)."""


class SpecError(ExperimentError):
    """A malformed or inconsistent experiment spec."""
