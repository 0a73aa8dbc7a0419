"""End-to-end runs of the demo print what they measured (precision, recall, savings)."""

from __future__ import annotations

import pytest

MEASURED = pytest.StashKey[list[str]]()


@pytest.fixture
def measured(request: pytest.FixtureRequest):
    """Append a line to the run's summary of measured figures."""
    lines = request.config.stash.setdefault(MEASURED, [])
    return lines.append


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    lines = config.stash.get(MEASURED, [])
    if lines:
        terminalreporter.section("critpath demo: measured against the bank's flaw manifest")
        for line in lines:
            terminalreporter.write_line(line)
