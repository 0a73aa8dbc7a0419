"""The service graph is legible: every node and finding read in full at 140×44 (in the
overview, else full screen with ``g``), what is out of view is named, columns follow
call depth, and connection types are drawn as arrows, never spelled out."""

from __future__ import annotations

import pytest

from tests.tui.conftest import SIZE, FixedClock, on_screen, screen_lines, settle, text_of
from tests.tui.fixtures import bank_report, big_report
from tui.app import CritpathApp
from tui.sources import MemorySource
from tui.widgets.graph import KIND_MARKS, GraphPanel, ServiceGraph
from tui.widgets.tables import FindingsTable

pytestmark = pytest.mark.anyio


def node_labels(app) -> list[str]:
    """Each node as its column heads it: kind mark and full name (``▤ sqlite``)."""
    return [
        f"{KIND_MARKS[node.kind]} {node.name}"
        for layer in app.overview.graph.layers
        for node in layer
    ]


async def test_the_bank_graph_and_findings_read_in_full_at_140x44(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = bank_app.screen
        pane = on_screen(bank_app, screen.query_one("#graph-box"))
        labels = node_labels(bank_app)
        assert len(labels) == 7
        missing = [label for label in labels if label not in pane]
        assert not missing, f"cut off or out of view in the graph pane: {missing}\n{pane}"
        header = next(line for line in pane.splitlines() if "depth 0" in line)
        assert all(f"depth {depth}" in header for depth in range(5))
        # Every call shows its p99 (and failures), the user's too: never its connection type.
        assert "━▶ card-processing 1,400ms ✗18" in pane
        assert "─▶ apns.apple.com 380ms ✗39" in pane
        assert "virtual_node" not in "\n".join(screen_lines(bank_app))
        assert not screen.query_one("#graph-more").display  # nothing is out of view

        findings = on_screen(bank_app, screen.query_one(FindingsTable))
        subjects = [finding.subject for finding in bank_app.overview.findings]
        assert "card-processing POST /cards/authorize" in subjects
        assert all(subject in findings for subject in subjects), findings


async def test_the_endpoints_table_takes_the_height_of_its_rows(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = bank_app.screen.query_one("#endpoints")
        assert table.region.height == 1 + 4  # header and the four endpoints
        # The lower panes get the rest: the graph box is the tallest pane.
        assert bank_app.screen.query_one("#graph-box").region.height > SIZE[1] // 2


async def test_g_shows_the_graph_full_screen_and_again_restores_it(bank_app):
    async with bank_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = bank_app.screen
        await pilot.press("g")
        await settle(pilot)
        panel = screen.query_one(GraphPanel)
        assert screen.maximized is panel
        assert screen.focused.id == "graph-box"
        box = screen.query_one("#graph-box")
        assert box.region.width == SIZE[0]
        view = on_screen(bank_app, box)
        assert all(label in view for label in node_labels(bank_app)), view
        assert "virtual_node" not in "\n".join(screen_lines(bank_app))
        await pilot.press("g")
        await settle(pilot)
        assert screen.maximized is None
        assert screen.query_one(FindingsTable).region.height > 0
        await pilot.press("g", "escape")  # escape restores it too
        await settle(pilot)
        assert screen.maximized is None and screen.focused.id == "graph-box"


async def test_columns_out_of_view_are_named_until_scrolled_to(bank_app):
    async with bank_app.run_test(size=(100, 36)) as pilot:
        await settle(pilot)
        screen = bank_app.screen
        hint = screen.query_one("#graph-more")
        assert hint.display
        assert text_of(hint).startswith("more → depth 3–4  (scroll, or g: full screen)")
        box = screen.query_one("#graph-box")
        box.scroll_to(x=box.max_scroll_x, animate=False, immediate=True)
        await settle(pilot)
        assert text_of(hint).startswith("← depth 0  (scroll, or g: full screen)")
        pane = on_screen(bank_app, box)
        assert "▤ sqlite" in pane and "■ enrichment" in pane


async def test_a_call_without_latency_shows_its_target_and_failures_only():
    report = bank_report()
    for edge in report["edges"]:
        if edge["client"] == "user" and edge["server"] == "card-processing":
            edge["p99_ms"] = None
    app = CritpathApp(MemorySource(report), interval=None, clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        lines = text_of(app.screen.query_one(ServiceGraph)).splitlines()
        line = next(line for line in lines if "━▶ card-processing" in line)
        assert "━▶ card-processing ✗18   " in line and "ms" not in line.split("✗18")[0]


def expected_depths(report: dict) -> dict[str, int]:
    """Longest call chain from ``user`` to each service, straight from the report's edges
    (the large report's graph has no cycle)."""
    callers: dict[str, list[str]] = {}
    for edge in report["edges"]:
        callers.setdefault(edge["server"], []).append(edge["client"])
    depth: dict[str, int] = {"user": 0}

    def of(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max(of(caller) for caller in callers[name])
        return depth[name]

    for name in callers:
        of(name)
    return depth


async def test_200_services_each_drawn_in_the_column_of_its_depth():
    report = big_report()
    depths = expected_depths(report)
    app = CritpathApp(MemorySource(report, seconds=300.0), interval=None, clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        graph = app.screen.query_one(ServiceGraph)
        layers = app.overview.graph.layers
        assert app.overview.graph.node_count == 201
        assert len(layers) == max(depths.values()) + 1 == len(graph.columns)
        starts = [start for start, _ in graph.columns]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)
        # Columns never overlap: each one ends (plus a gutter) before the next begins.
        assert all(a[1] < b[0] for a, b in zip(graph.columns, graph.columns[1:]))
        lines = graph.content.plain.split("\n")
        for depth, (start, _) in enumerate(graph.columns):
            assert lines[0][start:].startswith(f"depth {depth}")
        column_of = {}
        for line in lines:
            for depth, (start, end) in enumerate(graph.columns):
                cell = line[start:end].rstrip()
                if cell.startswith(("■ ", "◇ ")):
                    column_of[cell[2:]] = depth
        assert column_of == depths
        # The box scrolls to the deepest column, and the hint names the ones out of view.
        hint = app.screen.query_one("#graph-more")
        assert hint.display and f"–{len(layers) - 1}" in text_of(hint)


async def test_findings_sit_beside_the_graph_when_both_fit(bank_app):
    async with bank_app.run_test(size=(220, 44)) as pilot:
        await settle(pilot)
        screen = bank_app.screen
        findings, box = screen.query_one(FindingsTable), screen.query_one("#graph-box")
        assert box.region.x >= findings.region.right and box.region.y == findings.region.y
        pane = on_screen(bank_app, box)
        assert all(label in pane for label in node_labels(bank_app)), pane
        shown = on_screen(bank_app, findings)
        assert all(finding.subject in shown for finding in bank_app.overview.findings)
