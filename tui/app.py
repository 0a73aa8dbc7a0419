"""The critpath TUI application: owns the source, polls it from a worker, and hands
the shaped report down to the screens through its ``overview`` and ``connection``
attributes."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, get_current_worker

from analyzer.config import DEFAULT_TIMEOUT_KEYS
from tui.messages import OpenEndpoint, OpenFinding, OpenTrace, ReportLoaded, SourceFailed
from tui.model import BASELINES, Overview, build_overview
from tui.screens.endpoint import EndpointScreen
from tui.screens.finding import FindingScreen
from tui.screens.help import HelpScreen
from tui.screens.overview import OverviewScreen
from tui.screens.trace import TraceScreen
from tui.sources import ReportSource, SourceError, SourceUnavailable
from tui.widgets.status import Connection

WINDOWS = ("1m", "5m", "15m", "all")

OUTAGE_TIMEOUT = 365 * 24 * 3600.0
"""A partial-outage warning stays up until the outage changes or ends, not a few seconds."""


class CritpathApp(App[None]):
    """``critpath tui``: the overview first, drill-down screens pushed on top.

    ``interval`` is the polling period of live sources in seconds (``None``: never
    poll); ``clock`` gives the time used for the data's age, so tests can fix it.
    ``timeout_keys`` are the span attributes that declare a timeout, as the local config
    sets them (``[rules] timeout_keys`` / ``extra_timeout_keys`` of ``critpath.toml``,
    ``AnalysisConfig.timeout_keys``): the span details' "timeout used" reads them. By
    default they are those of the source's config when it has one (trace files, merged
    collectors), else the analyzer's defaults.
    """

    CSS_PATH = "app.tcss"
    TITLE = "critpath"
    SUB_TITLE = "critical paths of your users' requests"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("w", "cycle_window", "Window"),
    ]

    overview: reactive[Overview | None] = reactive(None, always_update=True)
    connection: reactive[Connection | None] = reactive(None, always_update=True)

    def __init__(
        self,
        source: ReportSource,
        *,
        window: str = "5m",
        interval: float | None = 2.0,
        clock: Callable[[], float] = time.monotonic,
        timeout_keys: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        if timeout_keys is None:
            config = getattr(source, "config", None)
            timeout_keys = getattr(config, "timeout_keys", DEFAULT_TIMEOUT_KEYS)
        self.timeout_keys: tuple[str, ...] = tuple(timeout_keys)
        self.window = window
        self.interval = interval if source.live else None
        self.clock = clock
        self._poll: Worker[None] | None = None
        self.partial_outage: tuple[str, ...] = ()
        """Why each collector of a merged source left out of the data shown did not answer."""

    def get_default_screen(self) -> Screen:
        return OverviewScreen()

    def on_mount(self) -> None:
        self.connection = Connection(
            state="connecting",
            source=self.source.description,
            window=self.window,
            interval=self.interval,
            source_live=self.source.live,
        )
        self.poll()
        if self.interval:
            self.set_interval(self.interval, self.poll)

    def on_unmount(self) -> None:
        self.source.close()

    def poll(self) -> None:
        """Fetch a report unless a fetch is still under way (a slow source is not piled on)."""
        if self._poll is None or self._poll.is_finished:
            self._poll = self.fetch_report(self.window)

    @work(thread=True, group="report")
    def fetch_report(self, window: str) -> None:
        """Read and shape the report in a thread; the result comes back as a message.

        A report missing keys or holding values of the wrong type is an unusable answer
        (the banner says so), not a reason to close the terminal UI.
        """
        worker = get_current_worker()
        try:
            report = self.source.report(window)
            # A live window is compared with a longer one: that is what tells "got slower".
            compare = BASELINES.get(window) if self.source.live else None
            baseline = self.source.report(compare) if compare else None
            overview = build_overview(report, window, self.source.report_seconds(window), baseline)
        except SourceError as exc:
            message = SourceFailed(str(exc), reachable=not isinstance(exc, SourceUnavailable))
        except (KeyError, TypeError, ValueError) as exc:
            message = SourceFailed(f"malformed report ({exc!r})", reachable=True)
        else:
            message = ReportLoaded(overview, self.clock())
        if not worker.is_cancelled:
            self.post_message(message)

    def on_report_loaded(self, message: ReportLoaded) -> None:
        if message.overview.window != self.window:
            return  # fetched for a window the user has since left
        # Only a merged source (several collectors) can answer while some of its parts don't.
        down = tuple(getattr(self.source, "unreachable", ()))
        self.overview = message.overview
        self.connection = replace(
            self.connection,
            state="live" if self.source.live else "offline",
            source=self._source_text(down),
            window=self.window,
            fetched_at=message.fetched_at,
            traces=message.overview.traces,
            error="",
        )
        self._show_partial_outage(down)

    def on_source_failed(self, message: SourceFailed) -> None:
        # A total outage has its own banner; a partial-outage warning would contradict it.
        self._show_partial_outage(())
        self.connection = replace(
            self.connection,
            state="error" if message.reachable else "lost",
            source=self.source.description,
            error=message.error,
        )

    def _source_text(self, down: tuple[str, ...]) -> str:
        """The status line's source: the description, and how many parts do not answer."""
        if not down:
            return self.source.description
        return f"{self.source.description} ({len(down)} not answering)"

    def _show_partial_outage(self, down: tuple[str, ...]) -> None:
        """Warn, until it changes, that the data shown leaves out the collectors in ``down``.

        The warning names each collector and why it did not answer; it is raised again only
        when that set changes, so polling does not pile up identical warnings.
        """
        if down == self.partial_outage:
            return
        if self.partial_outage:
            self.clear_notifications()
        self.partial_outage = down
        if down:
            retry = f" Retrying every {self.interval:g}s." if self.interval else ""
            self.notify(
                "Not answering: " + "; ".join(down) + ". The data shown is the merged view of "
                "the other collectors." + retry,
                title="Some collectors are not answering",
                severity="error",
                timeout=OUTAGE_TIMEOUT,
                markup=False,
            )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Windows exist only on a live source: trace files are one report over every trace."""
        if action == "cycle_window":
            return self.source.live
        return True

    def action_cycle_window(self) -> None:
        """Show the next collector window (1m, 5m, 15m, all) and fetch it now."""
        self.window = (
            WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]
            if self.window in WINDOWS
            else "5m"
        )
        self.connection = replace(self.connection, window=self.window)
        if self._poll is not None and not self._poll.is_finished:
            self._poll.cancel()
        self._poll = self.fetch_report(self.window)

    def action_help(self) -> None:
        """Show the keys of the current screen and the legend of the marks."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_back(self) -> None:
        """Leave a drill-down screen (the overview stays)."""
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def on_open_endpoint(self, message: OpenEndpoint) -> None:
        self.open_endpoint(message.key)

    def on_open_finding(self, message: OpenFinding) -> None:
        self.open_finding(message.key)

    def on_open_trace(self, message: OpenTrace) -> None:
        self.open_trace(message.trace_id)

    def open_endpoint(self, key: str) -> None:
        """Drill into the endpoint ``"service name"``."""
        self.push_screen(EndpointScreen(key))

    def open_finding(self, key: str) -> None:
        """Drill into a finding."""
        self.push_screen(FindingScreen(key))

    def open_trace(self, trace_id: str) -> None:
        """Open a trace's waterfall."""
        self.push_screen(TraceScreen(trace_id))
