"""The shared client every service uses to call another: timeouts, deadline, telemetry.

- The timeout of each call comes from :mod:`instrumented_bank.policy` (per caller,
  callee and scenario). With one, the call sends ``x-bank-timeout-ms`` so the callee
  knows its budget, and the client span records it as
  ``http.request.header.x-bank-timeout-ms`` (the semantic conventions' form for request
  headers: an array of strings). Without one, the call waits for as long as it takes
  and the span records no timeout, as an un-configured client would.
- The httpx instrumentation makes the CLIENT span and injects W3C ``traceparent``.
- A call is not started when the inbound deadline has already passed.
- The timeout bounds the whole call, as the span records it: connecting, sending and
  reading the complete answer (httpx's own timeouts bound each phase separately, so a
  callee trickling its answer could otherwise hold a caller for many times the timeout).
  The calls run on one event loop per client (a thread of its own, so the services'
  synchronous handlers can wait on it) and the deadline is ``asyncio.timeout`` around the
  transport; a call past it fails as ``httpx.ReadTimeout``, inside the CLIENT span.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

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
    """The async client's span hook (hooks of an async client must be coroutines)."""
    _on_request(span, request)


class WholeCallTimeoutTransport(httpx.AsyncBaseTransport):
    """Bounds each request, answer body included, by the timeout it declares.

    The CLIENT span wraps this transport, so a call past its timeout ends its span as
    the failed call it is (``httpx.ReadTimeout``, an error status).
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout_ms = request.extensions.get(_TIMEOUT_EXTENSION)
        if timeout_ms is None:
            return await self._inner.handle_async_request(request)
        try:
            async with asyncio.timeout(timeout_ms / 1000.0):
                response = await self._inner.handle_async_request(request)
                try:
                    raw = b"".join([chunk async for chunk in response.stream])
                finally:
                    await response.aclose()
        except TimeoutError:
            raise httpx.ReadTimeout(
                f"no complete answer within {timeout_ms} ms", request=request
            ) from None
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(raw),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


_T = TypeVar("_T")


class _EventLoopThread:
    """An event loop running in a daemon thread; :meth:`run` waits for a coroutine there,
    in a copy of the calling thread's context (so the current span and deadline go along)."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        context = contextvars.copy_context()
        result: concurrent.futures.Future = concurrent.futures.Future()

        def start() -> None:
            task = self.loop.create_task(coroutine, context=context)

            def finished(done: asyncio.Task) -> None:
                if done.cancelled():
                    result.cancel()
                elif done.exception() is not None:
                    result.set_exception(done.exception())
                else:
                    result.set_result(done.result())

            task.add_done_callback(finished)

        self.loop.call_soon_threadsafe(start)
        return result.result()

    def stop(self, last: Callable[[], Awaitable[None]] | None = None) -> None:
        if last is not None:
            asyncio.run_coroutine_threadsafe(last(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


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
        self._loop = _EventLoopThread(f"{caller}-calls")
        # No connection-pool timeout either: a call without a timeout really waits.
        self._http = httpx.AsyncClient(
            timeout=None, transport=WholeCallTimeoutTransport(httpx.AsyncHTTPTransport())
        )
        HTTPXClientInstrumentor.instrument_client(
            self._http, tracer_provider=tracer_provider, request_hook=_on_async_request
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
        return self._loop.run(self._request(callee, method, path, json, params, expect))

    async def _request(
        self,
        callee: str,
        method: str,
        path: str,
        json: Any,
        params: Mapping[str, str] | None,
        expect: tuple[int, ...],
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method,
                self._url_of(callee) + path,
                json=json,
                params=params,
                **self._options(callee),
            )
        except httpx.HTTPError as exc:
            raise self._failure(callee, exc) from exc
        return self._checked(callee, response, expect)

    def post_concurrently(self, calls: Sequence[tuple[str, str, Any]]) -> list[Any]:
        """``POST`` each ``(callee, path, body)`` at the same time and wait for all of them.

        Returns, in order, each decoded answer or the :class:`DependencyError` it raised,
        so the caller decides which failures it tolerates. The calls run on one event loop:
        every call has started before any of them can finish, however busy the machine,
        which threads would not guarantee. They share the request's span and deadline.
        """
        deadline.check()

        async def one(callee: str, path: str, body: Any) -> Any:
            try:
                response = await self._request(callee, "POST", path, body, None, (200,))
            except DependencyError as exc:
                return exc
            return response.json()

        async def fan_out() -> list[Any]:
            return await asyncio.gather(*(one(*call) for call in calls))

        return self._loop.run(fan_out())

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
        """Close the connection pool and stop the client's event loop."""
        self._loop.stop(self._http.aclose)
