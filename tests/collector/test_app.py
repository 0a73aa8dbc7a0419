"""create_app: lifecycle, and mounting the dashboard router that collector.dashboard provides."""

from __future__ import annotations

import importlib.machinery
import sys
import types

from fastapi import APIRouter
from fastapi.testclient import TestClient

from collector.app import create_app
from tests.collector.support import loopback_settings


def test_dashboard_router_is_mounted_with_the_live_view(monkeypatch):
    seen = {}

    def create_dashboard_router(view, settings):
        seen["view"], seen["settings"] = view, settings
        router = APIRouter()

        @router.get("/")
        def index() -> dict:
            return {"traces": view.report("all")["traces"]}

        return router

    fake = types.ModuleType("collector.dashboard")
    fake.__spec__ = importlib.machinery.ModuleSpec("collector.dashboard", None)
    fake.create_dashboard_router = create_dashboard_router
    monkeypatch.setitem(sys.modules, "collector.dashboard", fake)
    settings = loopback_settings(receivers=False, dashboard=True)
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/").json() == {"traces": 0}
    assert seen["view"] is app.state.runtime.state and seen["settings"] is settings


def test_dashboard_can_be_left_out(monkeypatch):
    monkeypatch.setitem(sys.modules, "collector.dashboard", None)  # would fail if imported
    app = create_app(loopback_settings(receivers=False, dashboard=False))
    with TestClient(app) as client:
        assert client.get("/").status_code == 404
        assert client.get("/healthz").status_code == 200


def test_lifespan_starts_and_stops_everything():
    app = create_app(loopback_settings())
    runtime = app.state.runtime
    with TestClient(app):
        assert runtime.ready and runtime.pipeline.running
        assert runtime.http_receiver.port and runtime.grpc_receiver.port
    assert not runtime.ready and not runtime.pipeline.running
