"""The overview's tables. Each keeps its cursor on the same row (by key) across
refreshes, so a live update never moves the user's selection."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from tui.model import EndpointRow, Exemplar, FindingRow


def ms(value: float) -> str:
    """Milliseconds, with precision where it matters: ``0.42``, ``12.3``, ``1,250``."""
    if value < 1:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


class KeyedTable(DataTable):
    """A row-cursor table that can replace all its rows and keep the cursor on the same key."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor (``None`` when the table is empty)."""
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def replace_rows(self, rows: Sequence[tuple[str, tuple[object, ...]]]) -> None:
        """Show ``(key, cells)`` rows in place of the current ones, keeping the cursor's row."""
        keep, at = self.selected_key, self.cursor_row
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if not rows:
            return
        keys = [key for key, _ in rows]
        row = keys.index(keep) if keep in keys else min(at, len(rows) - 1)
        self.move_cursor(row=row, animate=False, scroll=True)


class EndpointsTable(KeyedTable):
    """Endpoints with rate, errors, latency, critical-path depth and top critical-path service."""

    COMPONENT_CLASSES = {"endpoints--errors"}
    COLUMNS = (
        ("endpoint", "Endpoint"), ("rate", "Req/s"), ("errors", "Errors"), ("p50", "p50 ms"),
        ("p99", "p99 ms"), ("depth", "Depth"), ("top", "Top on critical path"),
    )

    def on_mount(self) -> None:
        for key, label in self.COLUMNS:
            self.add_column(label, key=key)

    def show(self, rows: Sequence[EndpointRow]) -> None:
        """Display ``rows`` in the order given."""
        self.replace_rows([(row.key, self._cells(row)) for row in rows])

    def _cells(self, row: EndpointRow) -> tuple[object, ...]:
        top = row.top_service
        errors = Text(f"{row.errors:,} ({row.error_ratio:.1%})" if row.errors else "0")
        if row.errors:
            errors.stylize(self.get_component_rich_style("endpoints--errors", partial=True))
        return (
            row.key,
            Text("—" if row.rate is None else f"{row.rate:,.1f}", justify="right"),
            errors,
            Text(ms(row.p50_ms), justify="right"),
            Text(ms(row.p99_ms), justify="right"),
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

    def show(self, rows: Sequence[FindingRow]) -> None:
        """Display ``rows`` in the order given (already worst first)."""
        self.replace_rows([(row.key, self._cells(row)) for row in rows])

    def _cells(self, row: FindingRow) -> tuple[object, ...]:
        marks = {"critical": "● critical", "warning": "▲ warning", "info": "○ info"}
        severity = Text(marks.get(row.severity, row.severity))
        if f"findings--{row.severity}" in self.COMPONENT_CLASSES:
            severity.stylize(self.get_component_rich_style(f"findings--{row.severity}", partial=True))
        return (severity, row.rule, row.subject)


class ExemplarsTable(KeyedTable):
    """An endpoint's exemplar traces, slowest first as the source lists them."""

    COMPONENT_CLASSES = {"exemplars--error"}

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
                (exemplar.trace_id, (exemplar.trace_id, Text(ms(exemplar.duration_ms), justify="right"), result))
            )
        self.replace_rows(rows)
