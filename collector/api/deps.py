"""Dependencies shared by the routers: the runtime and live state of the app serving them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from collector.runtime import CollectorRuntime
from collector.state import LiveState


async def get_runtime(request: Request) -> CollectorRuntime:
    """The :class:`CollectorRuntime` that ``create_app`` attached to the app.

    ``async`` although it awaits nothing: FastAPI runs plain ``def`` dependencies in its
    thread pool, a thread handoff per request for a mere attribute read.
    """
    return request.app.state.runtime


async def get_state(request: Request) -> LiveState:
    """The live state (the ``LiveView`` the dashboard and TUI also read); ``async`` as above."""
    return request.app.state.runtime.state


Runtime = Annotated[CollectorRuntime, Depends(get_runtime)]
State = Annotated[LiveState, Depends(get_state)]
Window = Annotated[str, Query(
    description="`1m`, `5m`, `15m` (the configured windows) or `all` (since start)",
    examples=["5m"],
)]
