"""Exit codes of the ``critpath`` command: an API that scripts and CI rely on."""

from enum import IntEnum


class ExitCode(IntEnum):
    """What a ``critpath`` process tells its caller."""

    OK = 0
    """The command did its work; for ``gate``, every budget held."""

    FAILED = 1
    """``gate`` only: a budget was broken or a listed rule fired."""

    BAD_INPUT = 2
    """Bad arguments, unreadable or malformed input, or (for ``gate``) no traces at all."""

    INTERRUPTED = 130
    """Stopped by Ctrl-C (SIGINT), after shutting down what the command started."""
