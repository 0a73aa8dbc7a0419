"""``critpath tui --from A --from B``: the merged view of two real collectors.

Each collector (``create_app`` under uvicorn on loopback) receives whole traces routed by
trace id, as the OpenTelemetry Collector's load-balancing exporter sends them; the
TUI's :class:`MergedCollectorSource` must show their union, find a trace whichever
collector holds it, and say which collector stopped answering (ARCHITECTURE.md §9).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from textual.widgets._toast import Toast

from critpath.cli import build_parser, main
from critpath.commands.tui import make_source
from tests.cli.test_gate_merged import Collector, route
from tests.rules.scenarios import account_read, transfer
from tests.support.sdk import TraceBuilder
from tests.tui.conftest import SIZE, FixedClock, column, settle, text_of
from tui.app import CritpathApp
from tui.screens.trace import TraceScreen
from tui.sources import CollectorSource, MergedCollectorSource, SourceUnavailable
from tui.widgets.tables import EndpointsTable
from tui.widgets.waterfall import Waterfall

pytestmark = pytest.mark.anyio

TRANSFERS = "gateway POST /transfers"
ACCOUNTS = "gateway GET /accounts/{id}"


@pytest.fixture
def collectors() -> Iterator[list[Collector]]:
    """Two running collectors, stopped after the test."""
    running = [Collector(), Collector()]
    yield running
    for collector in running:
        collector.stop()


@pytest.fixture
def routed(collectors) -> list[set[str]]:
    """Ten transfers and six account reads, each trace sent whole to one collector."""
    b = TraceBuilder()
    for i in range(10):
        transfer(b, i, audit_fails=i % 3 == 0)
    for i in range(10, 16):
        account_read(b, i)
    return route(b, collectors)


def merged(collectors, **kwargs) -> MergedCollectorSource:
    return MergedCollectorSource([c.url for c in collectors], **kwargs)


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def toasts(app: CritpathApp) -> list[str]:
    """The plain text of every notification on screen (title and message)."""
    return [str(toast.render()) for toast in app.screen.query(Toast)]


def test_the_merged_report_counts_every_collector(collectors, routed):
    report = merged(collectors).report("all")
    assert report["traces"] == 16 == sum(len(ids) for ids in routed)
    assert {row["service"] + " " + row["name"] for row in report["endpoints"]} == {
        TRANSFERS, ACCOUNTS,
    }
    alone = [CollectorSource(c.url).report("all")["traces"] for c in collectors]
    assert alone == [len(ids) for ids in routed]


def test_a_trace_held_only_by_the_second_collector_is_found(collectors, routed):
    # A collector keeps whole traces only as exemplars, so take one the second one kept.
    kept = CollectorSource(collectors[1].url).endpoint("gateway", "POST /transfers")["exemplars"]
    trace_id = sorted(e["trace_id"] for e in kept)[0]
    assert trace_id in routed[1]
    assert CollectorSource(collectors[0].url).trace(trace_id) is None
    doc = merged(collectors).trace(trace_id)
    assert doc is not None and doc["trace_id"] == trace_id
    assert merged(collectors).trace("0" * 32) is None  # every collector answered: not there


def test_exemplars_come_from_every_collector(collectors, routed):
    detail = merged(collectors).endpoint("gateway", "POST /transfers")
    ids = {e["trace_id"] for e in detail["exemplars"]}
    assert ids & routed[0] and ids & routed[1]
    durations = [e["duration_ms"] for e in detail["exemplars"]]
    assert durations == sorted(durations, reverse=True)


def test_a_missing_trace_with_a_collector_down_is_unavailable_not_absent(collectors, routed):
    collectors[1].stop()
    with pytest.raises(SourceUnavailable, match=collectors[1].url):
        merged(collectors, timeout=1.0).trace("0" * 32)


def test_the_command_builds_a_merged_source_for_several_urls(capsys):
    args = build_parser().parse_args(["tui", "--from", "http://a:8686", "--from", "http://b:8686/"])
    source = make_source(args)
    assert isinstance(source, MergedCollectorSource)
    assert [c.url for c in source.collectors] == ["http://a:8686", "http://b:8686"]
    assert isinstance(make_source(build_parser().parse_args(["tui", "--from", "http://a"])),
                      CollectorSource)
    assert main(["tui", "--help"]) == 0
    assert "merged view of collectors that each hold whole" in capsys.readouterr().out


async def test_the_overview_shows_the_union_and_opens_a_trace_of_the_second(collectors, routed):
    app = CritpathApp(merged(collectors), window="all", interval=0.3, clock=FixedClock())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        table = app.screen.query_one(EndpointsTable)
        await wait_for(pilot, lambda: app.overview is not None and app.overview.traces == 16)
        assert sorted(column(table, 0)) == sorted([TRANSFERS, ACCOUNTS])
        assert app.connection.state == "live"
        assert "2 collectors" in text_of(app.screen.query_one("#status-line"))
        assert toasts(app) == []

        # Whole traces are kept only as exemplars (the slowest five and at most one recent
        # one a second per endpoint): open one the second collector kept, not any it got.
        # (Dealt in id order, each collector gets 8 of the 16, so at least 2 transfers.)
        kept = CollectorSource(collectors[1].url).endpoint("gateway", "POST /transfers")
        trace_id = sorted(e["trace_id"] for e in kept["exemplars"])[0]
        assert trace_id in routed[1]
        app.open_trace(trace_id)
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)
        waterfall = app.screen.query_one(Waterfall)
        await wait_for(pilot, lambda: len(waterfall.visible_rows) > 0)
        assert waterfall.visible_rows[0].name in ("POST /transfers", "GET /accounts/{id}")


async def test_a_partial_outage_names_the_collector_then_none_answering_is_lost(
    collectors, routed
):
    app = CritpathApp(
        merged(collectors, timeout=1.0), window="all", interval=0.3, clock=FixedClock()
    )
    # Textual's test harness hides notifications unless asked: the warning is one.
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: app.overview is not None and app.overview.traces == 16)
        collectors[1].stop()
        # The first collector still answers: live, its traces only, the second one named.
        await wait_for(pilot, lambda: app.overview.traces == len(routed[0]))
        assert app.connection.state == "live"
        assert len(app.partial_outage) == 1 and collectors[1].url in app.partial_outage[0]
        await settle(pilot)
        warning = " ".join(toasts(app))
        assert f"Not answering: {collectors[1].url} unreachable" in warning
        assert "merged view of the other collectors" in warning
        assert "1 not answering" in text_of(app.screen.query_one("#status-line"))
        assert not app.screen.query_one("#banner").display  # not the lost-everything banner

        collectors[0].stop()
        await wait_for(pilot, lambda: app.connection.state == "lost")
        await settle(pilot)
        assert "Lost the collector: no collector answers" in text_of(
            app.screen.query_one("#banner")
        )
        assert app.partial_outage == () and toasts(app) == []
        assert app.overview.traces == len(routed[0])  # the last data stays on screen
