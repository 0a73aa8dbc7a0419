"""Snapshots pinning the main screens' look (fixed data, fixed size, fixed clock).

Update after an intended change with ``pytest tests/tui --snapshot-update`` and review
the SVGs in ``tests/tui/__snapshots__``.
"""

from __future__ import annotations

from tests.tui.conftest import SIZE, FixedClock, settle
from tests.tui.fixtures import bank_endpoints, bank_report, bank_traces
from tui.app import CritpathApp
from tui.sources import MemorySource, SourceUnavailable


class FlakySource(MemorySource):
    """A live memory source that can be made unreachable."""

    down = False

    def report(self, window: str) -> dict:
        if self.down:
            raise SourceUnavailable("http://127.0.0.1:8686 unreachable (connection refused)")
        return super().report(window)


def bank_app(live: bool = False) -> CritpathApp:
    source_type = FlakySource if live else MemorySource
    source = source_type(
        bank_report(),
        traces=bank_traces(),
        endpoints=bank_endpoints(),
        seconds=300.0,
        live=live,
        description="http://127.0.0.1:8686" if live else "bank-traces.json",
    )
    # No polling timer: each snapshot shows exactly the polls the test makes.
    return CritpathApp(source, interval=None, clock=FixedClock())


def keys(*pressed: str):
    """A ``run_before`` that waits for the data, presses keys, and waits again."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press(*pressed)
        await settle(pilot)

    return run_before


def test_overview(snap_compare):
    assert snap_compare(bank_app(), terminal_size=SIZE, run_before=keys())


def test_overview_filtered_and_sorted(snap_compare):
    assert snap_compare(
        bank_app(), terminal_size=SIZE, run_before=keys("s", "slash", *"card", "enter")
    )


def test_endpoint(snap_compare):
    assert snap_compare(bank_app(), terminal_size=SIZE, run_before=keys("enter"))


def test_trace_with_a_span_selected(snap_compare):
    assert snap_compare(
        bank_app(),
        terminal_size=SIZE,
        run_before=keys("enter", "down", "enter", "down", "down", "down", "down"),
    )


def test_finding(snap_compare):
    assert snap_compare(bank_app(), terminal_size=SIZE, run_before=keys("f", "enter"))


def test_help(snap_compare):
    assert snap_compare(bank_app(), terminal_size=SIZE, run_before=keys("question_mark"))


def test_collector_gone_banner(snap_compare):
    app = bank_app(live=True)

    async def run_before(pilot) -> None:
        await settle(pilot)
        app.source.down = True
        app.clock.now += 75
        app.poll()
        await settle(pilot)
        await pilot.pause(1.1)  # one tick of the status line's age

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
