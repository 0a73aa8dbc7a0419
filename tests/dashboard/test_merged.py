"""``collector.dashboard.merged.MergedView``: the dashboard's view of several real collectors.

Two collectors (``create_app`` under uvicorn on loopback) each receive whole traces, as a
load-balancing exporter with ``routing_key: traceID`` would send them. The merged view
must show what one collector receiving every span shows (ARCHITECTURE.md §9), fetch each
trace from the collector holding it, and keep going while one collector is away.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from collector.app import create_app
from collector.dashboard import create_dashboard_router
from collector.dashboard.merged import CollectorsUnavailable, MergedView
from collector.settings import CollectorSettings
from tests.collector.support import comparable, loopback_settings, serve, wait_until
from tests.dashboard.livedata import AnalyzedView, bank_builder
from tests.support.sdk import TraceBuilder


class Collector:
    """A real collector on loopback until :meth:`stop`; ``dashboard`` mounts its dashboard
    (and so its ``/live/version``); without it the merged view reads ``/api/stream``."""

    def __init__(self, dashboard: bool) -> None:
        self.app = create_app(loopback_settings(dashboard=dashboard))
        self._running = contextlib.ExitStack()
        self.url = self._running.enter_context(serve(self.app))

    def stop(self) -> None:
        self._running.close()

    def receive(self, spans: Sequence[ReadableSpan]) -> None:
        expected = self.traces() + len({s.context.trace_id for s in spans})
        port = self.app.state.runtime.http_receiver.port
        httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=encode_spans(spans).SerializeToString(),
                   headers={"Content-Type": "application/x-protobuf"}, timeout=10).raise_for_status()
        wait_until(lambda: self.traces() >= expected, what=f"{self.url} to analyse {expected} traces")

    def traces(self) -> int:
        return self.app.state.runtime.state.traces


def route(builder: TraceBuilder, collectors: Sequence[Collector]) -> list[set[str]]:
    """Each trace whole to one collector (dealt out by trace id); the ids each received."""
    order = {t: n for n, t in enumerate(sorted({s.context.trace_id for s in builder.finished()}))}
    shares: list[list[ReadableSpan]] = [[] for _ in collectors]
    for span in builder.finished():
        shares[order[span.context.trace_id] % len(collectors)].append(span)
    for collector, share in zip(collectors, shares, strict=True):
        collector.receive(share)
    return [{format(s.context.trace_id, "032x") for s in share} for share in shares]


@pytest.fixture
def collectors() -> Iterator[list[Collector]]:
    pair = [Collector(dashboard=True), Collector(dashboard=False)]
    try:
        yield pair
    finally:
        for collector in pair:
            collector.stop()


class Clock:
    """A monotonic clock the test moves past the view's one-second cache."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += 5


def test_the_merged_report_is_what_one_collector_of_every_span_would_report(collectors):
    builder = bank_builder(24, statements=True)
    held = route(builder, collectors)
    everything = AnalyzedView()
    everything.add_otlp(builder.otlp_protobuf())
    view = MergedView([c.url for c in collectors])
    try:
        report = view.report("all")
        assert comparable(report) == comparable(everything.report())
        assert report["window"] == "all" and report["traces"] == 24
        assert view.unreachable == ()
        # A window the collectors keep: everything arrived just now.
        assert view.report("1m")["traces"] == 24
        # Exemplars from both collectors; each trace from the collector that holds it
        # (whole traces are kept only as exemplars, so one of those, not any routed id).
        rows = view.exemplars("web-gateway", "POST /transfer")
        holders = {i for row in rows for i, ids in enumerate(held) if row["trace_id"] in ids}
        assert holders == {0, 1}
        assert {row["trace_id"] for row in rows} <= set().union(*held)
        for ids in held:
            trace_id = sorted(row["trace_id"] for row in rows if row["trace_id"] in ids)[0]
            assert view.trace(trace_id)["trace_id"] == trace_id
        assert view.trace("0" * 32) is None
    finally:
        view.close()


def test_the_version_changes_when_any_collector_changes_and_one_away_is_named(collectors):
    route(bank_builder(12), collectors)
    clock = Clock()
    view = MergedView([c.url for c in collectors], clock=clock)
    try:
        first = view.version
        clock.tick()
        assert view.version == first  # nothing changed
        # New traces on the collector without a dashboard (its version comes from /api/stream).
        collectors[1].receive(bank_builder(3, seed=4, fraud_check="fraud-check").finished())
        clock.tick()
        second = view.version
        assert second > first
        assert view.report("all")["traces"] == 15
        assert "fraud-check" in {s["name"] for s in view.report("all")["services"]}

        collectors[0].receive(bank_builder(2, seed=5).finished())
        clock.tick()
        assert view.version > second

        # One collector goes away: the other's data stays, and the page names the missing one.
        before = view.version
        collectors[1].stop()
        clock.tick()
        assert view.version > before
        report = view.report("all")
        assert report["traces"] == collectors[0].traces()
        assert len(view.unreachable) == 1 and collectors[1].url in view.unreachable[0]

        app = FastAPI()
        app.include_router(create_dashboard_router(view, CollectorSettings(receivers=False)))
        with TestClient(app) as client:
            page = client.get("/?window=all")
            assert page.status_code == 200
            assert "Merged view of 2 collectors" in page.text
            assert "Not answering, left out of what is shown" in page.text
            assert collectors[1].url in page.text
            # None left: every page says so with a 503 rather than showing nothing.
            collectors[0].stop()
            clock.tick()
            for url in ("/", "/endpoints", "/findings", "/endpoint?service=a&name=b"):
                page = client.get(url)
                assert page.status_code == 503, url
                assert "No data source answers" in page.text and "no collector answers" in page.text
            with pytest.raises(CollectorsUnavailable):
                view.report("all")
            assert view.trace("0" * 32) is None
    finally:
        view.close()


def test_a_collector_answering_nonsense_is_named_not_merged(collectors):
    route(bank_builder(6), collectors[:1])
    app = FastAPI()

    @app.get("/api/aggregate")
    def not_an_aggregate() -> dict:
        return {"schema": "something/v9"}

    with serve(app) as impostor:
        view = MergedView([collectors[0].url, impostor + "/"])
        try:
            assert view.report("all")["traces"] == 6
            assert view.unreachable == (f"{impostor}/api/aggregate: not a critpath.aggregate/v1 document",)
        finally:
            view.close()


def test_a_merged_view_needs_a_collector():
    with pytest.raises(ValueError):
        MergedView([])
