"""The pure views the screens render: layering, sorting, findings, waterfall rows."""

from __future__ import annotations

import pytest

from tests.tui.fixtures import AUTHORIZE_KEY, authorize_trace, bank_report, big_report
from tui.model import (
    build_endpoint_detail,
    build_graph,
    build_overview,
    build_trace_view,
    sort_endpoints,
    timeout_used,
)


def edge(client: str, server: str, connection_type: str = "") -> dict:
    return {
        "client": client,
        "server": server,
        "connection_type": connection_type,
        "requests": 1,
        "failed": 0,
    }


def layers(graph) -> list[list[str]]:
    return [[node.name for node in layer] for layer in graph.layers]


def test_layers_follow_the_longest_call_chain():
    graph = build_graph(
        [], [edge("user", "a"), edge("user", "b"), edge("a", "b"), edge("b", "db")], []
    )
    assert layers(graph) == [["user"], ["a"], ["b"], ["db"]]


def test_a_cycle_is_cut_once_and_every_node_is_drawn():
    graph = build_graph([], [edge("a", "b"), edge("b", "c"), edge("c", "a")], [])
    assert sorted(name for layer in layers(graph) for name in layer) == ["a", "b", "c"]
    assert layers(graph) == [["a"], ["b"], ["c"]]


def test_edges_on_an_endpoints_critical_path_are_marked():
    overview = build_overview(bank_report(), "5m", 300.0)
    marks = {
        (e.client, e.server): (e.critical, e.is_async)
        for layer in overview.graph.layers
        for node in layer
        for e in node.edges
    }
    assert marks[("card-processing", "enrichment")] == (True, False)
    assert marks[("card-processing", "feed")] == (False, True)  # the queue edge
    assert marks[("card-processing", "sqlite")] == (False, False)


def test_findings_are_worst_first_with_stable_keys_and_affected_endpoints():
    overview = build_overview(bank_report(), "5m", 300.0)
    assert [f.severity for f in overview.findings] == [
        "critical",
        "warning",
        "warning",
        "warning",
        "info",
    ]
    worst = overview.findings[0]
    assert worst.key == "missing-timeout|card-processing|enrichment||"
    assert worst.affected == (AUTHORIZE_KEY,)
    inversion = next(f for f in overview.findings if f.rule == "timeout-inversion")
    assert inversion.affected == ("feed GET /feed",)
    reordered = bank_report()
    reordered["findings"].reverse()
    assert {f.key for f in build_overview(reordered, "5m", 300.0).findings} == {
        f.key for f in overview.findings
    }


@pytest.mark.parametrize(
    ("key", "first"),
    [
        ("p99", AUTHORIZE_KEY),
        ("rate", AUTHORIZE_KEY),
        ("errors", "push POST /devices"),
        ("depth", AUTHORIZE_KEY),
        ("name", "card-processing GET /cards/{id}"),
    ],
)
def test_sort_orders(key, first):
    rows = build_overview(bank_report(), "5m", 300.0).endpoints
    assert sort_endpoints(rows, key)[0].key == first


def test_rates_need_the_window_length():
    assert build_overview(bank_report(), "all", None).endpoints[0].rate is None


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"http.request.header.x-bank-timeout-ms": ["2000"]}, 2000.0),
        ({"http.request.header.grpc-timeout": ["250m"]}, 250.0),
        ({"rpc.grpc.request.metadata.grpc-timeout": "2S"}, 2000.0),
        ({"http.request.header.x-envoy-expected-rq-timeout-ms": "15000"}, 15000.0),
        ({"http.request.header.x-bank-timeout-ms": ["soon"]}, None),
        ({}, None),
    ],
    ids=["bank-header", "grpc-millis", "grpc-seconds", "envoy", "unparsable", "none"],
)
def test_timeout_used(attributes, expected):
    assert timeout_used(attributes) == expected


def test_waterfall_rows_are_in_tree_order_with_their_critical_time():
    view = build_trace_view(authorize_trace())
    assert [row.indent for row in view.rows] == [0, 1, 1, 2, 3, 3, 1, 1, 2, 3, 1, 2]
    assert sum(row.critical_ms for row in view.rows) == pytest.approx(200.0)
    assert view.critical_count == 11
    # The RabbitMQ consumer outlives the request: the timeline runs to its end.
    assert view.duration_ns == 200 * 10**6 and view.extent_ns == 230 * 10**6
    notify = next(row for row in view.rows if row.name == "POST /notify" and row.kind == "client")
    assert notify.timeout_ms == 2000.0


def test_orphans_become_extra_roots():
    doc = authorize_trace()
    doc["spans"] = [s for s in doc["spans"] if s["span_id"] != "a000000000000003"]
    view = build_trace_view(doc)
    assert len(view.rows) == 11
    assert [row.name for row in view.rows if row.indent == 0] == [
        "POST /cards/authorize",
        "POST /enrich",
    ]


def test_endpoint_detail_accepts_depth_maps_and_pairs():
    assert build_endpoint_detail("k", {"depths": {"3": 2, "2": 5}}).depths == ((2, 5), (3, 2))
    assert build_endpoint_detail("k", {"depths": [[4, 1]], "exemplars": []}).depths == ((4, 1),)
    assert build_endpoint_detail("k", {}).exemplars == ()


def test_changes_against_a_baseline_window():
    baseline = bank_report()
    baseline["endpoints"][0]["p99_ms"] = 1000.0
    baseline["endpoints"][0]["errors"] = 0
    del baseline["endpoints"][1]  # feed: not seen in the longer window
    rows = {row.key: row for row in build_overview(bank_report(), "5m", 300.0, baseline).endpoints}
    authorize = rows[AUTHORIZE_KEY]
    assert authorize.p99_change == pytest.approx(0.45) and authorize.slower
    assert authorize.error_change == pytest.approx(0.015) and authorize.failing_more
    assert rows["feed GET /feed"].p99_change is None and not rows["feed GET /feed"].slower
    assert sort_endpoints(rows.values(), "change")[0].key == AUTHORIZE_KEY


@pytest.mark.parametrize(
    ("connection_type", "is_async"),
    [("", False), ("database", False), ("virtual_node", False), ("messaging_system", True)],
    ids=["request-response", "database-peer", "uninstrumented-peer", "queue"],
)
def test_only_queue_edges_are_asynchronous(connection_type, is_async):
    """Tempo's connection types: only ``messaging_system`` goes through a queue."""
    graph = build_graph([], [edge("a", "b", connection_type=connection_type)], [])
    [edge_view] = [e for layer in graph.layers for node in layer for e in node.edges]
    assert edge_view.is_async is is_async


def scanned_affected(finding, endpoints) -> tuple[str, ...]:
    """What a finding affects, by the definition: a scan of every endpoint's profile."""
    if finding.endpoint:
        return (finding.endpoint,)
    owners = {share.name for row in endpoints for share in row.profile if share.share > 0}
    wanted = [
        name
        for name in (finding.client, finding.server, finding.service)
        if name and (name in owners or name == finding.client)
    ]

    def on_path(row, name):
        return name == row.service or any(s.name == name and s.share > 0 for s in row.profile)

    hits = [row for row in endpoints if wanted and all(on_path(row, n) for n in wanted)]
    return tuple(row.key for row in sorted(hits, key=lambda r: (-r.p99_ms, r.key)))


@pytest.mark.parametrize("report", [bank_report(), big_report(services=40, endpoints=120)],
                         ids=["bank", "large"])
def test_affected_endpoints_from_the_index_are_those_a_scan_finds(report):
    overview = build_overview(report, "5m", 300.0)
    assert any(finding.affected for finding in overview.findings)
    for finding in overview.findings:
        assert finding.affected == scanned_affected(finding, overview.endpoints), finding.key
