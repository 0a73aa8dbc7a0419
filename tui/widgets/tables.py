"""The overview's tables. Each keeps its cursor on the same row (by key) across
refreshes, so a live update never moves the user's selection."""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from tui.model import SLOWER, EndpointRow, Exemplar, FindingRow


def ms(value: float) -> str:
    """Milliseconds, with precision where it matters: ``0.42``, ``12.3``, ``1,250``.

    Not :func:`analyzer.render.format_ms` on purpose: table columns are narrow, so this
    uses fewer tiers (two decimals below 1 ms, one below 100 ms) and thousands separators
    for long latencies; the TUI snapshots pin this form.
    """
    if value < 1:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


class KeyedTable(DataTable):
    """A row-cursor table that replaces its rows in place and keeps the cursor on the same key.

    A refresh usually brings the same rows with new numbers, perhaps in a new order:
    then only the cells that changed are rewritten and the rows re-sorted, instead of
    rebuilding (and re-measuring) a thousand rows. ``KEY_COLUMN`` names a column whose
    cells are the row keys, which is what lets the table re-sort in place.
    """

    KEY_COLUMN: str | None = None
    BINDINGS = [
        # DataTable binds enter (select the row) but hides it; the row's screen opens the
        # row on that selection, so this is the key the footer has to show.
        Binding("enter", "select_cursor", "Open", show=True),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._keys: list[str] = []
        self._shown: dict[str, tuple[object, ...]] = {}
        """Each row's cells as last shown, to compare a refresh with (cheaper than get_row)."""

    MAX_REMOVED = 64
    """Rows that left beyond this many make one rebuild cheaper than removing each
    (DataTable re-indexes every row on each removal)."""

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor (``None`` when the table is empty)."""
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def replace_rows(self, rows: Sequence[tuple[str, tuple[object, ...]]]) -> None:
        """Show ``(key, cells)`` rows in place of the current ones, keeping the cursor's row
        and where it is on screen.

        The same rows (perhaps reordered) are updated in place; when some rows came or
        went, those are added or removed and the rest updated in place; only when most of
        the table changed is it rebuilt. Either way the selected row keeps its line on
        screen if it was in view (else the scroll position stays), so a live refresh
        never makes the view jump.
        """
        keep, at = self.selected_key, self.cursor_row
        line = at - round(self.scroll_y)  # the cursor's line in the view, when in view
        in_view = 0 <= line < max(1, self.scrollable_content_region.height - self.header_height)
        old_scroll = self.scroll_y
        keys = [key for key, _ in rows]
        same_set = len(keys) == len(self._keys) and set(keys) == set(self._keys)
        if keys == self._keys or (self.KEY_COLUMN is not None and same_set):
            self._update_in_place(rows)
        elif self.KEY_COLUMN is not None and (
            len(set(self._keys).difference(keys)) <= self.MAX_REMOVED
        ):
            self._add_and_remove(rows)
        else:
            self.clear()
            for key, cells in rows:
                self.add_row(*cells, key=key)
        self._keys = keys
        self._shown = dict(rows)
        if not rows:
            return
        kept = keep in keys
        row = keys.index(keep) if kept else min(at, len(rows) - 1)
        self.move_cursor(row=row, animate=False, scroll=False)
        self._restore_scroll(row - line if kept and in_view else old_scroll)

    def _restore_scroll(self, y: float) -> None:
        """Scroll to ``y`` (clamped), once the table knows its new height if it changed."""
        y = max(0, y)
        if self._require_update_dimensions:
            # The new height is measured when the table is next idle (as move_cursor does).
            self.scroll_to(y=y, animate=False, immediate=True)
            self.call_after_refresh(self.scroll_to, y=y, animate=False, immediate=True)
        else:
            self.scroll_to(y=y, animate=False, immediate=True)

    def _add_and_remove(self, rows: Sequence[tuple[str, tuple[object, ...]]]) -> None:
        """Remove the rows that left, add those that came, update the rest, then re-sort."""
        wanted = {key for key, _ in rows}
        for key in self._keys:
            if key not in wanted:
                self.remove_row(key)
        present = set(self._keys) & wanted
        self._keys = [key for key in self._keys if key in wanted]
        for key, cells in rows:
            if key not in present:
                self.add_row(*cells, key=key)
                self._keys.append(key)
                self._shown[key] = cells
        self._update_in_place(rows)

    def _update_in_place(self, rows: Sequence[tuple[str, tuple[object, ...]]]) -> None:
        columns = [column.key for column in self.ordered_columns]
        shown = self._shown
        for key, cells in rows:
            before = shown.get(key)
            if before is None:
                before = tuple(self.get_row(key))
            elif before == cells:
                continue
            for column, old, new in zip(columns, before, cells, strict=True):
                if old != new:
                    self.update_cell(
                        key,
                        column,
                        new,
                        update_width=_width(new) > self.columns[column].content_width,
                    )
        if rows and [key for key, _ in rows] != self._keys:
            order = {key: index for index, (key, _) in enumerate(rows)}
            self.sort(self.KEY_COLUMN, key=lambda cell: order[str(cell)])


def _width(cell: object) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))


class EndpointsTable(KeyedTable):
    """Endpoints with rate, errors, latency, critical-path depth and top critical-path service."""

    COMPONENT_CLASSES = {"endpoints--errors", "endpoints--worse", "endpoints--better"}
    KEY_COLUMN = "endpoint"
    COLUMNS = (
        ("endpoint", "Endpoint"),
        ("rate", "Req/s"),
        ("errors", "Errors"),
        ("p50", "p50 ms"),
        ("p99", "p99 ms"),
        ("change", "Δp99"),
        ("depth", "Depth"),
        ("top", "Top on critical path"),
    )

    def on_mount(self) -> None:
        for key, label in self.COLUMNS:
            self.add_column(label, key=key)

    def show(self, rows: Sequence[EndpointRow]) -> None:
        """Display ``rows`` in the order given."""
        styles = {
            name: self.get_component_rich_style(f"endpoints--{name}", partial=True)
            for name in ("errors", "worse", "better")
        }
        self.replace_rows([(row.key, self._cells(row, styles)) for row in rows])

    @staticmethod
    def _cells(row: EndpointRow, styles: dict[str, Style]) -> tuple[object, ...]:
        top = row.top_service
        errors = Text(f"{row.errors:,} ({row.error_ratio:.1%})" if row.errors else "0")
        if row.failing_more:
            errors.append(" ↑")
        if row.errors:
            errors.stylize(styles["errors"])
        if row.p99_change is None:
            change = Text("—", justify="right")
        else:
            change = Text(f"{row.p99_change:+.0%}", justify="right")
            if row.slower:
                change.stylize(styles["worse"])
            elif row.p99_change < -SLOWER:
                change.stylize(styles["better"])
        return (
            row.key,
            Text("—" if row.rate is None else f"{row.rate:,.1f}", justify="right"),
            errors,
            Text(ms(row.p50_ms), justify="right"),
            Text(ms(row.p99_ms), justify="right"),
            change,
            Text(f"{row.depth_p50:g} / {row.depth_max}", justify="right"),
            f"{top.name} {top.share:.0%}" if top else "—",
        )


class FindingsTable(KeyedTable):
    """Findings worst first, the severity coloured by the stylesheet."""

    COMPONENT_CLASSES = {"findings--critical", "findings--warning", "findings--info"}

    def on_mount(self) -> None:
        self.add_column("Severity", key="severity")
        self.add_column("Rule", key="rule")
        self.add_column("Subject", key="subject")

    MARKS = {"critical": "● critical", "warning": "▲ warning", "info": "○ info"}

    def show(self, rows: Sequence[FindingRow]) -> None:
        """Display ``rows`` in the order given (already worst first)."""
        styles = {
            name: self.get_component_rich_style(f"findings--{name}", partial=True)
            for name in self.MARKS
        }
        self.replace_rows(
            [
                (
                    row.key,
                    (
                        Text(
                            self.MARKS.get(row.severity, row.severity),
                            style=styles.get(row.severity, ""),
                        ),
                        row.rule,
                        row.subject,
                    ),
                )
                for row in rows
            ]
        )


class ExemplarsTable(KeyedTable):
    """An endpoint's exemplar traces, slowest first as the source lists them."""

    COMPONENT_CLASSES = {"exemplars--error"}
    KEY_COLUMN = "trace"
    BINDINGS = [Binding("enter", "select_cursor", "Open trace", show=True)]

    def on_mount(self) -> None:
        self.add_column("Trace", key="trace")
        self.add_column("Duration ms", key="duration")
        self.add_column("Result", key="result")

    def show(self, exemplars: Sequence[Exemplar]) -> None:
        """Display the exemplars."""
        rows = []
        for exemplar in exemplars:
            result = Text("error" if exemplar.error else "ok")
            if exemplar.error:
                result.stylize(self.get_component_rich_style("exemplars--error", partial=True))
            rows.append(
                (
                    exemplar.trace_id,
                    (exemplar.trace_id, Text(ms(exemplar.duration_ms), justify="right"), result),
                )
            )
        self.replace_rows(rows)
