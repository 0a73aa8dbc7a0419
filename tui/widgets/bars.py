"""Horizontal bars: an endpoint's critical-path profile and its depth distribution."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui.model import ServiceShare
from tui.widgets.tables import ms

BAR_WIDTH = 32


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A bar of ``fraction`` of ``width`` cells, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + ("▏▎▍▌▋▊▉"[rest - 1] if rest else "")).ljust(width)


class ProfileBars(Static):
    """Each service's share of the endpoint's critical path, with its p50 and p99 there."""

    COMPONENT_CLASSES = {"bars--bar", "bars--top"}

    def show(self, profile: Sequence[ServiceShare]) -> None:
        """Draw ``profile`` (largest share first)."""
        if not profile:
            self.update("No critical-path profile in the report.")
            return
        table = Table(box=None, padding=(0, 1), show_edge=False)
        for header, justify in (
            ("Service", "left"),
            ("Share of critical path", "left"),
            ("", "right"),
            ("p50 ms", "right"),
            ("p99 ms", "right"),
        ):
            table.add_column(header, justify=justify, no_wrap=True)
        for index, share in enumerate(profile):
            style = "bars--top" if index == 0 else "bars--bar"
            table.add_row(
                share.name,
                Text(bar(share.share), style=self.get_component_rich_style(style, partial=True)),
                f"{share.share:.0%}",
                ms(share.p50_ms),
                ms(share.p99_ms),
            )
        self.update(table)


class DepthBars(Static):
    """How many traces had each critical-path depth."""

    COMPONENT_CLASSES = {"bars--bar"}

    def show(self, depths: Sequence[tuple[int, int]], depth_p50: float, depth_max: int) -> None:
        """Draw the counts; without counts, the report's median and maximum."""
        if not depths:
            self.update(
                f"Depth p50 {depth_p50:g}, max {depth_max} (no per-trace counts from this source)."
            )
            return
        total = sum(count for _, count in depths) or 1
        table = Table(box=None, padding=(0, 1), show_edge=False)
        for header, justify in (("Depth", "right"), ("Traces", "left"), ("", "right")):
            table.add_column(header, justify=justify, no_wrap=True)
        style = self.get_component_rich_style("bars--bar", partial=True)
        for depth, count in depths:
            table.add_row(str(depth), Text(bar(count / total, 24), style=style), f"{count:,}")
        self.update(table)
