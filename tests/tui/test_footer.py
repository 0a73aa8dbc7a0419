"""The footer lists every key that leads somewhere: ``enter`` (the only key that opens the
endpoint, finding and trace screens) and ``tab`` on every main screen."""

from __future__ import annotations

import pytest
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from tests.tui.conftest import SIZE, settle
from tui.screens.endpoint import EndpointScreen
from tui.screens.finding import FindingScreen
from tui.screens.overview import OverviewScreen
from tui.screens.trace import TraceScreen

pytestmark = pytest.mark.anyio


def footer_keys(screen) -> dict[str, str]:
    """What the screen's footer shows: each key (by its binding's name) and its description.

    The footer draws ``enter`` as ``⏎``; the test names keys as bindings do.
    """
    return {key.key: key.description for key in screen.query_one(Footer).query(FooterKey)}


async def test_each_main_screen_footer_shows_enter_and_tab(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(bank_app.screen, OverviewScreen)
        keys = footer_keys(bank_app.screen)
        assert keys["enter"] == "Open"
        assert keys["tab"] == "Next pane"
        for key, text in (("slash", "Filter"), ("s", "Sort"), ("r", "Reverse"), ("q", "Quit")):
            assert keys[key] == text
        assert "w" not in keys  # trace files have no windows

        await pilot.press("f")  # the findings table opens findings with the same key
        await settle(pilot)
        assert footer_keys(bank_app.screen)["enter"] == "Open"

        await pilot.press("g")  # the graph has no rows: enter is not offered there
        await settle(pilot)
        keys = footer_keys(bank_app.screen)
        assert "enter" not in keys and keys["tab"] == "Next pane"

        await pilot.press("f", "enter")
        await settle(pilot)
        assert isinstance(bank_app.screen, FindingScreen)
        keys = footer_keys(bank_app.screen)
        assert keys["enter"] == "Open" and keys["tab"] == "Next pane"
        assert keys["escape"] == "Back" and keys["slash"] == "Filter"

        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(bank_app.screen, EndpointScreen)
        keys = footer_keys(bank_app.screen)
        assert keys["enter"] == "Open trace" and keys["tab"] == "Next pane"
        assert keys["escape"] == "Back" and keys["slash"] == "Filter"

        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(bank_app.screen, TraceScreen)
        keys = footer_keys(bank_app.screen)
        assert keys["tab"] == "Next pane" and keys["slash"] == "Filter"
        assert keys["escape"] == "Back" and keys["c"] == "Next on critical path"


async def test_tab_moves_between_panes(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = bank_app.screen
        assert screen.focused.id == "endpoints"
        await pilot.press("tab")
        assert screen.focused.id == "findings"
        await pilot.press("tab")
        assert screen.focused.id == "graph-box"
