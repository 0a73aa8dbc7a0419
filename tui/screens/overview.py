"""The overview: endpoints, findings worst first, and the service graph."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from tui.messages import OpenEndpoint, OpenFinding
from tui.model import SORT_KEYS, Overview, matches, sort_endpoints
from tui.widgets.graph import GraphPanel, ServiceGraph
from tui.widgets.status import ConnectionBar
from tui.widgets.tables import EndpointsTable, FindingsTable
from tui.widgets.text import set_text

COLUMN_SORT = {
    "rate": "rate",
    "errors": "errors",
    "p50": "p50",
    "p99": "p99",
    "change": "change",
    "depth": "depth",
    "endpoint": "name",
}
"""Which sort a click on an endpoints column header selects."""


class OverviewScreen(Screen):
    """What is on the critical path of each journey, what fails, and what to fix first."""

    AUTO_FOCUS = "#endpoints"
    ALLOW_IN_MAXIMIZED_VIEW = "Header, Footer"
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("tab", "app.focus_next", "Next pane"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("r", "reverse", "Reverse"),
        Binding("e", "focus('endpoints')", "Endpoints"),
        Binding("f", "focus('findings')", "Findings"),
        Binding("g", "graph", "Full graph"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort_key = "p99"
        self.sort_reverse = False
        self.filter_text = ""
        self._overview: Overview | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBar(self.app.clock, id="connection")
        yield Input(
            placeholder="filter endpoints, findings and services…  (enter: keep, escape: clear)",
            id="filter",
        )
        # Endpoints get the full width: the top critical-path service is the last column.
        with Vertical(id="endpoints-box"):
            yield Static(id="endpoints-title", classes="title")
            yield EndpointsTable(id="endpoints")
        with Horizontal(id="lower"):
            with Vertical(id="findings-box"):
                yield Static("Findings, worst first", classes="title")
                yield FindingsTable(id="findings")
            yield GraphPanel(id="graph-panel")
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "overview", self.show)

    def show(self, overview: Overview | None) -> None:
        """Display ``overview`` with the current sort and filter (called on every refresh)."""
        self._overview = overview
        if overview is None:
            self.query_one("#endpoints-title", Static).update(
                "Endpoints (waiting for the first report)"
            )
            return
        self._show_tables()
        self.query_one(GraphPanel).show(overview.graph)
        self.call_after_refresh(self._arrange)

    def on_resize(self) -> None:
        self.call_after_refresh(self._arrange)

    def _arrange(self) -> None:
        """Findings beside the graph when both fit side by side at their natural widths,
        else one above the other, each the full width: the findings' subjects and the
        graph's deepest columns are then cut only when the terminal is too narrow for them.
        """
        findings = self.query_one(FindingsTable)
        graph = self.query_one(ServiceGraph)
        # Each pane adds a scrollbar; the graph's box adds its border too.
        needed = findings.virtual_size.width + 2 + graph.content_width + 4
        self.query_one("#lower").set_class(needed > self.size.width, "-stacked")

    def _show_tables(self) -> None:
        overview = self._overview
        if overview is None:
            return
        text = self.filter_text
        rows = [
            row
            for row in overview.endpoints
            if matches(text, row.key, *(s.name for s in row.profile))
        ]
        rows = sort_endpoints(rows, self.sort_key, self.sort_reverse)
        direction = "ascending" if self.sort_reverse else "descending"
        if self.sort_key == "name":
            direction = "Z→A" if self.sort_reverse else "A→Z"
        shown = f"{len(rows)} of {len(overview.endpoints)}" if text else f"{len(rows)}"
        set_text(
            self.query_one("#endpoints-title", Static),
            f"Endpoints ({shown}) by {self.sort_key} {direction}"
            + (f" · filter “{text}”" if text else ""),
        )
        self.query_one(EndpointsTable).show(rows)
        findings = [
            f for f in overview.findings if matches(text, f.rule, f.subject, f.message, *f.affected)
        ]
        self.query_one(FindingsTable).show(findings)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``enter`` opens a row only from a table (the graph has no rows to open)."""
        if action == "open":
            return isinstance(self.focused, EndpointsTable | FindingsTable)
        return True

    def action_open(self) -> None:
        """Drill into the endpoint or finding under the cursor of the focused table."""
        focused = self.focused
        if isinstance(focused, EndpointsTable) and focused.selected_key:
            self.post_message(OpenEndpoint(focused.selected_key))
        elif isinstance(focused, FindingsTable) and focused.selected_key:
            self.post_message(OpenFinding(focused.selected_key))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        # Enter and a click on a highlighted row both land here.
        event.stop()
        key = event.row_key.value
        if isinstance(event.data_table, EndpointsTable):
            self.post_message(OpenEndpoint(key))
        elif isinstance(event.data_table, FindingsTable):
            self.post_message(OpenFinding(key))

    @on(DataTable.HeaderSelected, "#endpoints")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = COLUMN_SORT.get(str(event.column_key.value))
        if key is None:
            return
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, False
        self._show_tables()

    def action_sort(self) -> None:
        """Cycle the endpoints' sort order through p99, change, rate, errors, depth, p50, name."""
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self.sort_reverse = False
        self._show_tables()

    def action_reverse(self) -> None:
        """Reverse the endpoints' sort order."""
        self.sort_reverse = not self.sort_reverse
        self._show_tables()

    def action_graph(self) -> None:
        """Show the graph full screen, with the focus on it to scroll (again: restore)."""
        panel = self.query_one(GraphPanel)
        if self.maximized is panel:
            self.minimize()
        else:
            self.query_one("#graph-box").focus()
            self.maximize(panel, container=False)
        self.call_after_refresh(panel.update_hint)

    def action_focus(self, widget_id: str) -> None:
        """Move the focus to a pane."""
        self.query_one(f"#{widget_id}").focus()

    def action_filter(self) -> None:
        """Show the filter box and type into it."""
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    def action_clear_filter(self) -> None:
        """Drop the filter and hide its box."""
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.query_one(EndpointsTable).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._show_tables()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            event.input.remove_class("-shown")
        self.query_one(EndpointsTable).focus()
