"""The help overlay: the keys of the screen below it, and what the marks mean."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

LEGEND = (
    ("━▶", "a call on some endpoint's critical path"),
    ("─▶", "a request/response call"),
    ("┄▷", "an asynchronous call through a queue"),
    ("✗n", "n failed requests on that edge"),
    ("■ ▤ ≋ ◇", "service, database, messaging system, virtual peer"),
    ("█", "waterfall: time the span owns on the critical path"),
    ("─", "waterfall: time the span runs off the critical path"),
    ("● ▲ ○", "finding severity: critical, warning, info"),
)

GLOBAL_KEYS = (
    ("?", "this help"),
    ("q", "quit"),
    ("w", "change the collector window (live mode)"),
    ("tab", "next pane"),
    ("enter", "open the selected row"),
    ("escape", "back"),
)


class HelpScreen(ModalScreen[None]):
    """Lists the keys of ``below`` (the screen help was asked on) and the legend.

    The keys are those its footer shows (the focused widget's, the screen's, including
    those it inherits, and the app's), after the keys that work everywhere.
    """

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]
    COMPONENT_CLASSES = {"help--key"}

    def __init__(self, below: Screen) -> None:
        super().__init__()
        self._below = below

    def compose(self) -> ComposeResult:
        bold = self.get_component_rich_style("help--key", partial=True)
        keys = Table(title="Keys", title_justify="left", box=None, show_header=False)
        keys.add_column(style=bold, no_wrap=True)
        keys.add_column()
        listed = set()
        for key, text in GLOBAL_KEYS:
            if key != "w" or self.app.source.live:
                keys.add_row(key, text)
                listed.add(key)
        for active in self._below.active_bindings.values():
            binding = active.binding
            key = binding.key_display or binding.key.replace("slash", "/")
            if binding.show and key not in listed:
                keys.add_row(key, binding.description)
                listed.add(key)
        legend = Table(title="Marks", title_justify="left", box=None, show_header=False)
        legend.add_column(style=bold, no_wrap=True)
        legend.add_column()
        for mark, text in LEGEND:
            legend.add_row(mark, text)
        with VerticalScroll(id="help-box"):
            yield Static(keys)
            yield Static(legend)
            yield Static("escape or ? closes this help", classes="title")
