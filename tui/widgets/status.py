"""The connection line every screen shows, and the banner shown while the source is gone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.widgets.text import set_text


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the data comes from and how fresh it is.

    ``state`` is ``connecting`` (no answer yet), ``live`` (polling, last poll answered),
    ``offline`` (trace files), ``lost`` (the source stopped answering; the last data
    stays on screen) or ``error`` (it answered with something unusable).
    ``fetched_at`` is the app clock's time of the data shown, ``None`` before any.
    """

    state: str
    source: str
    window: str
    interval: float | None = None
    fetched_at: float | None = None
    traces: int = 0
    error: str = ""
    source_live: bool = True


def age_text(seconds: float) -> str:
    """A short human age: ``4s``, ``3m 05s``, ``2h 10m``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


class ConnectionBar(Vertical):
    """Connection state and data age on one line; a banner below it when the source is gone.

    The bar follows the app's ``connection`` attribute and re-reads the app clock each
    second so the age stays true between polls.
    """

    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        self._connection: Connection | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="status-line")
        yield Static(id="banner")

    def on_mount(self) -> None:
        self.watch(self.app, "connection", self.show)
        self.set_interval(1.0, self._redraw)

    def show(self, connection: Connection | None) -> None:
        """Display ``connection`` (called whenever the app's connection changes)."""
        self._connection = connection
        self._redraw()

    def _redraw(self) -> None:
        connection = self._connection
        if connection is None:
            return
        age = (
            f"data {age_text(self._clock() - connection.fetched_at)} old"
            if connection.fetched_at is not None
            else "no data yet"
        )
        marks = {
            "live": "● live",
            "offline": "■ files",
            "connecting": "◌ connecting",
            "lost": "✖ disconnected",
            "error": "▲ bad answer",
        }
        label = marks.get(connection.state, connection.state)
        if not connection.source_live and connection.state in ("connecting", "error"):
            # Files are not connected to: they are being analysed, or could not be.
            label = "◌ analysing" if connection.state == "connecting" else "▲ unreadable"
        parts = [label, connection.source]
        if connection.state != "offline":
            parts.append(f"window {connection.window}")
        parts += [f"{connection.traces:,} traces", age]
        # Re-read every second: only a change of length needs the screen laid out again.
        set_text(self.query_one("#status-line", Static), "  ·  ".join(parts))
        for state in marks:
            self.set_class(connection.state == state, f"-{state}")
        banner = self.query_one("#banner", Static)
        if connection.state in ("lost", "error"):
            retry = f" Retrying every {connection.interval:g}s." if connection.interval else ""
            kept = (
                " The data below is the last received." if connection.fetched_at is not None else ""
            )
            if connection.state == "lost":
                what = "Lost the collector"
            elif connection.source_live:
                what = "The collector's answer was unusable"
            else:
                what = "Could not analyse the trace files"
            set_text(banner, f"⚠ {what}: {connection.error}.{kept}{retry}")
        else:
            set_text(banner, "")
