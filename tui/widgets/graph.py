"""The service dependency graph drawn as columns of layers (call depth, left to right).

Under each node its outgoing calls are listed with arrows whose look tells the kind of
edge: ``━▶`` on a critical path, ``─▶`` request/response, ``┄▷`` through a queue, and
``✗n`` for failed requests. Every edge points to a node in a column to its right
unless the graph has a cycle (then the arrow says ``↺``).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.model import GraphEdge, GraphNode, GraphView
from tui.widgets.tables import ms

KIND_MARKS = {"service": "■", "database": "▤", "messaging": "≋", "virtual": "◇"}
GUTTER = 3


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

    def show(self, graph: GraphView) -> None:
        """Draw ``graph`` (nothing to do when it did not change since the last refresh)."""
        if graph == self._graph:
            return
        self._graph = graph
        if not graph.layers:
            self.update("No services yet.")
            return
        layer_of = {node.name: node.layer for layer in graph.layers for node in layer}
        header = self.get_component_rich_style("graph--layer", partial=True)
        columns = [
            [Text(f"depth {index}", style=header), *self._column(layer, layer_of)]
            for index, layer in enumerate(graph.layers)
        ]
        widths = [max(line.cell_len for line in column) for column in columns]
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
        line.append(" (queue)" if edge.is_async else f" {ms(edge.p99_ms)}ms")
        if edge.failed:
            line.append(
                f" ✗{edge.failed:,}",
                style=self.get_component_rich_style("graph--error", partial=True),
            )
        return line
