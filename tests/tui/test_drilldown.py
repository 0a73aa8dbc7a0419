"""Endpoint, trace and finding screens, reached by keys from the overview."""

from __future__ import annotations

import pytest

from tests.tui.conftest import SIZE, cells, column, settle, squash, text_of
from tests.tui.fixtures import AUTHORIZE_KEY, AUTHORIZE_TRACE, EVICTED_TRACE
from tui.screens.endpoint import EndpointScreen
from tui.screens.overview import OverviewScreen
from tui.screens.trace import TraceScreen
from tui.widgets.tables import EndpointsTable, ExemplarsTable
from tui.widgets.waterfall import Waterfall

pytestmark = pytest.mark.anyio


async def open_authorize(pilot) -> EndpointScreen:
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, EndpointScreen)
    return screen


async def open_authorize_trace(pilot) -> TraceScreen:
    await open_authorize(pilot)
    await pilot.press("down", "enter")  # the second exemplar: the 200 ms authorization
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, TraceScreen)
    return screen


async def test_endpoint_shows_profile_bars_depths_and_exemplars(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        screen = await open_authorize(pilot)
        title = text_of(screen.query_one("#endpoint-title"))
        assert "1,200 traces · 4.0/s · 18 errors (1.5%) · p50 182 ms · p99 1,450 ms" in title
        profile = text_of(screen.query_one("#profile")).splitlines()
        enrichment = next(line for line in profile if line.strip().startswith("enrichment"))
        push = next(line for line in profile if line.strip().startswith("push"))
        assert "55%" in enrichment and "95.0" in enrichment and "820" in enrichment
        assert enrichment.count("█") > push.count("█") > 0
        depths = text_of(screen.query_one("#depths"))
        assert "1,100" in depths and "100" in depths
        exemplars = screen.query_one(ExemplarsTable)
        assert exemplars.has_focus
        assert cells(exemplars, 0)[1:] == ["1,450", "error"]
        assert column(exemplars, 0)[1] == AUTHORIZE_TRACE


async def test_trace_waterfall_marks_the_critical_path(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        screen = await open_authorize_trace(pilot)
        title = text_of(screen.query_one("#trace-title"))
        assert "200 ms · 12 spans · 11 on the critical path · depth 2" in title
        waterfall = screen.query_one(Waterfall)
        assert waterfall.has_focus
        lines = [waterfall.render_line(y).text for y in range(12)]
        assert lines[0].startswith("card-processing POST /cards/authorize")
        assert lines[4].startswith(
            "      enrichment SELECT merchants"
        )  # indented under its parents
        assert "█" in lines[4] and "█" not in lines[11]  # the queue consumer is off the path
        assert lines[11].strip().startswith("feed transactions process")


async def test_selecting_a_span_shows_its_details_and_timeout(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        screen = await open_authorize_trace(pilot)
        details = squash(text_of(screen.query_one("#span-details")))
        assert "POST /cards/authorize" in details and "critical path 10.0 ms" in details
        await pilot.press(*["down"] * 7)  # card-processing POST /notify, which declares 2 s
        assert screen.query_one(Waterfall).selected.name == "POST /notify"
        details = squash(text_of(screen.query_one("#span-details")))
        assert "timeout used 2,000 ms" in details
        assert "http.request.header.x-bank-timeout-ms" in details and '["2000"]' in details
        await pilot.press("down", "down")  # the failed APNs call
        details = squash(text_of(screen.query_one("#span-details")))
        assert "status error" in details and "error.type" in details


async def test_c_jumps_to_the_next_span_on_the_critical_path(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        screen = await open_authorize_trace(pilot)
        waterfall = screen.query_one(Waterfall)
        await pilot.press("end")
        assert waterfall.selected.name == "transactions process"
        await pilot.press("c")
        assert waterfall.selected.name == "POST /cards/authorize"


async def test_trace_filter_keeps_matching_spans(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        screen = await open_authorize_trace(pilot)
        await pilot.press("slash", *"push")
        waterfall = screen.query_one(Waterfall)
        assert [row.service for row in waterfall.visible_rows] == ["push", "push"]
        await pilot.press("enter")  # keeps the filter, back to the waterfall
        assert waterfall.has_focus and len(waterfall.visible_rows) == 2
        await pilot.press("escape")  # the first escape drops the filter
        assert len(waterfall.visible_rows) == 12
        await pilot.press("escape")
        assert isinstance(bank_app.screen, EndpointScreen)


async def test_a_trace_the_source_no_longer_holds_says_so(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await open_authorize(pilot)
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        screen = bank_app.screen
        assert isinstance(screen, TraceScreen) and screen.trace_id == EVICTED_TRACE
        assert "no longer held" in text_of(screen.query_one("#trace-title"))


async def test_finding_shows_evidence_affected_endpoints_and_suggestion(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f", "down", "down", "enter")  # the deferrable push call
        await settle(pilot)
        screen = bank_app.screen
        assert "WARNING  deferrable-work  card-processing → push" in text_of(
            screen.query_one("#finding-title")
        )
        evidence = text_of(screen.query_one("#finding-evidence"))
        assert "saving_p99_ms" in evidence and "410.0" in evidence
        assert "publish it to a queue" in text_of(screen.query_one("#finding-suggestion"))
        affected = screen.query_one(EndpointsTable)
        assert column(affected, 0) == [AUTHORIZE_KEY]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(bank_app.screen, EndpointScreen) and bank_app.screen.key == AUTHORIZE_KEY
        await pilot.press("escape", "escape")
        assert isinstance(bank_app.screen, OverviewScreen)


async def test_clicking_a_waterfall_line_selects_that_span(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        screen = await open_authorize_trace(pilot)
        waterfall = screen.query_one(Waterfall)
        await pilot.click(waterfall, offset=(5, 4))
        assert waterfall.selected.name == "SELECT merchants"
        assert "db.statement" in text_of(screen.query_one("#span-details"))
