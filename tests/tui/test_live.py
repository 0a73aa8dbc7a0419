"""Live mode against a real HTTP server on loopback: refresh without losing the
selection, the banner when the server goes away, and recovery when it returns."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable

import pytest

from tests.tui.conftest import SIZE, FixedClock, column, settle, text_of
from tests.tui.fixtures import AUTHORIZE_KEY, bank_endpoints, bank_report, bank_traces
from tests.tui.server import FixtureServer
from tui.app import CritpathApp
from tui.screens.endpoint import EndpointScreen
from tui.sources import CollectorSource
from tui.widgets.status import ConnectionBar
from tui.widgets.tables import EndpointsTable, ExemplarsTable

pytestmark = pytest.mark.anyio

INTERVAL = 0.2


@pytest.fixture
def server():
    server = FixtureServer(bank_report(), bank_traces(), bank_endpoints())
    server.start()
    yield server
    server.stop()


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app run until ``condition()`` holds (polls are real network round trips)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def status(app) -> str:
    return text_of(app.screen.query_one(ConnectionBar).query_one("#status-line"))


def banner(app) -> str:
    return text_of(app.screen.query_one(ConnectionBar).query_one("#banner"))


def slower_feed(report: dict) -> dict:
    """The report a later poll returns: feed's p99 jumps to the top, a new endpoint appears."""
    report = copy.deepcopy(report)
    feed = next(e for e in report["endpoints"] if e["service"] == "feed")
    feed["p99_ms"] = 5000.0
    extra = copy.deepcopy(feed)
    extra["name"] = "GET /statements"
    report["endpoints"].append(extra)
    return report


async def test_refresh_updates_rows_and_keeps_the_selection(server):
    clock = FixedClock()
    app = CritpathApp(CollectorSource(server.url), interval=INTERVAL, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(EndpointsTable)
        await wait_for(pilot, lambda: table.row_count == 4)
        assert status(app).startswith("● live")
        await pilot.press("down", "down")
        assert table.selected_key == "push POST /devices"
        server.report = slower_feed(server.report)
        await wait_for(pilot, lambda: table.row_count == 5)
        assert column(table, 0)[0] == "feed GET /feed"  # re-sorted by p99
        assert table.selected_key == "push POST /devices"  # the cursor followed its row


async def test_endpoint_screen_follows_live_updates(server):
    app = CritpathApp(CollectorSource(server.url), interval=INTERVAL, clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(EndpointsTable)
        await wait_for(pilot, lambda: table.row_count == 4)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EndpointScreen)
        exemplars = screen.query_one(ExemplarsTable)
        await wait_for(pilot, lambda: exemplars.row_count == 3)
        await pilot.press("down")
        report = copy.deepcopy(server.report)
        report["endpoints"][0]["traces"] = 1500
        server.report = report
        title = screen.query_one("#endpoint-title")
        await wait_for(pilot, lambda: "1,500 traces" in text_of(title))
        assert exemplars.cursor_row == 1  # the selection survived the refresh


async def test_banner_when_the_collector_goes_away_and_recovery_when_it_returns(server):
    clock = FixedClock()
    app = CritpathApp(CollectorSource(server.url, timeout=1.0), interval=INTERVAL, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(EndpointsTable)
        await wait_for(pilot, lambda: table.row_count == 4)
        assert banner(app).strip() == ""
        assert not app.screen.query_one("#banner").display

        server.stop()
        await wait_for(pilot, lambda: app.connection.state == "lost")
        clock.now += 42
        await pilot.pause(1.1)  # the status line re-reads the clock every second
        assert status(app).startswith("✖ disconnected")
        assert "data 42s old" in status(app)
        assert f"Lost the collector: {server.url} unreachable" in banner(app)
        assert "last received" in banner(app) and "Retrying every 0.2s" in banner(app)
        assert app.screen.query_one("#banner").display
        assert table.row_count == 4  # the last data stays on screen
        assert table.selected_key == AUTHORIZE_KEY

        server.report = slower_feed(server.report)
        server.start()  # the same port again
        await wait_for(pilot, lambda: app.connection.state == "live")
        await wait_for(pilot, lambda: table.row_count == 5)
        assert banner(app).strip() == ""
        assert not app.screen.query_one("#banner").display
        assert "data 0s old" in status(app)


async def test_a_collector_that_is_down_at_start_is_reported_then_picked_up(server):
    server.stop()
    app = CritpathApp(CollectorSource(server.url), interval=INTERVAL, clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.connection.state == "lost")
        assert "no data yet" in status(app)
        assert "last received" not in banner(app)
        server.start()
        table = app.screen.query_one(EndpointsTable)
        await wait_for(pilot, lambda: table.row_count == 4)
        assert app.connection.state == "live"


async def test_window_key_asks_the_collector_for_the_next_window(server):
    app = CritpathApp(CollectorSource(server.url), interval=60.0, clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "window 5m" in status(app)
        before = server.requests
        await pilot.press("w")
        await wait_for(pilot, lambda: server.requests > before and app.connection.window == "15m")
        await settle(pilot)
        assert "window 15m" in status(app)
        assert app.screen.query_one(EndpointsTable).row_count == 4


async def test_polls_do_not_pile_up_behind_a_slow_source(server):
    """A source slower than the interval gets one request at a time, not one per tick."""

    class SlowSource(CollectorSource):
        in_flight = 0
        most = 0

        def report(self, window):
            SlowSource.in_flight += 1
            SlowSource.most = max(SlowSource.most, SlowSource.in_flight)
            try:
                time.sleep(0.3)
                return super().report(window)
            finally:
                SlowSource.in_flight -= 1

    app = CritpathApp(SlowSource(server.url), interval=0.05, clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.sleep(1.0)
        await settle(pilot)
        assert SlowSource.most == 1
        assert app.screen.query_one(EndpointsTable).row_count == 4


async def test_slower_and_failing_endpoints_stand_out_against_the_longer_window(server):
    baseline = copy.deepcopy(server.report)
    authorize, feed = baseline["endpoints"][0], baseline["endpoints"][1]
    authorize["p99_ms"] = 1000.0  # now 1,450: 45% slower
    feed["p99_ms"] = 480.0  # now 240: twice as fast
    feed["errors"] = 0  # now 2 of 800, not enough to call out
    push = next(e for e in baseline["endpoints"] if e["service"] == "push")
    push["errors"] = 0  # now 10%, was 0
    server.windows["15m"] = baseline
    app = CritpathApp(CollectorSource(server.url), window="5m", interval=60.0, clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(EndpointsTable)
        assert column(table, 5) == ["+45%", "-50%", "+0%", "+0%"]
        assert column(table, 2)[2] == "5 (10.0%) ↑" and column(table, 2)[1] == "2 (0.2%)"
        worse, better = table.get_row_at(0)[5], table.get_row_at(1)[5]
        assert worse.spans and better.spans and worse.spans[0].style != better.spans[0].style
        await pilot.press("s")
        assert column(table, 0)[0] == AUTHORIZE_KEY and app.screen.sort_key == "change"


async def test_an_endpoint_that_leaves_the_window_keeps_its_last_numbers(server):
    app = CritpathApp(CollectorSource(server.url), interval=INTERVAL, clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(EndpointsTable)
        await wait_for(pilot, lambda: table.row_count == 4)
        await pilot.press("down", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EndpointScreen) and screen.key == "feed GET /feed"
        quiet = copy.deepcopy(server.report)
        quiet["endpoints"] = [e for e in quiet["endpoints"] if e["service"] != "feed"]
        server.report = quiet
        title = screen.query_one("#endpoint-title")
        await wait_for(pilot, lambda: "not in the current report" in text_of(title))
        assert "feed" in text_of(screen.query_one("#profile"))  # the last profile stays
        await pilot.press("escape")
        assert "feed GET /feed" not in column(table, 0)
