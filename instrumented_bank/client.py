"""The shared client every service uses to call another: timeouts, deadline, telemetry.

- The timeout of each call comes from :mod:`instrumented_bank.policy` (per caller,
  callee and scenario). With one, the call sends ``x-bank-timeout-ms`` so the callee
  knows its budget, and the client span records it as
  ``http.request.header.x-bank-timeout-ms`` (the semantic conventions' form for request
  headers: an array of strings). Without one, the call waits for as long as it takes
  and the span records no timeout, as an un-configured client would.
- The httpx instrumentation makes the CLIENT span and injects W3C ``traceparent``.
- A call is not started when the inbound deadline has already passed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor, RequestInfo
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span

from instrumented_bank import deadline
from instrumented_bank.deadline import TIMEOUT_ATTRIBUTE, TIMEOUT_HEADER

#: Request extensions carrying the callee's name and the call's timeout to the span hook.
_CALLEE_EXTENSION = "bank.callee"
_TIMEOUT_EXTENSION = "bank.timeout_ms"


class DependencyError(Exception):
    """A call to another service failed; ``status`` is what this service should answer."""

    status = 502

    def __init__(self, callee: str, detail: str) -> None:
        super().__init__(f"{callee}: {detail}")
        self.callee = callee
        self.detail = detail


class DependencyTimeout(DependencyError):
    """The callee did not answer within the call's timeout."""

    status = 504


def declare_timeout(span: Span, timeout_ms: int | None) -> None:
    """Record a declared timeout on a client span (nothing when there is none)."""
    if timeout_ms is not None:
        span.set_attribute(TIMEOUT_ATTRIBUTE, [str(timeout_ms)])


def _on_request(span: Span, request: RequestInfo) -> None:
    """httpx span hook: name the peer and record the timeout the call declares."""
    extensions = request.extensions or {}
    callee = extensions.get(_CALLEE_EXTENSION)
    if callee:
        span.set_attribute("peer.service", callee)
    declare_timeout(span, extensions.get(_TIMEOUT_EXTENSION))


async def _on_async_request(span: Span, request: RequestInfo) -> None:
    """The same hook for the async client (whose hooks must be coroutines)."""
    _on_request(span, request)


class ServiceClient:
    """Calls other bank services on behalf of ``caller``.

    ``timeouts(caller, callee) -> ms | None`` decides each call's timeout and
    ``url_of(service) -> base URL`` where the callee lives.
    """

    def __init__(
        self,
        caller: str,
        *,
        url_of: Callable[[str], str],
        timeouts: Callable[[str, str], int | None],
        tracer_provider: TracerProvider,
    ) -> None:
        self.caller = caller
        self._url_of = url_of
        self._timeouts = timeouts
        self._tracer_provider = tracer_provider
        # No connection-pool timeout either: a call without a timeout really waits.
        self._http = httpx.Client(timeout=None)
        HTTPXClientInstrumentor.instrument_client(
            self._http, tracer_provider=tracer_provider, request_hook=_on_request
        )

    def timeout_ms(self, callee: str) -> int | None:
        """The timeout this caller uses towards ``callee``."""
        return self._timeouts(self.caller, callee)

    def request(
        self,
        callee: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Call ``callee`` and return its response when its status is in ``expect``.

        Raises :class:`DependencyTimeout` when the call times out,
        :class:`DependencyError` for any other failure or unexpected status, and
        :class:`~instrumented_bank.deadline.DeadlineExceeded` when the inbound budget
        is already spent (the call is then not made at all).
        """
        deadline.check()
        options = self._options(callee)
        try:
            response = self._http.request(
                method, self._url_of(callee) + path, json=json, params=params, **options
            )
        except httpx.HTTPError as exc:
            raise self._failure(callee, exc) from exc
        return self._checked(callee, response, expect)

    def post_concurrently(self, calls: Sequence[tuple[str, str, Any]]) -> list[Any]:
        """``POST`` each ``(callee, path, body)`` at the same time and wait for all of them.

        Returns, in order, each decoded answer or the :class:`DependencyError` it raised,
        so the caller decides which failures it tolerates. The calls run on one event loop
        (an async client made for this fan-out): every call has started before any of them
        can finish, however busy the machine, which threads would not guarantee.
        """
        deadline.check()

        async def fan_out() -> list[Any]:
            async with httpx.AsyncClient(timeout=None) as http:
                HTTPXClientInstrumentor.instrument_client(
                    http, tracer_provider=self._tracer_provider, request_hook=_on_async_request
                )

                async def one(callee: str, path: str, body: Any) -> Any:
                    try:
                        response = await http.post(
                            self._url_of(callee) + path, json=body, **self._options(callee)
                        )
                    except httpx.HTTPError as exc:
                        return self._failure(callee, exc)
                    try:
                        return self._checked(callee, response, (200,)).json()
                    except DependencyError as exc:
                        return exc

                return await asyncio.gather(*(one(*call) for call in calls))

        # asyncio.run copies this thread's context: the calls share the request's span and deadline.
        return asyncio.run(fan_out())

    def _options(self, callee: str) -> dict[str, Any]:
        """Headers, timeout and span hints of a call to ``callee``."""
        timeout_ms = self.timeout_ms(callee)
        return {
            "headers": {TIMEOUT_HEADER: str(timeout_ms)} if timeout_ms is not None else {},
            "timeout": httpx.Timeout(timeout_ms / 1000.0 if timeout_ms is not None else None),
            "extensions": {_CALLEE_EXTENSION: callee, _TIMEOUT_EXTENSION: timeout_ms},
        }

    @staticmethod
    def _failure(callee: str, exc: httpx.HTTPError) -> DependencyError:
        if isinstance(exc, httpx.TimeoutException):
            return DependencyTimeout(callee, f"no answer in time ({type(exc).__name__})")
        return DependencyError(callee, f"unreachable ({type(exc).__name__})")

    @staticmethod
    def _checked(callee: str, response: httpx.Response, expect: tuple[int, ...]) -> httpx.Response:
        if response.status_code not in expect:
            raise DependencyError(callee, f"answered {response.status_code}: {response.text[:200]}")
        return response

    def get(self, callee: str, path: str, **kwargs: Any) -> Any:
        """``GET`` and decode the JSON answer."""
        return self.request(callee, "GET", path, **kwargs).json()

    def post(self, callee: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        """``POST`` JSON and decode the JSON answer."""
        return self.request(callee, "POST", path, json=json, **kwargs).json()

    def put(self, callee: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        """``PUT`` JSON and decode the JSON answer."""
        return self.request(callee, "PUT", path, json=json, **kwargs).json()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()
