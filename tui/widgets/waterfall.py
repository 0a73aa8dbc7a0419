"""A trace's waterfall: one line per span in tree order, drawn with the Line API so a
10,000-span trace costs no more to show than the lines on screen.

Each line has the span's name indented by tree depth, its duration, and a bar on the
trace's timeline: ``─`` where the span runs, ``█`` where it owns the critical path.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.model import SpanRow, TraceView, matches
from tui.widgets.tables import ms

LABEL_WIDTH = 46
DURATION_WIDTH = 10
MIN_BAR_WIDTH = 12
MAX_INDENT = 12


class Waterfall(ScrollView, can_focus=True):
    """Span rows with a cursor; posts :class:`Waterfall.Highlighted` as the cursor moves."""

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("c", "next_critical", "Next on critical path"),
    ]
    COMPONENT_CLASSES = {
        "waterfall--cursor",
        "waterfall--critical",
        "waterfall--span",
        "waterfall--track",
        "waterfall--error",
        "waterfall--label-critical",
        "waterfall--service",
    }

    cursor: reactive[int] = reactive(0, always_update=True)

    class Highlighted(Message):
        """The span under the cursor changed (``row`` is ``None`` when nothing is shown)."""

        def __init__(self, row: SpanRow | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._view: TraceView | None = None
        self._visible: list[int] = []

    @property
    def visible_rows(self) -> list[SpanRow]:
        """The rows the current filter lets through, in order."""
        rows = self._view.rows if self._view else ()
        return [rows[i] for i in self._visible]

    @property
    def selected(self) -> SpanRow | None:
        """The span under the cursor."""
        if not self._view or not self._visible:
            return None
        return self._view.rows[self._visible[self.cursor]]

    def show(self, view: TraceView, filter_text: str = "") -> None:
        """Display ``view``, keeping only spans whose service or name contains ``filter_text``."""
        self._view = view
        self.set_filter(filter_text)

    def set_filter(self, text: str) -> None:
        """Filter the rows; the cursor stays on the same span when it still shows."""
        if self._view is None:
            return
        keep = self.selected
        rows = self._view.rows
        self._visible = [i for i, row in enumerate(rows) if matches(text, row.service, row.name)]
        self.virtual_size = Size(0, len(self._visible))
        ids = [rows[i].span_id for i in self._visible]
        self.cursor = ids.index(keep.span_id) if keep and keep.span_id in ids else 0
        self.refresh()

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._visible) - 1)) if self._visible else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self.scroll_to_region(Region(0, new, 1, 1), animate=False, force=True)
        self.refresh()
        self.post_message(self.Highlighted(self.selected))

    def action_move(self, delta: int) -> None:
        """Move the cursor by ``delta`` lines."""
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        """Move the cursor a screenful up (-1) or down (1)."""
        self.cursor += direction * max(1, self.scrollable_content_region.height - 1)

    def action_jump(self, index: int) -> None:
        """Move the cursor to line ``index`` (-1: the last)."""
        self.cursor = index if index >= 0 else len(self._visible) - 1

    def action_next_critical(self) -> None:
        """Move to the next span that owns part of the critical path (wrapping around)."""
        rows = self.visible_rows
        for step in range(1, len(rows) + 1):
            index = (self.cursor + step) % len(rows)
            if rows[index].segments:
                self.cursor = index
                return

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None:
            self.cursor = offset.y + self.scroll_offset.y

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        if self._view is None or index >= len(self._visible):
            return Strip.blank(width, self.rich_style)
        row = self._view.rows[self._visible[index]]
        base = self.rich_style
        if index == self.cursor:
            # The cursor's background goes under every segment, so it shows through the bar.
            base = base + self.get_component_rich_style(
                "waterfall--cursor", partial=not self.has_focus
            )
        return (
            Strip(self._line(row, width, base), width)
            .extend_cell_length(width, base)
            .crop(0, width)
        )

    def _line(self, row: SpanRow, width: int, base: Style) -> list[Segment]:
        style = self.get_component_rich_style
        critical = bool(row.segments)
        indent = "  " * min(row.indent, MAX_INDENT)
        service = f"{row.service} "
        label = (indent + service + row.name)[: LABEL_WIDTH - 1].ljust(LABEL_WIDTH)
        cut = min(len(indent) + len(service), LABEL_WIDTH)
        name_style = base + style("waterfall--label-critical", partial=True) if critical else base
        duration_style = (
            base + style("waterfall--error", partial=True) if row.status == "error" else base
        )
        segments = [
            Segment(label[: len(indent)], base),
            Segment(label[len(indent) : cut], base + style("waterfall--service", partial=True)),
            Segment(label[cut:], name_style),
            Segment(ms(row.duration_ms).rjust(DURATION_WIDTH - 1) + " ", duration_style),
        ]
        bar_width = max(MIN_BAR_WIDTH, width - LABEL_WIDTH - DURATION_WIDTH - 1)
        segments.extend(self._bar(row, bar_width, base))
        return segments

    def _bar(self, row: SpanRow, width: int, base: Style) -> list[Segment]:
        view = self._view
        total = max(view.duration_ns, view.extent_ns, 1) if view else 1

        def cells(start: int, end: int) -> range:
            # Every span gets at least one cell, however short, so none vanishes.
            first = min(width - 1, max(0, start * width // total))
            last = max(first + 1, min(width, -(-end * width // total)))
            return range(first, last)

        kinds = [0] * width  # 0 track, 1 span, 2 critical
        for cell in cells(row.start, row.end):
            kinds[cell] = 1
        for start, end in row.segments:
            for cell in cells(start, end):
                kinds[cell] = 2
        span_style = "waterfall--error" if row.status == "error" else "waterfall--span"
        looks = {
            0: ("·", self.get_component_rich_style("waterfall--track", partial=True)),
            1: ("─", self.get_component_rich_style(span_style, partial=True)),
            2: ("█", self.get_component_rich_style("waterfall--critical", partial=True)),
        }
        out: list[Segment] = []
        run_start = 0
        for cell in range(1, width + 1):
            if cell == width or kinds[cell] != kinds[run_start]:
                char, look = looks[kinds[run_start]]
                out.append(Segment(char * (cell - run_start), base + look))
                run_start = cell
        return out
