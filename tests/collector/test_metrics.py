"""/metrics: Tempo's service-graph names, critpath's series, self-metrics, bounded labels."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from analyzer.decode import decode
from analyzer.stats import LatencySketch
from collector.metrics import LabelLimiter, cumulative_counts
from tests.collector.support import protobuf_request, wait_until

PROTOBUF = {"content-type": "application/x-protobuf"}

SERIES = [
    "traces_service_graph_request_total",
    "traces_service_graph_request_failed_total",
    "traces_service_graph_request_server_seconds_bucket",
    "traces_service_graph_request_client_seconds_bucket",
    "traces_service_graph_unpaired_spans_total",
    "traces_service_graph_dropped_spans_total",
    "critpath_critical_path_depth_bucket",
    "critpath_critical_path_seconds_total",
    "critpath_findings_open",
    "critpath_spans_received_total",
    "critpath_spans_accepted_total",
    "critpath_spans_rejected_total",
    "critpath_spans_dropped_total",
    "critpath_live_traces",
    "critpath_trace_assembly_seconds_bucket",
]


def samples(text: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def test_exact_series_names_and_values(start_collector):
    body = protobuf_request(10)
    with start_collector(trace_wait_seconds=60) as collector:
        httpx.post(collector.otlp_http, content=body, headers=PROTOBUF)
        httpx.post(collector.otlp_http, content=body, headers=PROTOBUF)  # a client retry
        collector.runtime.pipeline.flush(everything=True)  # as if the traces went quiet
        text = collector.api.get("/metrics").text
    found = samples(text)
    for name in SERIES:
        assert name in text, name
    requests = {(s.labels["client"], s.labels["server"], s.labels["connection_type"]): s.value
                for s in found["traces_service_graph_request_total"]}
    assert requests[("user", "web", "virtual_node")] == 10
    assert requests[("web", "api", "")] == 10
    failed = {(s.labels["client"], s.labels["server"]): s.value
              for s in found["traces_service_graph_request_failed_total"]}
    assert failed[("api", "ledger")] == 2
    server_count = [s for s in found["traces_service_graph_request_server_seconds_count"]
                    if s.labels["server"] == "ledger"]
    assert server_count[0].value == 10
    assert found["critpath_spans_received_total"][0].value == 140
    assert found["critpath_spans_accepted_total"][0].value == 70
    dropped = {s.labels["reason"]: s.value for s in found["critpath_spans_dropped_total"]}
    assert dropped == {"duplicate": 70}
    depth = [s for s in found["critpath_critical_path_depth_count"]
             if s.labels == {"service": "web", "endpoint": "POST /checkout"}]
    assert depth[0].value == 10
    # Each trace's critical path tiles its root span, so the seconds add up to the roots'.
    shares = [s for s in found["critpath_critical_path_seconds_total"]
              if s.labels["endpoint"] == "POST /checkout"]
    roots = sum(span.duration_ns for span in decode(body).spans if span.parent_id is None)
    assert abs(sum(s.value for s in shares) - roots / 1e9) < 1e-9 * roots


def test_label_limiter_folds_new_label_sets_into_overflow():
    limit = LabelLimiter(2)
    assert limit("f", ("a",)) == ("a",)
    assert limit("f", ("b",)) == ("b",)
    assert limit("f", ("c",)) == ("__overflow__",)
    assert limit("f", ("a",)) == ("a",)  # admitted sets stay stable
    assert limit("g", ("c",)) == ("c",)  # the limit is per family
    assert {k: len(v) for k, v in limit.overflowed.items()} == {"f": 1}


def test_metrics_cardinality_is_bounded_and_overflow_counted(start_collector):
    with start_collector(label_cardinality_limit=3) as collector:
        httpx.post(collector.otlp_http, content=protobuf_request(2), headers=PROTOBUF)
        wait_until(lambda: collector.runtime.state.traces >= 2)
        found = samples(collector.api.get("/metrics").text)
        edges = found["traces_service_graph_request_total"]
        assert len(edges) == 4  # three admitted label sets plus the overflow series
        overflow = [s for s in edges if s.labels["client"] == "__overflow__"]
        assert overflow and sum(s.value for s in edges) == 2 * 5
        folded = {s.labels["metric"]: s.value
                  for s in found["critpath_metric_label_sets_overflowed"]}
        assert folded["traces_service_graph"] == 2


def test_cumulative_counts_exact_and_bucketed():
    exact = LatencySketch()
    exact.add_all([1_000_000, 3_000_000, 3_000_000, 9_000_000])
    assert cumulative_counts(exact, (0.001, 0.003, 0.005, 0.01), 1e9) == [1, 3, 3, 4]
    many = LatencySketch()
    many.add_all(range(1_000_000, 101_000_000, 1_000_000))  # 1..100 ms, bucketed
    assert not many.is_exact
    counts = cumulative_counts(many, (0.010, 0.050, 0.2), 1e9)
    assert abs(counts[0] - 10) <= 1 and abs(counts[1] - 50) <= 1 and counts[2] == 100
