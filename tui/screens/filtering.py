"""The `/` filter box of the drill-down screens whose rows can be many (exemplars,
affected endpoints): typed text narrows one table, escape clears it before going back."""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Input


class FilterBox(Screen):
    """A screen with an ``Input#filter`` over one table, ``FILTERED`` (a CSS selector).

    Subclasses compose the input, and show their rows again in :meth:`refilter` (with
    :attr:`filter_text` applied) whenever the text changes.
    """

    FILTERED = "DataTable"
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("escape", "back", "Back"),
    ]

    filter_text = ""

    def refilter(self) -> None:
        """Show the table's rows again with :attr:`filter_text` applied."""
        raise NotImplementedError

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
            self.filter_text = ""
            self.refilter()
            self.query_one(self.FILTERED, DataTable).focus()
        else:
            self.app.action_back()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.refilter()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            event.input.remove_class("-shown")
        self.query_one(self.FILTERED, DataTable).focus()
