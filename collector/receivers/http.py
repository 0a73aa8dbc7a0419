"""OTLP/HTTP receiver: ``POST /v1/traces`` on its own port (4318), served by uvicorn.

Checks run cheapest first, so a refused request costs almost nothing: path and method,
bearer token, content type and encoding, declared length, then backpressure, and only
then the body is read (capped, gzip inflated as it streams) and decoded. Status codes
follow the OTLP/HTTP specification: 200 (with partial success when spans were
rejected), 400, 401, 404, 405, 413, 415, and 429/503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import threading
from typing import Any

import uvicorn

from collector.net import bind_tcp
from collector.pipeline import Throttled
from collector.receivers.body import BadBody, BodyTooLarge, ClientGone, read_body
from collector.receivers.ingest import Ingest, Malformed
from collector.receivers.status import JSON, PROTOBUF, encode_status, encode_success
from collector.settings import CollectorSettings

log = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
ENCODINGS = {PROTOBUF: "protobuf", JSON: "json"}


class OtlpHttpApp:
    """The ASGI application behind the OTLP/HTTP port (deliberately not a framework app:
    one route, and every microsecond per request is ingest throughput)."""

    def __init__(self, ingest: Ingest, settings: CollectorSettings) -> None:
        self._ingest = ingest
        self._settings = settings
        token = settings.bearer_token
        self._expected_auth = f"Bearer {token}".encode() if token else None
        # Bodies being read and decoded right now: each may hold up to max_body_bytes, so
        # their number is capped too (the pipeline's limits only see decoded spans).
        self._in_flight = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {name.lower(): value for name, value in scope["headers"]}
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        reply_type = PROTOBUF if media == PROTOBUF else JSON
        status, message, extra = self._refusal(scope, headers, media)
        if status:
            self._ingest.counters.malformed(f"http_{status}")
            await _respond(send, status, encode_status(status, message, reply_type),
                           reply_type, extra)
            return
        try:
            self._ingest.check_capacity()
            if self._in_flight >= self._settings.max_concurrent_requests:
                self._ingest.counters.throttled("concurrent_requests")
                raise Throttled("concurrent_requests", "too many export requests in flight")
        except Throttled as exc:
            await self._throttled(send, exc, reply_type)
            return
        self._in_flight += 1
        try:
            await self._export(receive, send, headers, media, reply_type)
        finally:
            self._in_flight -= 1

    async def _export(self, receive: Any, send: Any, headers: dict[bytes, bytes], media: str,
                      reply_type: str) -> None:
        gzip = headers.get(b"content-encoding", b"").strip().lower() == b"gzip"
        try:
            body = await read_body(receive, self._settings.max_body_bytes, gzip)
        except ClientGone:
            return
        except BodyTooLarge:
            self._ingest.counters.malformed("http_413")
            await _respond(send, 413, encode_status(413, self._too_large(), reply_type),
                           reply_type)
            return
        except BadBody as exc:
            self._ingest.counters.malformed("bad_gzip")
            await _respond(send, 400, encode_status(400, str(exc), reply_type), reply_type)
            return
        try:
            admission = self._ingest.export(body, ENCODINGS[media], source="otlp-http")
        except Malformed as exc:
            await _respond(send, 400, encode_status(400, str(exc), reply_type), reply_type)
            return
        except Throttled as exc:
            await self._throttled(send, exc, reply_type)
            return
        await _respond(send, 200, encode_success(admission.rejected, admission.message,
                                                 reply_type), reply_type)

    def _refusal(self, scope: dict[str, Any], headers: dict[bytes, bytes],
                 media: str) -> tuple[int, str, list[tuple[bytes, bytes]]]:
        """The permanent refusal for this request, if any: (status, message, headers)."""
        if scope["path"] != TRACES_PATH:
            return 404, f"no such path {scope['path']!r}; OTLP traces go to {TRACES_PATH}", []
        if scope["method"] != "POST":
            return 405, f"{TRACES_PATH} accepts POST only", [(b"allow", b"POST")]
        if self._expected_auth is not None:
            given = headers.get(b"authorization", b"")
            # Constant-time, so the comparison does not leak how much of the token matched.
            if not hmac.compare_digest(given, self._expected_auth):
                return 401, "missing or wrong bearer token", [(b"www-authenticate", b"Bearer")]
        if media not in ENCODINGS:
            return 415, (f"content type {media or '(none)'!r} is not supported; "
                         f"use {PROTOBUF} or {JSON}"), [(b"accept-post", b", ".join(
                             e.encode() for e in ENCODINGS))]
        encoding = headers.get(b"content-encoding", b"identity").strip().lower()
        if encoding not in (b"gzip", b"identity", b""):
            return 415, (f"content encoding {encoding.decode('latin-1')!r} is not supported; "
                         "use gzip or none"), [(b"accept-encoding", b"gzip")]
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._settings.max_body_bytes:
            return 413, self._too_large(), []
        return 0, "", []

    def _too_large(self) -> str:
        return f"body exceeds {self._settings.max_body_bytes} bytes (after decompression)"

    async def _throttled(self, send: Any, exc: Throttled, reply_type: str) -> None:
        status = 503 if exc.unavailable else 429
        retry = self._settings.retry_after_seconds
        await _respond(send, status, encode_status(status, str(exc), reply_type, retry),
                       reply_type, [(b"retry-after", str(retry).encode())])


async def _respond(send: Any, status: int, body: bytes, content_type: str,
                   extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", content_type.encode()),
               (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class HttpReceiver:
    """Serves :class:`OtlpHttpApp` with uvicorn on a thread of its own.

    Its own thread and event loop keep ingest bursts (decoding is CPU work) from
    delaying the API's event loop between GIL switches.
    """

    def __init__(self, ingest: Ingest, settings: CollectorSettings,
                 sock: socket.socket | None = None) -> None:
        self._app = OtlpHttpApp(ingest, settings)
        self._settings = settings
        self._sock = sock
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def start(self) -> None:
        """Bind (unless given a bound socket) and serve; returns once it listens."""
        sock = self._sock or bind_tcp(self._settings.host, self._settings.otlp_http_port,
                                      "OTLP/HTTP", "--otlp-http-port")
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, lifespan="off", log_level="warning",
                                access_log=False, timeout_graceful_shutdown=2)
        server = uvicorn.Server(config)
        self._server = server
        ready = threading.Event()

        def serve() -> None:
            async def main() -> None:
                task = asyncio.create_task(server.serve(sockets=[sock]))
                while not server.started and not task.done():
                    await asyncio.sleep(0.005)
                ready.set()
                await task
            try:
                asyncio.run(main())
            finally:
                ready.set()
                sock.close()

        self._thread = threading.Thread(target=serve, name="critpath-otlp-http", daemon=True)
        self._thread.start()
        ready.wait()

    def shutdown(self) -> None:
        """Stop accepting, finish in-flight requests (bounded wait), close the port."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
