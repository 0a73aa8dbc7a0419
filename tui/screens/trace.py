"""One trace as a waterfall, with the selected span's details beside it."""

from __future__ import annotations

import json

from rich.style import Style
from rich.table import Table
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static
from textual.worker import get_current_worker

from tui.messages import LoadFailed, TraceLoaded
from tui.model import SpanRow, build_trace_view
from tui.sources import SourceError
from tui.widgets.status import ConnectionBar
from tui.widgets.tables import ms
from tui.widgets.waterfall import Waterfall


class TraceScreen(Screen):
    """The span tree of one trace; critical-path segments stand out in the bars."""

    AUTO_FOCUS = "#waterfall"
    COMPONENT_CLASSES = {"trace--label"}
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter"),
        Binding("tab", "app.focus_next", "Next pane"),
    ]

    def __init__(self, trace_id: str) -> None:
        super().__init__()
        self.trace_id = trace_id

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBar(self.app.clock, id="connection")
        yield Static(f"Trace {self.trace_id} (loading…)", id="trace-title", classes="heading")
        yield Input(
            placeholder="filter spans by service or name…  (enter: keep, escape: clear)",
            id="filter",
        )
        with Horizontal(id="trace-body"):
            yield Waterfall(id="waterfall")
            with VerticalScroll(id="span-box"):
                yield Static(id="span-details")
        yield Footer()

    def on_mount(self) -> None:
        self.load_trace()

    @work(thread=True, exclusive=True, group="trace")
    def load_trace(self) -> None:
        """Fetch and lay out the trace off the event loop."""
        worker = get_current_worker()
        try:
            doc = self.app.source.trace(self.trace_id)
            view = None if doc is None else build_trace_view(doc, self.app.timeout_keys)
        except SourceError as exc:
            if not worker.is_cancelled:
                self.post_message(LoadFailed(str(exc)))
            return
        except (KeyError, TypeError, ValueError) as exc:
            if not worker.is_cancelled:
                self.post_message(LoadFailed(f"malformed trace document ({exc!r})"))
            return
        if not worker.is_cancelled:
            self.post_message(TraceLoaded(self.trace_id, view))

    def on_trace_loaded(self, message: TraceLoaded) -> None:
        title = self.query_one("#trace-title", Static)
        view = message.view
        if view is None:
            title.update(f"Trace {self.trace_id} is no longer held by the source.")
            return
        title.update(
            f"{view.endpoint}   trace {view.trace_id} · {ms(view.duration_ns / 1e6)} ms · "
            f"{len(view.rows):,} spans · {view.critical_count:,} on the critical path"
            f" · depth {view.depth}"
        )
        self.query_one(Waterfall).show(view, self.query_one("#filter", Input).value)

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#trace-title", Static).update(f"Trace {self.trace_id}: {message.error}")

    @on(Waterfall.Highlighted)
    def _span_highlighted(self, event: Waterfall.Highlighted) -> None:
        label = self.get_component_rich_style("trace--label", partial=True)
        self.query_one("#span-details", Static).update(
            span_details(event.row, label) if event.row else ""
        )

    def action_filter(self) -> None:
        """Show the filter box and type into it."""
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    def action_back(self) -> None:
        """Clear an open filter first; otherwise go back."""
        box = self.query_one("#filter", Input)
        if box.has_class("-shown"):
            box.value = ""
            box.remove_class("-shown")
            self.query_one(Waterfall).focus()
        else:
            self.app.action_back()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(Waterfall).set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.query_one(Waterfall).focus()


def span_details(row: SpanRow, label: Style | str = "") -> Table:
    """The selected span as a two-column table: what it is, then its attributes; ``label``
    is the style of the left column (the stylesheet's ``trace--label``)."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style=label, no_wrap=True)
    table.add_column()
    timeout = "none declared" if row.timeout_ms is None else f"{ms(row.timeout_ms)} ms"
    for label, value in (
        ("service", row.service),
        ("name", row.name),
        ("kind", row.kind),
        ("status", row.status),
        ("duration", f"{ms(row.duration_ms)} ms"),
        ("starts at", f"+{ms(row.start / 1e6)} ms"),
        ("critical path", f"{ms(row.critical_ms)} ms" if row.segments else "not on it"),
        ("timeout used", timeout),
        ("service depth", "—" if row.service_depth is None else str(row.service_depth)),
        ("span id", row.span_id),
    ):
        table.add_row(label, value)
    if row.attributes:
        table.add_row("", "")
        table.add_row("attributes", "")
        for key in sorted(row.attributes):
            value = row.attributes[key]
            table.add_row(f"  {key}", value if isinstance(value, str) else json.dumps(value))
    return table
