"""The service dependency graph drawn as columns of layers (call depth, left to right).

Under each node its outgoing calls are listed with arrows whose look tells the kind of
edge: ``━▶`` on a critical path, ``─▶`` request/response, ``┄▷`` through a queue, and
``✗n`` for failed requests. Every edge points to a node in a column to its right
unless the graph has a cycle (then the arrow says ``↺``).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer, Vertical
from textual.widgets import Static

from tui.model import GraphEdge, GraphNode, GraphView
from tui.widgets.tables import ms
from tui.widgets.text import set_text

KIND_MARKS = {"service": "■", "database": "▤", "messaging": "≋", "virtual": "◇"}
GUTTER = 3
"""Blank cells between two depth columns (each column is as wide as its longest line)."""

LEGEND = "Service graph (p99 per call)  ━▶ critical  ─▶ call  ┄▷ queue  ✗ failed"


class ServiceGraph(Static):
    """Renders a :class:`GraphView`; the stylesheet sets the look of each mark.

    Columns are laid out by hand (one ``Text`` line per terminal row) rather than with
    a Rich table, which would measure every cell again on each refresh of a large graph.
    """

    COMPONENT_CLASSES = {
        "graph--layer",
        "graph--node",
        "graph--peer",
        "graph--edge",
        "graph--critical",
        "graph--async",
        "graph--error",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._graph: GraphView | None = None
        self.columns: tuple[tuple[int, int], ...] = ()
        """Where each depth column is drawn: ``(first cell, end)``, left to right."""

    @property
    def content_width(self) -> int:
        """Cells the whole graph needs to be seen without scrolling."""
        return self.columns[-1][1] if self.columns else 0

    def show(self, graph: GraphView) -> None:
        """Draw ``graph`` (nothing to do when it did not change since the last refresh)."""
        if graph == self._graph:
            return
        self._graph = graph
        if not graph.layers:
            self.columns = ()
            self.update("No services yet.")
            return
        layer_of = {node.name: node.layer for layer in graph.layers for node in layer}
        header = self.get_component_rich_style("graph--layer", partial=True)
        columns = [
            [Text(f"depth {index}", style=header), *self._column(layer, layer_of)]
            for index, layer in enumerate(graph.layers)
        ]
        widths = [max(line.cell_len for line in column) for column in columns]
        starts = [sum(widths[:index]) + GUTTER * index for index in range(len(widths))]
        self.columns = tuple(
            (start, start + width) for start, width in zip(starts, widths, strict=True)
        )
        lines = []
        for row in range(max(len(column) for column in columns)):
            line = Text(no_wrap=True, end="")
            for column, width in zip(columns, widths, strict=True):
                cell = column[row] if row < len(column) else Text()
                line.append_text(cell)
                line.append(" " * (width - cell.cell_len + GUTTER))
            line.rstrip()
            lines.append(line)
        self.update(Text("\n", no_wrap=True).join(lines))

    def _column(self, nodes: tuple[GraphNode, ...], layer_of: dict[str, int]) -> list[Text]:
        lines: list[Text] = []
        for node in nodes:
            style = "graph--node" if node.kind == "service" else "graph--peer"
            lines.append(
                Text(
                    f"{KIND_MARKS.get(node.kind, '■')} {node.name}",
                    style=self.get_component_rich_style(style, partial=True),
                )
            )
            lines.extend(
                self._edge(edge, backwards=layer_of[edge.server] <= node.layer)
                for edge in node.edges
            )
            lines.append(Text())
        return lines[:-1]

    def _edge(self, edge: GraphEdge, backwards: bool) -> Text:
        if edge.critical:
            arrow, style = "━▶", "graph--critical"
        elif edge.is_async:
            arrow, style = "┄▷", "graph--async"
        else:
            arrow, style = "─▶", "graph--edge"
        line = Text("  ")
        line.append(
            f"{arrow} {'↺ ' if backwards else ''}{edge.server}",
            style=self.get_component_rich_style(style, partial=True),
        )
        # The connection type is drawn by the arrow, never spelled out: a call shows its
        # p99 when it has one (a virtual peer's may not), a queue edge says so.
        if edge.is_async:
            line.append(" (queue)")
        elif edge.p99_ms > 0:
            line.append(f" {ms(edge.p99_ms)}ms")
        if edge.failed:
            line.append(
                f" ✗{edge.failed:,}",
                style=self.get_component_rich_style("graph--error", partial=True),
            )
        return line


class GraphPanel(Vertical):
    """The graph under its legend, scrolling both ways, and a hint naming the depth
    columns that are out of view (``g`` shows the panel full screen)."""

    ALLOW_MAXIMIZE = True

    def compose(self) -> ComposeResult:
        yield Static(LEGEND, classes="title")
        with ScrollableContainer(id="graph-box"):
            yield ServiceGraph(id="graph")
        yield Static(id="graph-more")

    def on_mount(self) -> None:
        box = self.query_one("#graph-box", ScrollableContainer)
        self.watch(box, "scroll_x", self._scrolled, init=False)

    def show(self, graph: GraphView) -> None:
        """Draw ``graph`` and say, once it is laid out, what is out of view."""
        self.query_one(ServiceGraph).show(graph)
        self.call_after_refresh(self.update_hint)

    def on_resize(self) -> None:
        self.call_after_refresh(self.update_hint)

    def _scrolled(self, _old: float, _new: float) -> None:
        self.update_hint()

    @property
    def hidden_depths(self) -> tuple[list[int], list[int]]:
        """The depth columns cut off on the left and on the right of the view."""
        box = self.query_one("#graph-box", ScrollableContainer)
        left = round(box.scroll_x)
        right = left + box.scrollable_content_region.width
        columns = self.query_one(ServiceGraph).columns
        before = [depth for depth, (start, _) in enumerate(columns) if start < left]
        after = [depth for depth, (_, end) in enumerate(columns) if end > right]
        return before, after

    def update_hint(self) -> None:
        """Show which depths are out of view, or nothing when the whole width is."""
        before, after = self.hidden_depths
        hint = self.query_one("#graph-more", Static)
        parts = []
        if before:
            parts.append(f"← depth {_span(before)}")
        if after:
            parts.append(f"more → depth {_span(after)}")
        if parts:
            maximized = self.screen.maximized is self
            how = "scroll" if maximized else "scroll, or g: full screen"
            set_text(hint, f"{'  ·  '.join(parts)}  ({how})")
        hint.set_class(bool(parts), "-shown")


def _span(depths: list[int]) -> str:
    return str(depths[0]) if len(depths) == 1 else f"{depths[0]}–{depths[-1]}"
