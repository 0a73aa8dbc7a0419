"""The documents: critpath.report/v1 keys and values, critpath.trace/v1, critpath.paths/v1."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from analyzer.aggregate import Aggregate, trace_context
from analyzer.model import Trace
from analyzer.report import (
    analyze_spans,
    build_report,
    paths_document,
    trace_document,
    tree_order,
)
from tests.report.spans import MS, one_trace, span
from tests.report.test_profile import bare_trace, busy_trace

REPORT_KEYS = {"schema", "generated_at", "traces", "spans", "services", "edges", "endpoints",
               "findings"}
EDGE_KEYS = {"client", "server", "connection_type", "requests", "failed", "p50_ms", "p99_ms",
             "timeout_ms"}
ENDPOINT_KEYS = {"service", "name", "traces", "errors", "p50_ms", "p99_ms", "critical_path"}


def report_of(*traces: Trace) -> dict:
    aggregate = Aggregate()
    aggregate.add_traces(traces)
    return build_report(aggregate, generated_at="2026-12-03T17:00:00Z")


def test_report_has_the_v1_keys():
    report = report_of(busy_trace(), bare_trace())
    assert REPORT_KEYS <= report.keys()
    assert report["schema"] == "critpath.report/v1"
    assert all(set(s) == {"name", "kind"} for s in report["services"])
    assert all(EDGE_KEYS <= e.keys() for e in report["edges"])
    for endpoint in report["endpoints"]:
        assert ENDPOINT_KEYS <= endpoint.keys()
        assert endpoint["critical_path"].keys() == {"depth_p50", "depth_max", "services"}
        assert all(s.keys() == {"name", "share", "p50_ms", "p99_ms"}
                   for s in endpoint["critical_path"]["services"])
    json.dumps(report)  # JSON-ready as it is


def test_report_values_of_the_drawn_traces():
    report = report_of(busy_trace(), bare_trace())
    assert (report["traces"], report["spans"]) == (2, 7)
    assert report["services"] == [
        {"name": "user", "kind": "virtual"}, {"name": "web", "kind": "service"},
        {"name": "api", "kind": "service"}, {"name": "auth", "kind": "service"},
        {"name": "mysql", "kind": "database"}]
    edges = {(e["client"], e["server"], e["connection_type"]):
             (e["requests"], e["failed"], e["p50_ms"], e["p99_ms"], e["timeout_ms"])
             for e in report["edges"]}
    assert edges == {
        ("user", "web", "virtual_node"): (2, 0, 50.0, 100.0, None),
        ("web", "api", ""): (1, 0, 30.0, 30.0, None),
        ("web", "auth", ""): (1, 0, 40.0, 40.0, None),
        ("api", "mysql", "database"): (1, 0, 20.0, 20.0, None),
    }
    [endpoint] = report["endpoints"]
    assert endpoint == {
        "service": "web", "name": "GET /", "traces": 2, "errors": 0,
        "p50_ms": 50.0, "p99_ms": 100.0,
        "critical_path": {"depth_p50": 1, "depth_max": 2, "services": [
            {"name": "web", "share": 0.626667, "p50_ms": 44.0, "p99_ms": 50.0},
            {"name": "auth", "share": 0.2, "p50_ms": 0.0, "p99_ms": 30.0},
            {"name": "api", "share": 0.173333, "p50_ms": 0.0, "p99_ms": 26.0},
        ]},
    }
    assert report["findings"] == []


def test_timeout_ms_is_the_median_declared_timeout_of_the_edge():
    def call(trace: str, timeout: str | None) -> Trace:
        attrs = {"peer.service": "fx"}
        if timeout is not None:
            attrs["http.request.header.x-bank-timeout-ms"] = (timeout,)
        return one_trace(span("r", None, "web", "GET /", "server", 0, 10, trace=trace),
                         span("c", "r", "web", "GET", "client", 1, 9, trace=trace, attrs=attrs))

    report = report_of(call("a", "500"), call("b", "2000"), call("c", "2000"), call("d", None))
    [edge] = [e for e in report["edges"] if e["server"] == "fx"]
    assert (edge["requests"], edge["timeout_ms"]) == (4, 2000.0)


def test_endpoints_are_worst_first():
    slow = one_trace(span("r", None, "web", "GET /slow", "server", 0, 900, trace="s"))
    fast = one_trace(span("r", None, "web", "GET /fast", "server", 0, 5, trace="f"))
    failing = one_trace(span("r", None, "api", "GET /fast", "server", 0, 5, trace="e",
                             error=True))
    report = report_of(fast, slow, failing)
    assert [(e["service"], e["name"]) for e in report["endpoints"]] == [
        ("web", "GET /slow"), ("api", "GET /fast"), ("web", "GET /fast")]


@pytest.mark.parametrize(("stamp", "expected"), [
    (datetime(2026, 12, 3, 17, 0, tzinfo=timezone.utc), "2026-12-03T17:00:00Z"),
    (datetime(2026, 12, 3, 17, 0), "2026-12-03T17:00:00Z"),
    ("2026-12-03T18:00:00+01:00", "2026-12-03T18:00:00+01:00"),
], ids=["aware", "naive-is-utc", "string-kept"])
def test_generated_at(stamp, expected):
    assert build_report(Aggregate(), generated_at=stamp)["generated_at"] == expected


def test_generated_at_defaults_to_now():
    stamp = build_report(Aggregate())["generated_at"]
    assert stamp.endswith("Z")
    assert datetime.fromisoformat(stamp[:-1]).year >= 2026


def test_analyze_spans_assembles_and_folds():
    spans = [span("r", None, "web", "GET /", "server", 0, 10, trace="x"),
             span("r", None, "web", "GET /", "server", 0, 20, trace="y")]
    aggregate = analyze_spans(spans)
    assert (aggregate.traces, aggregate.spans) == (2, 2)


def test_trace_document_of_the_drawn_trace():
    document = trace_document(busy_trace())
    assert document["schema"] == "critpath.trace/v1"
    assert document["endpoint"] == {"service": "web", "name": "GET /"}
    assert (document["duration_ms"], document["depth"], document["start_ns"]) == (100.0, 2, 0)
    assert [s["span_id"] for s in document["spans"]] == ["r", "c1", "s1", "d", "c2", "s2"]
    assert document["spans"][3] == {
        "span_id": "d", "parent_id": "s1", "service": "api", "name": "SELECT",
        "kind": "client", "start_ns": 15 * MS, "end_ns": 35 * MS, "status": "unset",
        "attributes": {"db.system": "mysql"}, "depth": 2}
    assert document["critical_path"][3] == {
        "span_id": "d", "service": "api", "name": "SELECT", "start_ns": 15 * MS,
        "end_ns": 35 * MS}
    assert len(document["critical_path"]) == 11
    json.dumps(document)


def test_trace_document_lists_header_arrays_and_errors():
    trace = one_trace(span("r", None, "web", "GET /", "server", 0, 1, error=True,
                           attrs={"http.request.header.x-bank-timeout-ms": ("200",)}))
    [only] = trace_document(trace)["spans"]
    assert (only["status"], only["attributes"]) == (
        "error", {"http.request.header.x-bank-timeout-ms": ["200"]})


def test_trace_document_accepts_a_context_and_refuses_empty_traces():
    ctx = trace_context(bare_trace())
    assert trace_document(ctx)["trace_id"] == "t2"
    with pytest.raises(ValueError, match="has no spans"):
        trace_document(Trace("t0", {}))


def test_tree_order_is_depth_first_with_orphans_last():
    trace = one_trace(
        span("r", None, "web", "GET /", "server", 0, 100),
        span("b", "r", "web", "b", "internal", 50, 60),
        span("a", "r", "web", "a", "internal", 10, 20),
        span("a1", "a", "web", "a1", "internal", 11, 12),
        span("o", "lost", "web", "orphan", "server", 5, 6),
    )
    assert [(s.span_id, depth) for s, depth in tree_order(trace)] == [
        ("r", 0), ("a", 1), ("a1", 2), ("b", 1), ("o", 0)]


def test_paths_document():
    document = paths_document([busy_trace(), Trace("t0", {}), bare_trace()])
    assert document["schema"] == "critpath.paths/v1"
    assert [t["trace_id"] for t in document["traces"]] == ["t1", "t2"]
    assert document["traces"][1] == {
        "trace_id": "t2", "endpoint": {"service": "web", "name": "GET /"},
        "duration_ms": 50.0, "depth": 1,
        "segments": [{"span_id": "r", "service": "web", "name": "GET /", "start_ns": 0,
                      "end_ns": 50 * MS}]}


def test_findings_come_from_the_rules_worst_first():
    report = report_of(*[busy_trace(f"t{i}") for i in range(6)])
    assert [(f["rule"], f["severity"], f["client"], f["server"], f["endpoint"])
            for f in report["findings"]] == [
        ("missing-timeout", "critical", "web", "auth", "web GET /"),
        ("missing-timeout", "critical", "web", "api", "web GET /")]
    assert report["findings"][0]["evidence"]["calls"] == 6


def test_findings_wait_for_enough_observations():
    report = report_of(*[busy_trace(f"t{i}") for i in range(4)])  # default minimum: 5
    assert report["findings"] == []
