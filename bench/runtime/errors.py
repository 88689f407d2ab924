"""Errors the CLI turns into one clear line and exit code 2 (no traceback)."""


class BenchError(Exception):
    """A user-facing error: the message names the file or setting and the fix."""


class DataError(BenchError):
    """A dataset is missing, malformed or unreadable."""


class RunLockedError(BenchError):
    """Another live process holds the run directory."""
