"""One bank service as an instrumented FastAPI application, and its process entry point.

``python -m instrumented_bank.service NAME`` serves service ``NAME`` with uvicorn (one
worker) on its port, configured by ``BANK_*`` and ``OTEL_*`` environment variables.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace.export import SpanExporter

from instrumented_bank import policy
from instrumented_bank.client import DependencyError, ServiceClient
from instrumented_bank.deadline import DeadlineExceeded, DeadlineMiddleware
from instrumented_bank.queue import QueueWorker, open_queue
from instrumented_bank.services import ServiceContext, module_of
from instrumented_bank.settings import SERVICE_NAMES, BankSettings
from instrumented_bank.telemetry import create_tracer_provider

#: Set by the runner: the process whose disappearance should stop this service.
PARENT_PID_ENV = "BANK_PARENT_PID"


def create_app(
    name: str, settings: BankSettings, *, exporter: SpanExporter | None = None
) -> FastAPI:
    """Service ``name`` as an application: its routes, ``/healthz``, deadline handling,
    OpenTelemetry instrumentation and (when it consumes any) a queue worker.

    Telemetry is flushed and the worker stopped when the application shuts down.
    """
    provider = create_tracer_provider(name, exporter)
    client = ServiceClient(
        name,
        url_of=settings.url_of,
        timeouts=partial(policy.timeout_ms, settings.scenario),
        tracer_provider=provider,
    )
    queue = open_queue(settings.queue_url, settings.data_dir)
    ctx = ServiceContext(
        name=name, settings=settings, tracer_provider=provider, client=client, queue=queue
    )
    service = module_of(name).build(ctx)
    # Only the scenario that defers work runs consumers; as-is has nothing queued.
    consumers = service.consumers if policy.defers_side_effects(settings.scenario) else {}
    worker = (
        QueueWorker(queue, ctx.tracer, consumers, poll_interval_s=settings.queue_poll_ms / 1000.0)
        if consumers
        else None
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if worker:
            worker.start()
        try:
            yield
        finally:
            if worker:
                worker.stop()
            queue.close()
            client.close()
            provider.shutdown()

    app = FastAPI(title=f"bank: {name}", lifespan=lifespan)
    app.include_router(service.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        return {"service": name, "scenario": settings.scenario, "status": "ok"}

    @app.exception_handler(DependencyError)
    async def dependency_failed(_: Request, exc: DependencyError) -> JSONResponse:
        return JSONResponse(
            {"error": "dependency_failed", "dependency": exc.callee, "detail": exc.detail},
            status_code=exc.status,
        )

    @app.exception_handler(DeadlineExceeded)
    async def deadline_exceeded(_: Request, exc: DeadlineExceeded) -> JSONResponse:
        return JSONResponse({"error": "deadline_exceeded", "detail": str(exc)}, status_code=504)

    app.add_middleware(DeadlineMiddleware)
    app.add_middleware(TraceResponseMiddleware)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls="healthz",
        # The per-message ASGI send/receive spans add nothing to a critical path.
        exclude_spans=["receive", "send"],
    )
    return app


class TraceResponseMiddleware:
    """Adds the W3C ``traceresponse`` header, so a caller outside the bank (the app, the
    card network, a test) learns which trace its request started."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = trace.get_current_span().get_span_context()

        async def send_with_header(message) -> None:
            if message["type"] == "http.response.start" and context.is_valid:
                value = (
                    f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
                )
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"traceresponse", value.encode())],
                }
            await send(message)

        await self.app(scope, receive, send_with_header)


def watch_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """SIGTERM this process once ``parent_pid`` is no longer its parent.

    The runner stops its children itself; this covers the runner being killed outright
    (SIGKILL, a crashed test), which would otherwise leave orphans holding the ports.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(name: str, settings: BankSettings) -> None:
    """Run service ``name`` until SIGINT/SIGTERM (uvicorn then shuts down gracefully)."""
    app = create_app(name, settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port_of(name),
        workers=1,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    parent = os.environ.get(PARENT_PID_ENV)
    if parent and parent.isdigit():
        watch_parent(int(parent))
    uvicorn.Server(config).run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m instrumented_bank.service",
        description="Serve one bank service "
        "(settings from BANK_* and OTEL_* environment variables).",
    )
    parser.add_argument("name", choices=SERVICE_NAMES, help="which service")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format=f"%(asctime)s {args.name} %(levelname)s %(message)s"
    )
    # Emit the stable HTTP semantic conventions (http.request.method, url.full, …) rather
    # than the instrumentations' legacy default, unless the operator chose otherwise.
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    try:
        settings = BankSettings.from_env()
    except ValueError as exc:
        print(f"{args.name}: {exc}", file=sys.stderr)
        return 2
    serve(args.name, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
