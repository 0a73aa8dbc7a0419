"""One endpoint: its critical-path profile, depth distribution and exemplar traces."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import get_current_worker

from tui.messages import EndpointLoaded, LoadFailed, OpenTrace
from tui.model import EndpointRow, Exemplar, Overview, build_endpoint_detail, matches
from tui.screens.filtering import FilterBox
from tui.sources import SourceError
from tui.widgets.bars import DepthBars, ProfileBars
from tui.widgets.status import ConnectionBar
from tui.widgets.tables import ExemplarsTable, ms


class EndpointScreen(FilterBox):
    """Where an endpoint's time goes; enter on an exemplar opens its waterfall; `/` filters
    the exemplars by trace id or result."""

    AUTO_FOCUS = "#exemplars"
    FILTERED = "#exemplars"
    BINDINGS = [
        Binding("enter", "open", "Open trace"),
        Binding("tab", "app.focus_next", "Next pane"),
    ]

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.row: EndpointRow | None = None
        self._exemplars: tuple[Exemplar, ...] = ()

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBar(self.app.clock, id="connection")
        yield Static(id="endpoint-title", classes="heading")
        yield Input(
            placeholder="filter exemplar traces by id or result…  (enter: keep, escape: clear)",
            id="filter",
        )
        with VerticalScroll(id="endpoint-body"):
            yield Static("Critical-path profile", classes="title")
            yield ProfileBars(id="profile")
            with Horizontal(id="endpoint-lower"):
                with Vertical(id="depths-box"):
                    yield Static("Critical-path depth", classes="title")
                    yield DepthBars(id="depths")
                with Vertical(id="exemplars-box"):
                    yield Static(
                        "Exemplar traces (enter to open)", id="exemplars-title", classes="title"
                    )
                    yield ExemplarsTable(id="exemplars")
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "overview", self.show)

    def show(self, overview: Overview | None) -> None:
        """Show the endpoint's row from the latest report and, when on top, reload its traces.

        An endpoint that left the report (a quiet window) keeps its last numbers on screen.
        """
        row = overview.endpoint(self.key) if overview else None
        title = self.query_one("#endpoint-title", Static)
        if row is None:
            title.update(f"{self.key} — not in the current report")
            return
        self.row = row
        rate = "—" if row.rate is None else f"{row.rate:,.1f}/s"
        title.update(
            f"{row.key}   {row.traces:,} traces · {rate}"
            f" · {row.errors:,} errors ({row.error_ratio:.1%})"
            f" · p50 {ms(row.p50_ms)} ms · p99 {ms(row.p99_ms)} ms"
            f" · depth p50 {row.depth_p50:g} max {row.depth_max}"
        )
        self.query_one(ProfileBars).show(row.profile)
        if self.is_current:
            self.load_detail(row.service, row.name)

    def on_screen_resume(self) -> None:
        # Shown for the first time, or back from a trace: the exemplars may have moved on.
        if self.row is not None:
            self.load_detail(self.row.service, self.row.name)
        else:
            service, _, name = self.key.partition(" ")
            self.load_detail(service, name)

    @work(thread=True, exclusive=True, group="endpoint")
    def load_detail(self, service: str, name: str) -> None:
        """Fetch depth counts (over the overview's window) and exemplars off the event loop."""
        worker = get_current_worker()
        window = self.app.window
        try:
            detail = build_endpoint_detail(
                self.key, self.app.source.endpoint(service, name, window)
            )
        except SourceError as exc:
            if not worker.is_cancelled:
                self.post_message(LoadFailed(str(exc)))
            return
        except (KeyError, TypeError, ValueError) as exc:
            if not worker.is_cancelled:
                self.post_message(LoadFailed(f"malformed endpoint detail ({exc!r})"))
            return
        if not worker.is_cancelled:
            self.post_message(EndpointLoaded(detail))

    def on_endpoint_loaded(self, message: EndpointLoaded) -> None:
        row = self.row
        if row is not None:
            self.query_one(DepthBars).show(message.detail.depths, row.depth_p50, row.depth_max)
        self._exemplars = message.detail.exemplars
        self.refilter()

    def refilter(self) -> None:
        """Show the exemplars the filter keeps (all of them without one)."""
        text = self.filter_text
        shown = [
            e for e in self._exemplars if matches(text, e.trace_id, "error" if e.error else "ok")
        ]
        title = "Exemplar traces (enter to open)"
        if text:
            title += f" · {len(shown)} of {len(self._exemplars)} · filter “{text}”"
        self.query_one("#exemplars-title", Static).update(title)
        self.query_one(ExemplarsTable).show(shown)

    def on_load_failed(self, message: LoadFailed) -> None:
        self.notify(message.error, title="Could not load the endpoint's traces", severity="warning")

    def action_open(self) -> None:
        """Open the exemplar under the cursor."""
        key = self.query_one(ExemplarsTable).selected_key
        if key:
            self.post_message(OpenTrace(key))

    @on(DataTable.RowSelected, "#exemplars")
    def _exemplar_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(OpenTrace(event.row_key.value))
