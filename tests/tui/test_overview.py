"""The overview, driven by keys against the bank's fixture report."""

from __future__ import annotations

import pytest

from tests.tui.conftest import SIZE, cells, column, settle, text_of
from tests.tui.fixtures import AUTHORIZE_KEY
from tui.screens.endpoint import EndpointScreen
from tui.screens.finding import FindingScreen
from tui.screens.help import HelpScreen
from tui.widgets.tables import EndpointsTable, FindingsTable

pytestmark = pytest.mark.anyio


async def test_endpoints_show_rate_errors_latency_depth_and_top_service(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = bank_app.screen.query_one(EndpointsTable)
        assert table.row_count == 4
        # Trace files have no longer window to compare with: no change column values.
        assert cells(table, 0) == [
            AUTHORIZE_KEY,
            "4.0",
            "18 (1.5%)",
            "182",
            "1,450",
            "—",
            "2 / 3",
            "enrichment 55%",
        ]
        assert column(table, 0) == [
            AUTHORIZE_KEY,
            "feed GET /feed",
            "push POST /devices",
            "card-processing GET /cards/{id}",
        ]
        assert table.has_focus and table.selected_key == AUTHORIZE_KEY


async def test_findings_are_worst_first_and_coloured_by_severity(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = bank_app.screen.query_one(FindingsTable)
        assert column(table, 0) == ["● critical", "▲ warning", "▲ warning", "▲ warning", "○ info"]
        assert cells(table, 0)[1:] == ["missing-timeout", "card-processing → enrichment"]
        critical, info = table.get_row_at(0)[0], table.get_row_at(4)[0]
        assert critical.style and critical.style != info.style


async def test_sort_keys_cycle_and_reverse_the_endpoints(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = bank_app.screen
        table = screen.query_one(EndpointsTable)
        await pilot.press("s", "s")  # p99 -> change -> rate
        assert screen.sort_key == "rate"
        assert column(table, 1) == ["4.0", "2.7", "1.3", "0.2"]
        await pilot.press("s")  # errors (ratio)
        assert column(table, 0)[0] == "push POST /devices"
        await pilot.press("r")
        assert column(table, 0)[0] == "card-processing GET /cards/{id}"
        assert "by errors ascending" in text_of(screen.query_one("#endpoints-title"))


async def test_sorting_keeps_the_selected_endpoint(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = bank_app.screen.query_one(EndpointsTable)
        await pilot.press("down")
        assert table.selected_key == "feed GET /feed"
        await pilot.press("s", "s", "r")
        assert table.selected_key == "feed GET /feed"


async def test_filter_narrows_endpoints_and_findings_and_escape_clears_it(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = bank_app.screen
        await pilot.press("slash", *"feed")
        assert column(screen.query_one(EndpointsTable), 0) == ["feed GET /feed"]
        assert column(screen.query_one(FindingsTable), 1) == ["timeout-inversion"]
        assert "filter “feed”" in text_of(screen.query_one("#endpoints-title"))
        await pilot.press("enter")
        assert screen.query_one(EndpointsTable).has_focus
        await pilot.press("escape")
        assert screen.query_one(EndpointsTable).row_count == 4


async def test_enter_opens_the_endpoint_and_escape_comes_back(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(bank_app.screen, EndpointScreen)
        assert bank_app.screen.key == "feed GET /feed"
        await pilot.press("escape")
        assert bank_app.screen.query_one(EndpointsTable).selected_key == "feed GET /feed"


async def test_f_then_enter_opens_the_worst_finding(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f", "enter")
        await settle(pilot)
        assert isinstance(bank_app.screen, FindingScreen)
        assert "missing-timeout  card-processing → enrichment" in text_of(
            bank_app.screen.query_one("#finding-title")
        )


async def test_graph_is_layered_and_marks_edges(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = text_of(bank_app.screen.query_one("#graph"))
        header = next(line for line in text.splitlines() if "depth 0" in line)
        assert (
            header.index("depth 0")
            < header.index("depth 1")
            < header.index("depth 2")
            < header.index("depth 3")
        )
        assert "━▶ enrichment 820ms ✗11" in text
        assert "┄▷ feed (queue)" in text
        assert "─▶ sqlite 14.0ms" in text
        assert "▤ sqlite" in text and "◇ user" in text


async def test_help_lists_the_screen_keys_and_the_legend(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(bank_app.screen, HelpScreen)
        text = "\n".join(text_of(static) for static in bank_app.screen.query("Static"))
        assert "Sort" in text and "Filter" in text and "┄▷" in text
        await pilot.press("escape")
        assert not isinstance(bank_app.screen, HelpScreen)


async def test_mouse_click_on_a_row_opens_it(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = bank_app.screen.query_one(EndpointsTable)
        await pilot.click(table, offset=(3, 2))  # header row, then the second endpoint
        await pilot.click(table, offset=(3, 2))
        await settle(pilot)
        assert isinstance(bank_app.screen, EndpointScreen)
        assert bank_app.screen.key == "feed GET /feed"


async def test_q_quits(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert bank_app.return_code == 0 or not bank_app.is_running


async def test_a_malformed_report_is_reported_not_fatal(clock):
    from tui.app import CritpathApp
    from tui.sources import MemorySource

    broken = {"schema": "critpath.report/v1", "endpoints": [{"name": "no service"}]}
    app = CritpathApp(MemorySource(broken, live=True), interval=None, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.is_running and app.connection.state == "error"
        banner = text_of(app.screen.query_one("#banner"))
        assert (
            "The collector's answer was unusable: malformed report (KeyError('service'))" in banner
        )


async def test_clicking_a_column_header_sorts_by_it(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = bank_app.screen.query_one(EndpointsTable)
        title = bank_app.screen.query_one("#endpoints-title")

        def header_offset(key: str) -> tuple[int, int]:
            """Where the header of column ``key`` is drawn (its second cell, row 0)."""
            x = 0
            for column in table.ordered_columns:
                if column.key.value == key:
                    return (x + 1, 0)
                x += column.get_render_width(table)
            raise AssertionError(key)

        def p50s() -> list[float]:
            return [float(value.replace(",", "")) for value in column(table, 3)]

        await pilot.click(table, offset=header_offset("p50"))
        await settle(pilot)
        assert "by p50 descending" in text_of(title)
        assert p50s() == sorted(p50s(), reverse=True) and len(set(p50s())) > 1
        await pilot.click(table, offset=header_offset("p50"))  # the same header reverses
        await settle(pilot)
        assert "by p50 ascending" in text_of(title)
        assert p50s() == sorted(p50s())
        await pilot.click(table, offset=header_offset("endpoint"))
        await settle(pilot)
        assert "by name A→Z" in text_of(title)
        assert column(table, 0) == sorted(column(table, 0))


async def test_help_lists_the_keys_of_each_screen_as_its_footer_does(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter", "enter")  # the endpoint, then its slowest exemplar
        await settle(pilot)
        await pilot.press("question_mark")
        text = "\n".join(text_of(static) for static in bank_app.screen.query("Static"))
        assert "Next on critical path" in text and "Filter" in text  # the waterfall's `c`
        await pilot.press("escape", "escape")
        await settle(pilot)
        await pilot.press("question_mark")
        text = "\n".join(text_of(static) for static in bank_app.screen.query("Static"))
        assert "Filter" in text and "Next on critical path" not in text  # the endpoint screen
