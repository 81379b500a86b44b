"""Errors raised by the experiments package.

Every error a user can cause (a malformed spec, a bad ``--out`` directory, a bad CLI option)
is an :class:`ExperimentError`: a ``ValueError`` with a one-line message naming the problem.
The CLI prints that line and exits with status 2, without a traceback.
"""


class ExperimentError(ValueError):
    """A problem with the user's input (spec, options or result directory)."""


class SpecError(ExperimentError):
    """A malformed or inconsistent experiment spec."""


class StoreError(RuntimeError):
    """The result store cannot be written (disk full, I/O error): the sweep stops.

    Finished runs are kept (each run file is complete or absent); rerunning the same command
    resumes once the cause is fixed. The CLI prints the one-line message and exits with 1.
    """


class CodeMismatchError(ExperimentError):
    """A worker imports other model code than the submitter (another checkout or version)."""
