"""One finding: what is wrong, the numbers behind it, where it hurts, and what to change."""

from __future__ import annotations

import json

from rich.style import Style
from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Input, Static

from tui.messages import OpenEndpoint
from tui.model import FindingRow, Overview, matches
from tui.screens.filtering import FilterBox
from tui.widgets.status import ConnectionBar
from tui.widgets.tables import EndpointsTable


class FindingScreen(FilterBox):
    """A finding's evidence and suggested change; enter on an affected endpoint opens it;
    `/` filters the affected endpoints by name or the services on their critical path."""

    AUTO_FOCUS = "#affected"
    FILTERED = "#affected"
    COMPONENT_CLASSES = {"finding--label"}
    BINDINGS = [
        Binding("enter", "open", "Open endpoint"),
        Binding("tab", "app.focus_next", "Next pane"),
    ]

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.finding: FindingRow | None = None
        self._overview: Overview | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBar(self.app.clock, id="connection")
        yield Input(
            placeholder="filter affected endpoints…  (enter: keep, escape: clear)", id="filter"
        )
        with VerticalScroll(id="finding-body"):
            yield Static(id="finding-title", classes="heading")
            yield Static(id="finding-message")
            yield Static("Suggested change", classes="title")
            yield Static(id="finding-suggestion")
            yield Static("Evidence", classes="title")
            yield Static(id="finding-evidence")
            yield Static("Affected endpoints (enter to open)", id="affected-title", classes="title")
            yield EndpointsTable(id="affected")
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "overview", self.show)
        self.query_one(EndpointsTable).focus()

    def show(self, overview: Overview | None) -> None:
        """Show the finding as the latest report has it (kept as last seen if it went away)."""
        finding = overview.finding(self.key) if overview else None
        if finding is not None:
            self.finding = finding
        finding = self.finding
        if finding is None or overview is None:
            return
        gone = "" if overview.finding(self.key) else "   (no longer reported)"
        for severity in ("critical", "warning", "info"):
            self.set_class(finding.severity == severity, f"-{severity}")
        self.query_one("#finding-title", Static).update(
            f"{finding.severity.upper()}  {finding.rule}  {finding.subject}{gone}"
        )
        self.query_one("#finding-message", Static).update(finding.message)
        self.query_one("#finding-suggestion", Static).update(finding.suggestion)
        self.query_one("#finding-evidence", Static).update(
            evidence_table(finding, self.get_component_rich_style("finding--label", partial=True))
        )
        self._overview = overview
        self.refilter()

    def refilter(self) -> None:
        """Show the affected endpoints the filter keeps (all of them without one)."""
        finding, overview = self.finding, self._overview
        if finding is None or overview is None:
            return
        rows = [row for key in finding.affected if (row := overview.endpoint(key)) is not None]
        text = self.filter_text
        shown = [row for row in rows if matches(text, row.key, *(s.name for s in row.profile))]
        title = "Affected endpoints (enter to open)"
        if text:
            title += f" · {len(shown)} of {len(rows)} · filter “{text}”"
        self.query_one("#affected-title", Static).update(title)
        self.query_one(EndpointsTable).show(shown)

    def action_open(self) -> None:
        """Open the affected endpoint under the cursor."""
        key = self.query_one(EndpointsTable).selected_key
        if key:
            self.post_message(OpenEndpoint(key))

    @on(DataTable.RowSelected, "#affected")
    def _affected_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(OpenEndpoint(event.row_key.value))


def evidence_table(finding: FindingRow, label: Style | str = "") -> Table:
    """The evidence as ``key  value`` lines, plus the finding's subject fields; ``label`` is
    the style of the keys (the stylesheet's ``finding--label``)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style=label, no_wrap=True)
    table.add_column()
    for label in ("client", "server", "endpoint", "service"):
        value = getattr(finding, label)
        if value:
            table.add_row(label, value)
    for key, value in finding.evidence.items():
        table.add_row(key, value if isinstance(value, str) else json.dumps(value))
    return table
