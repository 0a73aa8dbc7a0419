"""The data sources: trace files through the analyzer, a collector's API over HTTP."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import httpx
import pytest

from analyzer.assemble import assemble
from analyzer.critical_path import critical_path
from analyzer.decode import decode
from tests.tui.conftest import SIZE, FixedClock, column, settle, text_of
from tests.tui.fixtures import AUTHORIZE, AUTHORIZE_TRACE, bank_endpoints, bank_report, bank_traces
from tests.tui.server import FixtureServer
from tui.app import CritpathApp
from tui.sources import (
    CollectorSource,
    FileSource,
    MemorySource,
    ReportSource,
    SourceError,
    SourceUnavailable,
)
from tui.widgets.tables import EndpointsTable, ExemplarsTable
from tui.widgets.waterfall import Waterfall

DATA = Path(__file__).resolve().parents[1] / "data" / "jaeger"
COMPOSE = sorted(DATA.glob("deathstarbench-compose-post_R1000-*.json"))
TIMELINE = sorted(DATA.glob("deathstarbench-read-home-timeline_R600-*.json"))


@pytest.fixture
def server():
    server = FixtureServer(bank_report(), bank_traces(), bank_endpoints())
    server.start()
    yield server
    server.stop()


def test_every_source_satisfies_the_protocol(server):
    sources = [FileSource(COMPOSE), CollectorSource(server.url), MemorySource(bank_report())]
    assert all(isinstance(source, ReportSource) for source in sources)
    assert [source.live for source in sources] == [False, True, False]


def test_file_source_reports_what_the_analyzer_finds():
    source = FileSource([*COMPOSE, *TIMELINE], clock=lambda: 1_700_000_000.0)
    report = source.report("all")
    assert report["schema"] == "critpath.report/v1" and report["traces"] == 6
    assert report["generated_at"].startswith("2023-11-14T22:13:20")
    names = {(e["service"], e["name"]) for e in report["endpoints"]}
    assert ("nginx-web-server", "/wrk2-api/post/compose") in names
    assert source.report_seconds("all") > 0


def test_file_source_endpoint_detail_and_trace_match_the_critical_path():
    source = FileSource(COMPOSE)
    detail = source.endpoint("nginx-web-server", "/wrk2-api/post/compose")
    assert sum(detail["depths"].values()) == 3
    durations = [e["duration_ms"] for e in detail["exemplars"]]
    assert durations == sorted(durations, reverse=True) and len(durations) == 3
    slowest = detail["exemplars"][0]["trace_id"]
    doc = source.trace(slowest)
    assert doc["schema"] == "critpath.trace/v1" and doc["trace_id"] == slowest
    # Every attribute is kept for the span details, not only those the analysis reads.
    assert "nginx.worker_pid" in doc["spans"][0]["attributes"]
    trace = next(
        t for t in assemble(decode(COMPOSE[-1].read_bytes()).spans) if t.trace_id == slowest
    )
    expected = [(s.span_id, s.start_ns, s.end_ns) for s in critical_path(trace)]
    assert [(s["span_id"], s["start_ns"], s["end_ns"]) for s in doc["critical_path"]] == expected
    assert source.trace("f" * 32) is None


def test_file_source_reads_gzip_and_names_the_bad_file(tmp_path):
    packed = tmp_path / "trace.json.gz"
    packed.write_bytes(gzip.compress(COMPOSE[0].read_bytes()))
    assert FileSource([packed]).report("all")["traces"] == 1
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [')
    with pytest.raises(SourceError, match="broken.json"):
        FileSource([broken]).report("all")
    with pytest.raises(SourceError, match="missing.json: cannot read"):
        FileSource([tmp_path / "missing.json"]).report("all")


def test_collector_source_reads_the_api(server):
    source = CollectorSource(server.url)
    assert source.report("5m")["traces"] == 2450
    assert source.report_seconds("5m") == 300.0 and source.report_seconds("all") is None
    detail = source.endpoint("card-processing", AUTHORIZE)  # the name holds '/', sent quoted
    assert detail["depths"] == {"2": 1100, "3": 100}
    assert source.trace(AUTHORIZE_TRACE)["trace_id"] == AUTHORIZE_TRACE
    assert source.trace("f" * 32) is None
    source.close()


def test_collector_source_errors_say_unavailable_or_unusable():
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/report" and request.url.params["window"] == "1m":
            return httpx.Response(503, text="warming up")
        if request.url.path == "/api/report":
            return httpx.Response(200, json={"schema": "something-else"})
        if request.url.path.startswith("/api/endpoints/"):
            return httpx.Response(404, json={"detail": "none"})
        if request.url.path == "/api/traces":
            return httpx.Response(200, json={"traces": [{"trace_id": "ab", "duration_ms": 1.0}]})
        return httpx.Response(200, text="not json")

    source = CollectorSource("http://collector.test", transport=httpx.MockTransport(answer))
    with pytest.raises(SourceUnavailable, match="503"):
        source.report("1m")
    with pytest.raises(SourceError, match="not a critpath.report/v1 document"):
        source.report("5m")
    # No endpoint detail: the exemplars come from the trace list instead.
    assert source.endpoint("svc", "GET /x")["exemplars"] == [{"trace_id": "ab", "duration_ms": 1.0}]
    with pytest.raises(SourceError, match="not JSON"):
        source.trace("ab")
    refused = CollectorSource("http://127.0.0.1:9", timeout=0.5)
    with pytest.raises(SourceUnavailable, match="unreachable"):
        refused.report("5m")


@pytest.mark.anyio
async def test_offline_on_trace_files_from_overview_to_waterfall():
    app = CritpathApp(FileSource(COMPOSE), clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = text_of(app.screen.query_one("#status-line"))
        assert status.startswith("■ files") and "3 trace files" in status and "window" not in status
        assert column(app.screen.query_one(EndpointsTable), 0) == [
            "nginx-web-server /wrk2-api/post/compose"
        ]
        await pilot.press("enter")
        await settle(pilot)
        exemplars = app.screen.query_one(ExemplarsTable)
        assert exemplars.row_count == 3
        await pilot.press("enter")
        await settle(pilot)
        waterfall = app.screen.query_one(Waterfall)
        assert len(waterfall.visible_rows) > 10
        assert sum(1 for row in waterfall.visible_rows if row.on_critical_path) > 3


@pytest.mark.anyio
async def test_unreadable_files_show_a_banner(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"data": "nope"}))
    app = CritpathApp(FileSource([broken]), clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.connection.state == "error"
        banner = text_of(app.screen.query_one("#banner"))
        assert "Could not analyse the trace files" in banner and "broken.json" in banner


@pytest.mark.anyio
async def test_files_say_analysing_until_the_report_is_ready():
    release = threading.Event()

    class HeldFileSource(FileSource):
        """Files whose analysis waits for the test, so the first state can be seen."""

        def report(self, window):
            release.wait(timeout=30)
            return super().report(window)

    app = CritpathApp(HeldFileSource(COMPOSE), clock=FixedClock())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert text_of(app.screen.query_one("#status-line")).startswith("◌ analysing")
        release.set()
        await settle(pilot)
        assert text_of(app.screen.query_one("#status-line")).startswith("■ files")
