"""Serving an ASGI app from a command: uvicorn with the command's own exit codes."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any


def server_class() -> type:
    """A ``uvicorn.Server`` that stops gracefully on SIGINT/SIGTERM without re-raising the
    signal afterwards (the command returns an exit code instead); ``interrupted`` says
    whether it was SIGINT. uvicorn is imported here, not at module import, so ``--help``
    stays fast."""
    import uvicorn

    class Server(uvicorn.Server):
        interrupted = False

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            def stop(signum: int, frame: Any) -> None:
                self.interrupted = self.interrupted or signum == signal.SIGINT
                self.handle_exit(signum, frame)

            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server
