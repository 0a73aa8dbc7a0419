"""The service dependency graph drawn as columns of layers (call depth, left to right).

Under each node its outgoing calls are listed with arrows whose look tells the kind of
edge: ``━▶`` on a critical path, ``─▶`` request/response, ``┄▷`` through a queue, and
``✗n`` for failed requests. Every edge points to a node in a column to its right
unless the graph has a cycle (then the arrow says ``↺``).
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui.model import GraphEdge, GraphNode, GraphView
from tui.widgets.tables import ms

KIND_MARKS = {"service": "■", "database": "▤", "messaging": "≋", "virtual": "◇"}


class ServiceGraph(Static):
    """Renders a :class:`GraphView`; the stylesheet sets the look of each mark."""

    COMPONENT_CLASSES = {
        "graph--layer", "graph--node", "graph--peer", "graph--edge",
        "graph--critical", "graph--async", "graph--error",
    }

    def show(self, graph: GraphView) -> None:
        """Draw ``graph``."""
        if not graph.layers:
            self.update("No services yet.")
            return
        table = Table.grid(padding=(0, 3))
        for _ in graph.layers:
            table.add_column(no_wrap=True)
        layer_of = {node.name: node.layer for layer in graph.layers for node in layer}
        header = self.get_component_rich_style("graph--layer", partial=True)
        table.add_row(*(Text(f"depth {n}", style=header) for n in range(len(graph.layers))))
        table.add_row(*(self._column(layer, layer_of) for layer in graph.layers))
        self.update(table)

    def _column(self, nodes: tuple[GraphNode, ...], layer_of: dict[str, int]) -> Text:
        text = Text()
        for node in nodes:
            style = "graph--node" if node.kind == "service" else "graph--peer"
            text.append(f"{KIND_MARKS.get(node.kind, '■')} {node.name}\n",
                        style=self.get_component_rich_style(style, partial=True))
            for edge in node.edges:
                text.append_text(self._edge(edge, backwards=layer_of[edge.server] <= node.layer))
            text.append("\n")
        text.rstrip()
        return text

    def _edge(self, edge: GraphEdge, backwards: bool) -> Text:
        if edge.critical:
            arrow, style = "━▶", "graph--critical"
        elif edge.is_async:
            arrow, style = "┄▷", "graph--async"
        else:
            arrow, style = "─▶", "graph--edge"
        line = Text("  ")
        line.append(f"{arrow} {'↺ ' if backwards else ''}{edge.server}",
                    style=self.get_component_rich_style(style, partial=True))
        detail = f" {edge.connection_type}" if edge.is_async else f" p99 {ms(edge.p99_ms)}ms"
        line.append(detail)
        if edge.failed:
            line.append(f" ✗{edge.failed:,}", style=self.get_component_rich_style("graph--error", partial=True))
        line.append("\n")
        return line
