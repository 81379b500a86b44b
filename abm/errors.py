"""Exceptions with one-line messages meant for users."""


class InputError(ValueError):
    """Bad input from a user: unknown scenario, bad override, malformed file.

    The message is one line that names the problem; the CLI prints it and exits with code 2.
    """


class ConservationError(RuntimeError):
    """Raised the moment the accounting would create or destroy material."""
