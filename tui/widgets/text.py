"""Updating a line of text without making the whole screen lay itself out again."""

from __future__ import annotations

from textual.widgets import Static


def set_text(static: Static, text: str) -> None:
    """Show ``text`` in ``static``: nothing when it is unchanged, and no layout pass when
    it is as long as before (it then wraps to the same height).

    ``Static.update`` lays the whole screen out again by default; on a live overview of a
    large estate that is a repaint of every widget, on each refresh and on each tick of
    the status line's age.
    """
    old = static.content
    if isinstance(old, str) and old == text:
        return
    static.update(text, layout=not isinstance(old, str) or len(old) != len(text))
