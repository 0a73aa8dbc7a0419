"""``/api/stream``: Server-Sent Events for clients that want pushes instead of polling.

One ``report`` event on connect, then one each time the live state's ``version``
changes (at most every ``POLL_SECONDS``), and a comment line as heartbeat so proxies
keep the connection open.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from collector.api.deps import Runtime
from collector.runtime import CollectorRuntime

router = APIRouter(prefix="/api", tags=["stream"])

POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0


@router.get(
    "/stream",
    summary="Live updates as Server-Sent Events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": 'event `report`, data `{"generated_at", "traces", "version"}`'}},
)
async def stream(request: Request, runtime: Runtime) -> StreamingResponse:
    """Emits ``event: report`` whenever new traces have been folded into the live state."""
    return StreamingResponse(
        _events(request, runtime), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(request: Request, runtime: CollectorRuntime) -> AsyncIterator[str]:
    state = runtime.state
    sent = -1
    beat = time.monotonic()
    while not runtime.stopping:
        version = state.version
        if version != sent:
            sent = version
            beat = time.monotonic()
            data = {"generated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "traces": state.traces, "version": version}
            yield f"event: report\nid: {version}\ndata: {json.dumps(data)}\n\n"
        elif time.monotonic() - beat >= HEARTBEAT_SECONDS:
            beat = time.monotonic()
            yield ": keep-alive\n\n"
        if await request.is_disconnected():
            return
        await asyncio.sleep(POLL_SECONDS)
