"""The TUI against the real collector (``create_app`` under uvicorn on loopback): the
overview, drill-down to an exemplar's waterfall and to a finding, the endpoint's depth
distribution over the overview's window, filter and sort, and a collector restart."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest
import uvicorn

from collector.app import create_app
from tests.collector.support import MS, loopback_settings, protobuf_request
from tests.support.sdk import TraceBuilder
from tests.tui.conftest import SIZE, FixedClock, column, settle, squash, text_of
from tui.app import CritpathApp
from tui.screens.endpoint import EndpointScreen
from tui.screens.finding import FindingScreen
from tui.screens.overview import OverviewScreen
from tui.screens.trace import TraceScreen
from tui.sources import CollectorSource
from tui.widgets.tables import EndpointsTable, ExemplarsTable, FindingsTable
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
        """Post ``traces`` bank checkouts to the collector's OTLP/HTTP receiver.

        Each checkout is web → api → ledger → sqlite, three services deep, and api calls
        ledger with no timeout declared: with enough of them that is a critical
        ``missing-timeout`` finding.
        """
        self.send_body(protobuf_request(traces))

    def send_body(self, body: bytes) -> None:
        """Post an OTLP protobuf request to the collector's OTLP/HTTP receiver."""
        receiver = f"http://127.0.0.1:{self.app.state.runtime.http_receiver.port}/v1/traces"
        httpx.post(receiver, content=body, headers=PROTOBUF, timeout=10).raise_for_status()


def balance_request(count: int) -> bytes:
    """``count`` fast ``web GET /balance`` traces, two services deep (web → api, with a
    declared timeout): a second endpoint beside the checkouts, to filter and sort."""
    builder = TraceBuilder()
    for i in range(count):
        t = (500 + i * 1000) * MS
        with builder.span("web", "GET /balance", t, t + (20 + i % 3) * MS, "server"):
            with builder.span(
                "web", "GET api", t + 2 * MS, t + 18 * MS, "client",
                attributes={"http.request.header.x-bank-timeout-ms": ("500",)},
            ):
                with builder.span("api", "GET /balance", t + 3 * MS, t + 17 * MS, "server"):
                    pass
    return builder.otlp_protobuf()


class RecordingSource(CollectorSource):
    """A collector source that remembers the window of each endpoint request."""

    def __init__(self, url: str, **kwargs) -> None:
        super().__init__(url, **kwargs)
        self.endpoint_windows: list[str] = []

    def endpoint(self, service: str, name: str, window: str = "all") -> dict:
        self.endpoint_windows.append(window)
        return super().endpoint(service, name, window)


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


async def test_endpoint_screen_draws_the_collectors_depth_counts_over_the_overviews_window(
    collector,
):
    collector.send(10)
    source = RecordingSource(collector.url)
    app = CritpathApp(source, window="5m", interval=0.3, clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(EndpointsTable)
        await wait_for(pilot, lambda: app.overview is not None and app.overview.traces == 10)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EndpointScreen)
        depths = app.screen.query_one("#depths")
        await wait_for(pilot, lambda: "Traces" in text_of(depths))
        # One bar: all ten checkouts are three services deep (web → api → ledger).
        rows = [squash(line) for line in text_of(depths).splitlines() if "█" in line]
        assert rows == ["3 " + "█" * 24 + " 10"]
        assert "no per-trace counts" not in text_of(depths)
        assert set(source.endpoint_windows) == {"5m"}
        # The next window: the overview refreshes, and the endpoint follows it.
        await pilot.press("w")
        await wait_for(pilot, lambda: "15m" in source.endpoint_windows)
        assert app.window == "15m"
        await wait_for(pilot, lambda: "Traces" in text_of(depths))
        assert [squash(line) for line in text_of(depths).splitlines() if "█" in line] == rows
    assert table.row_count == 1


async def test_overview_to_a_finding_and_its_endpoint_on_the_real_collector(collector):
    collector.send(10)
    app = CritpathApp(
        CollectorSource(collector.url), window="all", interval=0.3, clock=FixedClock()
    )
    async with app.run_test(size=SIZE) as pilot:
        findings = app.screen.query_one(FindingsTable)
        await wait_for(pilot, lambda: findings.row_count > 0)
        assert list(zip(column(findings, 0), column(findings, 2), strict=True)) == [
            ("● critical", "api → ledger")
        ]
        await pilot.press("f", "enter")
        await settle(pilot)
        assert isinstance(app.screen, FindingScreen)
        screen = app.screen
        assert squash(text_of(screen.query_one("#finding-title"))) == (
            "CRITICAL missing-timeout api → ledger"
        )
        assert "no timeout" in text_of(screen.query_one("#finding-message"))
        assert "Give api's calls to ledger a timeout" in text_of(
            screen.query_one("#finding-suggestion")
        )
        evidence = squash(text_of(screen.query_one("#finding-evidence")))
        assert "client api" in evidence and "server ledger" in evidence
        affected = screen.query_one("#affected", EndpointsTable)
        assert column(affected, 0) == ["web POST /checkout"]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EndpointScreen)
        assert app.screen.key == "web POST /checkout"
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)


async def test_filter_and_sort_on_the_real_collector(collector):
    collector.send(10)
    collector.send_body(balance_request(6))
    app = CritpathApp(
        CollectorSource(collector.url), window="all", interval=0.3, clock=FixedClock()
    )
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(EndpointsTable)
        findings = app.screen.query_one(FindingsTable)
        await wait_for(pilot, lambda: app.overview is not None and app.overview.traces == 16)
        # By p99, slowest first: the checkout (over 120 ms) before the balance (about 20 ms).
        assert column(table, 0) == ["web POST /checkout", "web GET /balance"]
        await pilot.press("r")
        assert column(table, 0) == ["web GET /balance", "web POST /checkout"]
        await pilot.press("s", "s")  # p99 → change → rate: ten checkouts, six balances
        title = text_of(app.screen.query_one("#endpoints-title"))
        assert "by rate descending" in title
        assert column(table, 0) == ["web POST /checkout", "web GET /balance"]
        await pilot.press("slash", *"balance")
        await settle(pilot)
        assert column(table, 0) == ["web GET /balance"]
        assert findings.row_count == 0  # the finding is about api → ledger only
        assert "filter “balance”" in text_of(app.screen.query_one("#endpoints-title"))
        await pilot.pause(0.7)  # two more polls: the filter holds across refreshes
        await settle(pilot)
        assert column(table, 0) == ["web GET /balance"]
        await pilot.press("escape")
        await settle(pilot)
        assert column(table, 0) == ["web POST /checkout", "web GET /balance"]
        assert findings.row_count == 1
