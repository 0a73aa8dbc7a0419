"""Shared fixtures for the TUI's tests: the bank's documents in a memory source, a
fixed clock, and a helper that waits until the workers' results are on screen."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from tests.tui.fixtures import bank_endpoints, bank_report, bank_traces
from tui.app import CritpathApp
from tui.sources import MemorySource

SIZE = (140, 44)
"""Terminal size of every test: wide enough for the overview's two tables."""


class FixedClock:
    """A clock that only moves when a test moves it (data ages stay deterministic)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def anyio_backend() -> str:
    """Textual runs on asyncio; anyio's pytest plugin runs the async tests."""
    return "asyncio"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def bank_source() -> MemorySource:
    return MemorySource(
        bank_report(), traces=bank_traces(), endpoints=bank_endpoints(), seconds=300.0
    )


@pytest.fixture
def bank_app(bank_source: MemorySource, clock: FixedClock) -> CritpathApp:
    return CritpathApp(bank_source, clock=clock)


async def settle(pilot: Pilot) -> None:
    """Let pending messages, then every worker, then the messages they posted, run."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def cells(table, row: int) -> list[str]:
    """The plain text of a table row's cells."""
    return [str(getattr(cell, "plain", cell)) for cell in table.get_row_at(row)]


def column(table, index: int) -> list[str]:
    """The plain text of one column, top to bottom."""
    return [cells(table, row)[index] for row in range(table.row_count)]


def text_of(widget) -> str:
    """What a Static shows, as plain text (tables and Rich renderables included)."""
    import io

    from rich.console import Console

    console = Console(width=200, record=True, color_system=None, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def squash(text: str) -> str:
    """``text`` with every run of whitespace made one space (table columns vary in width)."""
    return " ".join(text.split())


def screen_lines(app) -> list[str]:
    """The plain text of each line of the terminal as the app last drew it (what the
    SVG snapshots draw, read as text: the same compositor output)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def on_screen(app, widget) -> str:
    """The plain text the terminal shows inside ``widget``'s region, line by line."""
    region = widget.region
    lines = screen_lines(app)[region.y : region.bottom]
    return "\n".join(line[region.x : region.right] for line in lines)
