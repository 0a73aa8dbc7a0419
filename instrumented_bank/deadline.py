"""Deadline propagation: a request's inbound budget, read from ``x-bank-timeout-ms``.

A caller that sets a timeout sends it in the ``x-bank-timeout-ms`` header. The callee
keeps the matching deadline for the rest of the request (a context variable, so threads
started by the framework see it too) and does not start calls after it has passed:
nobody is waiting for their answer any more.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

from opentelemetry import trace

TIMEOUT_HEADER = "x-bank-timeout-ms"
#: The client-span attribute critpath reads as a declared timeout (a string array).
TIMEOUT_ATTRIBUTE = f"http.request.header.{TIMEOUT_HEADER}"
#: The server-span attribute recording the budget a request arrived with.
INBOUND_BUDGET_ATTRIBUTE = "bank.inbound_timeout_ms"

_deadline: ContextVar[float | None] = ContextVar("bank_deadline", default=None)


class DeadlineExceeded(Exception):
    """The request's budget ran out before a call could start."""


def remaining_ms() -> float | None:
    """Milliseconds left of the current request's budget; ``None`` when it has none."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    return (deadline - time.monotonic()) * 1000.0


def check() -> None:
    """Raise :class:`DeadlineExceeded` when the current request's budget is spent."""
    left = remaining_ms()
    if left is not None and left <= 0:
        raise DeadlineExceeded(f"the caller's budget ran out {-left:.0f} ms ago")


def parse_budget(value: str | None) -> int | None:
    """The budget in a header value, or ``None`` when absent or not a positive integer."""
    if value is None:
        return None
    try:
        budget = int(value.strip())
    except ValueError:
        return None
    return budget if budget > 0 else None


class DeadlineMiddleware:
    """ASGI middleware that turns the inbound ``x-bank-timeout-ms`` into the deadline.

    Plain ASGI rather than Starlette's ``BaseHTTPMiddleware`` so the context variable is
    set in the same context the endpoint runs in.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = dict(scope.get("headers") or ()).get(TIMEOUT_HEADER.encode())
        budget = parse_budget(raw.decode("latin-1") if raw else None)
        if budget is None:
            await self.app(scope, receive, send)
            return
        trace.get_current_span().set_attribute(INBOUND_BUDGET_ATTRIBUTE, budget)
        token = _deadline.set(time.monotonic() + budget / 1000.0)
        try:
            await self.app(scope, receive, send)
        finally:
            _deadline.reset(token)
