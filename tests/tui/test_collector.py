"""The TUI against the real collector (``create_app`` under uvicorn on loopback): the
overview, drill-down to an exemplar's waterfall, and a collector restart."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest
import uvicorn

from collector.app import create_app
from tests.collector.support import loopback_settings, protobuf_request
from tests.tui.conftest import SIZE, FixedClock, column, settle, text_of
from tui.app import CritpathApp
from tui.screens.endpoint import EndpointScreen
from tui.screens.trace import TraceScreen
from tui.sources import CollectorSource
from tui.widgets.tables import EndpointsTable, ExemplarsTable
from tui.widgets.waterfall import Waterfall

pytestmark = pytest.mark.anyio

PROTOBUF = {"Content-Type": "application/x-protobuf"}


class Collector:
    """A real collector served by uvicorn on a port that survives a restart."""

    def __init__(self) -> None:
        self.port = 0
        self.app = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", self.port))
        self.port = self._sock.getsockname()[1]
        self.app = create_app(loopback_settings())
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=1)
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()

    def send(self, traces: int) -> None:
        """Post ``traces`` bank checkouts to the collector's OTLP/HTTP receiver."""
        receiver = f"http://127.0.0.1:{self.app.state.runtime.http_receiver.port}/v1/traces"
        httpx.post(
            receiver, content=protobuf_request(traces), headers=PROTOBUF, timeout=10
        ).raise_for_status()


@pytest.fixture
def collector():
    running = Collector()
    running.start()
    yield running
    if running._thread.is_alive():
        running.stop()


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def test_drill_down_from_the_real_collector_to_a_waterfall(collector):
    collector.send(10)
    app = CritpathApp(
        CollectorSource(collector.url), window="all", interval=0.3, clock=FixedClock()
    )
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(EndpointsTable)
        await wait_for(pilot, lambda: table.row_count == 1 and app.overview.traces == 10)
        assert column(table, 0) == ["web POST /checkout"]
        assert "10 traces" in text_of(app.screen.query_one("#status-line"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EndpointScreen)
        exemplars = app.screen.query_one(ExemplarsTable)
        await wait_for(pilot, lambda: exemplars.row_count > 0)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)
        waterfall = app.screen.query_one(Waterfall)
        await wait_for(pilot, lambda: len(waterfall.visible_rows) == 7)
        names = [row.name for row in waterfall.visible_rows]
        assert names[0] == "POST /checkout" and "INSERT entries" in names
        assert waterfall.selected.on_critical_path


async def test_collector_restart_shows_the_banner_then_recovers(collector):
    collector.send(4)
    app = CritpathApp(
        CollectorSource(collector.url, timeout=1.0), window="all", interval=0.3, clock=FixedClock()
    )
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(EndpointsTable)
        await wait_for(pilot, lambda: app.overview is not None and app.overview.traces == 4)
        collector.stop()
        await wait_for(pilot, lambda: app.connection.state == "lost")
        assert "Lost the collector" in text_of(app.screen.query_one("#banner"))
        assert table.row_count == 1  # still showing what it had
        collector.start()  # a fresh collector on the same port
        await wait_for(pilot, lambda: app.connection.state == "live")
        collector.send(2)
        await wait_for(pilot, lambda: app.overview.traces == 2)
        assert not app.screen.query_one("#banner").display
