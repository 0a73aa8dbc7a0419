"""``create_app(settings)``: the collector as one FastAPI application.

The app's lifespan starts and stops the whole collector (store, pipeline and, unless
``settings.receivers`` is false, the OTLP receivers on their own ports); the API,
``/metrics`` and the dashboard share the app's port (8686 by default).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from collector.api import health, report, stream, traces
from collector.runtime import CollectorRuntime, Listeners
from collector.settings import CollectorSettings
from collector.state import UnknownWindow

DESCRIPTION = """\
The live critpath collector. Send traces with OTLP (HTTP on 4318, gRPC on 4317);
read the service graph, endpoint critical-path profiles, findings and exemplar traces
here, as JSON (`critpath.report/v1`, `critpath.trace/v1`) or as a live SSE stream.
"""


def create_app(settings: CollectorSettings | None = None,
               listeners: Listeners | None = None) -> FastAPI:
    """A new collector app; nothing starts until its lifespan runs (uvicorn, TestClient)."""
    settings = settings or CollectorSettings()
    runtime = CollectorRuntime(settings, listeners)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.shutdown()

    app = FastAPI(title="critpath collector", description=DESCRIPTION, lifespan=lifespan,
                  version=_version())
    app.state.runtime = runtime
    app.state.settings = settings
    for module in (report, traces, stream, health):
        app.include_router(module.router)
    app.add_exception_handler(UnknownWindow, _unknown_window)
    if settings.dashboard:
        _mount_dashboard(app, runtime, settings)
    return app


async def _unknown_window(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=400)


def _mount_dashboard(app: FastAPI, runtime: CollectorRuntime, settings: CollectorSettings) -> None:
    """Mount ``collector.dashboard``'s router when that package is present.

    Looked up with ``find_spec`` rather than by catching ImportError, so a dashboard
    that is present but broken fails loudly instead of silently vanishing.
    """
    if importlib.util.find_spec("collector.dashboard") is None:
        return
    dashboard = importlib.import_module("collector.dashboard")
    factory = getattr(dashboard, "create_dashboard_router", None)
    if factory is not None:
        app.include_router(factory(runtime.state, settings))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("critpath")
    except PackageNotFoundError:
        return "0"
