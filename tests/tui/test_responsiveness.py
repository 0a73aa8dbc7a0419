"""The TUI stays responsive with 200 services, 1,000 endpoints and a 10,000-span trace.

Times are ratios to work of the same kind measured in the same run (rendering an empty
report, a small trace, a linear pass over the same document), each the best of a few
interleaved rounds, so the bounds hold on a slow or busy machine: load only ever adds
time. What the event loop does is timed apart from what the workers do (shaping the
documents), which is timed on its own.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from tests.tui.conftest import SIZE, FixedClock, settle
from tests.tui.fixtures import authorize_trace, big_report, big_trace, empty_report
from tui.app import CritpathApp
from tui.messages import TraceLoaded
from tui.model import build_overview, build_trace_view
from tui.sources import MemorySource
from tui.widgets.tables import EndpointsTable, KeyedTable
from tui.widgets.waterfall import Waterfall

pytestmark = pytest.mark.anyio

ROUNDS = 5
REFRESH_RATIO = 5
"""Refreshing the large report's tables may cost at most this many empty-report renders.

Best of five: updating the 1,300 rows in place and re-sorting them measured 3.1-3.5;
rebuilding the 1,000-row endpoints table from scratch measured 7.3-7.5 when every
refresh did (the in-place paths disabled) and 8-10.5 for the refresh test's own rebuild
(forced by a report in which every endpoint is new). That test measures the rebuild in
the same run and checks it lands above this bound, so the bound keeps telling the two
apart; counting ``DataTable.clear`` calls catches a rebuild exactly."""
GRAPH_RATIO = 20
"""A whole refresh, the 200-node graph redrawn as well, may cost at most this many
empty-report renders (measured 7-10: the graph is redrawn only when it changed)."""
SHAPE_RATIO = 5
"""Shaping the large report for the overview may cost at most this many deep copies of
it (a linear pass over the same document). Measured near 1; indexing each finding's
affected endpoints by a scan of every endpoint (findings × endpoints) measured 18-40."""
TRACE_RATIO = 5
"""Showing and scrolling a 10,000-span waterfall may cost at most this many times a
12-span one: the waterfall draws only the lines on screen."""


async def timed(pilot, change: Callable[[], object]) -> float:
    """Seconds from making ``change`` until the app has handled it and drawn the result."""
    start = time.perf_counter()
    change()
    await pilot.pause()
    elapsed = time.perf_counter() - start
    await settle(pilot)  # nothing left over (row measuring on idle) to bill the next one
    return elapsed


def best(seconds: list[float]) -> float:
    return min(seconds)


def count_clears(app: CritpathApp) -> list[str]:
    """Record every from-scratch table rebuild (``DataTable.clear``) on the current screen."""
    cleared: list[str] = []
    for table in app.screen.query(KeyedTable):
        original = table.clear

        def clear(*args, _table=table, _original=original, **kwargs):
            cleared.append(_table.id or type(_table).__name__)
            return _original(*args, **kwargs)

        table.clear = clear  # type: ignore[method-assign]
    return cleared


def test_shaping_a_large_report_is_linear():
    big = big_report()
    shape, copies = [], []
    for _ in range(ROUNDS):  # interleaved, so load on the machine hits both alike
        start = time.perf_counter()
        overview = build_overview(big, "5m", 300.0)
        shape.append(time.perf_counter() - start)
        start = time.perf_counter()
        copy.deepcopy(big)
        copies.append(time.perf_counter() - start)
    assert len(overview.findings) == 300 and all(f.affected for f in overview.findings)
    ratio = best(shape) / best(copies)
    assert ratio < SHAPE_RATIO, f"build_overview costs {ratio:.1f}× a deep copy of the report"


def large_overviews(**kwargs) -> list:
    """The large report in :data:`ROUNDS` generations (the numbers move), sharing one graph,
    so that what is timed is the tables (the graph is timed on its own)."""
    overviews = [
        build_overview(big_report(generation=g, **kwargs), "5m", 300.0) for g in range(ROUNDS)
    ]
    return [replace(overview, graph=large_graph()) for overview in overviews]


@functools.cache
def large_graph():
    return build_overview(big_report(), "5m", 300.0).graph


async def empty_renders(app, pilot, rounds: int) -> list[float]:
    empty = build_overview(empty_report(), "5m", 300.0)
    app.overview = empty
    await settle(pilot)
    return [await timed(pilot, lambda: setattr(app, "overview", empty)) for _ in range(rounds)]


def line_of_cursor(table) -> float:
    """Which line of the view the cursor is on."""
    return table.cursor_row - table.scroll_y


async def test_refreshing_a_large_report_is_a_bounded_multiple_of_an_empty_one():
    generations = large_overviews()
    # Every endpoint new: the endpoints table has nothing to keep and is built from scratch.
    elsewhere = large_overviews(first_endpoint=1000)
    assert len(generations[0].endpoints) == 1000 and generations[0].graph.node_count == 201
    app = CritpathApp(
        MemorySource(empty_report(), seconds=300.0), interval=None, clock=FixedClock()
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        baseline = await empty_renders(app, pilot, 3)
        await timed(pilot, lambda: setattr(app, "overview", elsewhere[0]))
        table = app.screen.query_one(EndpointsTable)
        cleared = count_clears(app)
        refreshes, rebuilds = [], []
        for g in range(ROUNDS):
            rebuilds.append(
                await timed(pilot, lambda g=g: setattr(app, "overview", generations[g]))
            )
            await pilot.press("down", "down", "down")
            selected = table.selected_key
            following = generations[(g + 1) % ROUNDS]  # the same endpoints, new numbers
            refreshes.append(await timed(pilot, lambda: setattr(app, "overview", following)))
            assert table.selected_key == selected and table.row_count == 1000
            await timed(pilot, lambda g=g: setattr(app, "overview", elsewhere[g]))
        # From scratch only when every endpoint changed (to the new set and back).
        assert cleared.count("endpoints") == 2 * ROUNDS
        baseline += await empty_renders(app, pilot, 3)  # before and after: load drift evens out
    refresh = best(refreshes) / best(baseline)
    rebuild = best(rebuilds) / best(baseline)
    assert refresh < REFRESH_RATIO, (
        f"refresh {best(refreshes):.3f}s is {refresh:.1f}× an empty render"
    )
    # The bound tells a refresh from a rebuild: the same run's rebuild lands above it.
    assert rebuild > REFRESH_RATIO, (
        f"a from-scratch rebuild was only {rebuild:.1f}× an empty render: the bound "
        f"({REFRESH_RATIO}) no longer tells it from an in-place refresh ({refresh:.1f}×)"
    )


async def test_a_refresh_that_redraws_the_graph_is_bounded_too():
    generations = [build_overview(big_report(generation=g), "5m", 300.0) for g in range(ROUNDS + 1)]
    # Each refresh brings a new graph (failure counts move), so each one is redrawn.
    assert all(a.graph != b.graph for a, b in zip(generations, generations[1:], strict=False))
    app = CritpathApp(
        MemorySource(empty_report(), seconds=300.0), interval=None, clock=FixedClock()
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        baseline = await empty_renders(app, pilot, 3)
        await timed(pilot, lambda: setattr(app, "overview", generations[0]))
        refreshes = [
            await timed(pilot, lambda o=overview: setattr(app, "overview", o))
            for overview in generations[1:]
        ]
        baseline += await empty_renders(app, pilot, 3)
    ratio = best(refreshes) / best(baseline)
    assert ratio < GRAPH_RATIO, f"a refresh with the graph is {ratio:.1f}× an empty render"


async def test_endpoints_entering_and_leaving_keep_the_selection_and_scroll():
    """Quiet endpoints leave the window and new ones enter: rows are added and removed in
    place, the selected row keeps its line on screen, and nothing is rebuilt."""
    before = large_overviews()
    # Endpoints 0000-0004 leave, 1000-1004 enter; the other 995 stay.
    after = large_overviews(first_endpoint=5)
    app = CritpathApp(
        MemorySource(empty_report(), seconds=300.0), interval=None, clock=FixedClock()
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        baseline = await empty_renders(app, pilot, 3)
        app.overview = before[0]
        await settle(pilot)
        table = app.screen.query_one(EndpointsTable)
        await pilot.press("pagedown", "pagedown", "down", "down")
        await settle(pilot)
        assert table.scroll_y > 0
        cleared = count_clears(app)
        changes = []
        for g in range(ROUNDS):
            for overview in (after[g], before[(g + 1) % ROUNDS]):
                selected, line = table.selected_key, line_of_cursor(table)
                changes.append(await timed(pilot, lambda o=overview: setattr(app, "overview", o)))
                assert table.row_count == 1000 and table.selected_key == selected
                assert line_of_cursor(table) == line  # the same line on screen
                # The table's order is the new report's, the rows that came included.
                assert [
                    table.coordinate_to_cell_key((row, 0)).row_key.value for row in range(1000)
                ] == [row.key for row in overview.endpoints]
        assert not cleared
        baseline += await empty_renders(app, pilot, 3)
    ratio = best(changes) / best(baseline)
    assert ratio < REFRESH_RATIO, f"endpoints entering and leaving cost {ratio:.1f}× an empty render"


async def test_a_10000_span_waterfall_costs_about_what_a_small_one_does():
    big, small = build_trace_view(big_trace()), build_trace_view(authorize_trace())
    assert len(big.rows) == 10_000 and len(small.rows) == 12
    app = CritpathApp(MemorySource(empty_report()), interval=None, clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_trace("b" * 32)
        await settle(pilot)
        screen = app.screen
        waterfall = screen.query_one(Waterfall)
        times: dict[str, list[float]] = {"small": [], "big": []}
        keys: dict[str, list[float]] = {"small": [], "big": []}
        for _ in range(ROUNDS):  # interleaved, so load on the machine hits both alike
            for name, view in (("small", small), ("big", big)):
                times[name].append(
                    await timed(pilot, lambda v=view: screen.post_message(TraceLoaded("b" * 32, v)))
                )
                assert len(waterfall.visible_rows) == len(view.rows)
                start = time.perf_counter()
                await pilot.press("pagedown", "pagedown", "down", "c", "end", "home")
                keys[name].append(time.perf_counter() - start)
                # The keys landed: `end` then `home` leave the cursor on the first span.
                assert waterfall.selected is view.rows[0]
    show = best(times["big"]) / best(times["small"])
    move = best(keys["big"]) / best(keys["small"])
    assert show < TRACE_RATIO, f"showing 10,000 spans costs {show:.1f}× showing 12"
    assert move < TRACE_RATIO, f"moving through 10,000 spans costs {move:.1f}× moving through 12"
