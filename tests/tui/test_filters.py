"""`/` filters on the drill-down screens: the Endpoint screen's exemplars and the Finding
screen's affected endpoints; escape clears the filter first, then goes back."""

from __future__ import annotations

import pytest

from tests.tui.conftest import SIZE, column, settle, text_of
from tests.tui.fixtures import AUTHORIZE_KEY, AUTHORIZE_TRACE
from tui.screens.endpoint import EndpointScreen
from tui.screens.finding import FindingScreen
from tui.screens.overview import OverviewScreen
from tui.screens.trace import TraceScreen
from tui.widgets.tables import EndpointsTable, ExemplarsTable

pytestmark = pytest.mark.anyio

ALL_EXEMPLARS = [
    "0af7651916cd43dd8448eb211c80319c",
    AUTHORIZE_TRACE,
    "00000000000000000000000000000bad",
]


async def test_slash_filters_the_endpoints_exemplars(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = bank_app.screen
        assert isinstance(screen, EndpointScreen)
        exemplars = screen.query_one(ExemplarsTable)
        assert column(exemplars, 0) == ALL_EXEMPLARS
        await pilot.press("slash", *"4bf9")
        await settle(pilot)
        assert column(exemplars, 0) == [AUTHORIZE_TRACE]
        title = text_of(screen.query_one("#exemplars-title"))
        assert "1 of 3" in title and "filter “4bf9”" in title
        await pilot.press("enter")  # keeps the filter, back to the table
        assert exemplars.has_focus and column(exemplars, 0) == [AUTHORIZE_TRACE]
        await pilot.press("enter")  # opens the one trace left
        await settle(pilot)
        assert isinstance(bank_app.screen, TraceScreen)
        assert bank_app.screen.trace_id == AUTHORIZE_TRACE
        await pilot.press("escape")
        await settle(pilot)
        assert bank_app.screen is screen and column(exemplars, 0) == [AUTHORIZE_TRACE]
        await pilot.press("slash", *["backspace"] * 4, *"error")
        await settle(pilot)
        assert column(exemplars, 0) == [ALL_EXEMPLARS[0]]  # by result: the failed one
        await pilot.press("escape")  # clears the filter, stays
        await settle(pilot)
        assert bank_app.screen is screen and column(exemplars, 0) == ALL_EXEMPLARS
        assert text_of(screen.query_one("#exemplars-title")).strip() == (
            "Exemplar traces (enter to open)"
        )
        await pilot.press("escape")  # then goes back
        await settle(pilot)
        assert isinstance(bank_app.screen, OverviewScreen)


async def test_slash_filters_the_findings_affected_endpoints(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f", *["down"] * 4, "enter")  # the info finding: push → apns.apple.com
        await settle(pilot)
        screen = bank_app.screen
        assert isinstance(screen, FindingScreen)
        affected = screen.query_one("#affected", EndpointsTable)
        assert column(affected, 0) == [AUTHORIZE_KEY, "push POST /devices"]
        await pilot.press("slash", *"devices")
        await settle(pilot)
        assert column(affected, 0) == ["push POST /devices"]
        assert "1 of 2" in text_of(screen.query_one("#affected-title"))
        # The services on an endpoint's critical path match too.
        await pilot.press(*["backspace"] * 7, *"enrichment")
        await settle(pilot)
        assert column(affected, 0) == [AUTHORIZE_KEY]
        await pilot.press("escape")
        await settle(pilot)
        assert bank_app.screen is screen
        assert column(affected, 0) == [AUTHORIZE_KEY, "push POST /devices"]
        assert affected.has_focus
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(bank_app.screen, OverviewScreen)
