""""Timeout used" in the span details reads the timeout keys the local config declares
(``[rules] timeout_keys`` / ``extra_timeout_keys`` of ``critpath.toml``), not only the
analyzer's defaults."""

from __future__ import annotations

import pytest

from analyzer.config import DEFAULT_TIMEOUT_KEYS, AnalysisConfig
from tests.tui.conftest import SIZE, FixedClock, settle, squash, text_of
from tests.tui.fixtures import AUTHORIZE_TRACE, authorize_trace, bank_report
from tui.app import CritpathApp
from tui.screens.trace import TraceScreen
from tui.sources import CollectorSource, FileSource, MemorySource, MergedCollectorSource
from tui.widgets.waterfall import Waterfall

pytestmark = pytest.mark.anyio

DEADLINE = "http.request.header.x-my-deadline-ms"
CONFIG = AnalysisConfig.from_mapping({"rules": {"extra_timeout_keys": [DEADLINE]}})


def deadline_trace() -> dict:
    """The authorization, its ``POST /notify`` call declaring 750 ms under a custom key only."""
    doc = authorize_trace()
    (notify,) = [s for s in doc["spans"] if s["name"] == "POST /notify" and s["kind"] == "client"]
    notify["attributes"] = {"server.address": "push", DEADLINE: ["750"]}
    return doc


async def notify_details(app: CritpathApp) -> str:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_trace(AUTHORIZE_TRACE)
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)
        await pilot.press(*["down"] * 7)
        assert app.screen.query_one(Waterfall).selected.name == "POST /notify"
        return squash(text_of(app.screen.query_one("#span-details")))


def memory_source() -> MemorySource:
    return MemorySource(bank_report(), traces={AUTHORIZE_TRACE: deadline_trace()})


async def test_the_configured_timeout_keys_are_read_in_span_details():
    app = CritpathApp(
        memory_source(), clock=FixedClock(), timeout_keys=CONFIG.timeout_keys
    )
    details = await notify_details(app)
    assert "timeout used 750 ms" in details and DEADLINE in details


async def test_without_them_the_custom_key_declares_nothing():
    details = await notify_details(CritpathApp(memory_source(), clock=FixedClock()))
    assert "timeout used none declared" in details


def test_the_app_takes_the_keys_of_its_sources_config():
    assert DEADLINE in CONFIG.timeout_keys and DEADLINE not in DEFAULT_TIMEOUT_KEYS
    sources = [
        FileSource([], config=CONFIG),
        MergedCollectorSource(["http://a.test", "http://b.test"], config=CONFIG),
        CollectorSource("http://a.test", config=CONFIG),
    ]
    for source in sources:
        assert CritpathApp(source).timeout_keys == CONFIG.timeout_keys
    assert CritpathApp(CollectorSource("http://a.test")).timeout_keys == DEFAULT_TIMEOUT_KEYS
    assert CritpathApp(memory_source()).timeout_keys == DEFAULT_TIMEOUT_KEYS
    # Given explicitly, the keys win over the source's.
    assert CritpathApp(sources[0], timeout_keys=("x",)).timeout_keys == ("x",)
    for source in sources:
        source.close()
