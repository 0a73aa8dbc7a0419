"""Service graph (ARCHITECTURE.md §4) on named, hand-built traces.

Each case lists its spans (times in ms) and the exact edges
``(client, server, connection_type): (requests, failed)`` and node kinds it must give.
"""

from __future__ import annotations

import json

import pytest

from analyzer.graph import EdgeKey, GraphAggregate, declared_timeout_ns
from tests.report.spans import MS, one_trace, span

CASES = [
    (
        "client-server pair across services, plus the user edge of the root",
        [span("r", None, "web", "GET /", "server", 0, 100),
         span("c", "r", "web", "GET api", "client", 10, 90),
         span("s", "c", "api", "GET /x", "server", 15, 85)],
        {("user", "web", "virtual_node"): (1, 0), ("web", "api", ""): (1, 0)},
        {"user": "virtual", "web": "service", "api": "service"},
    ),
    (
        "a failed server span fails the edge",
        [span("r", None, "web", "GET /", "server", 0, 100),
         span("c", "r", "web", "GET api", "client", 10, 90),
         span("s", "c", "api", "GET /x", "server", 15, 85, error=True)],
        {("user", "web", "virtual_node"): (1, 0), ("web", "api", ""): (1, 1)},
        {"user": "virtual", "web": "service", "api": "service"},
    ),
    (
        "a failed client span fails the edge too, and a failed root the user edge",
        [span("r", None, "web", "GET /", "server", 0, 100, error=True),
         span("c", "r", "web", "GET api", "client", 10, 90, error=True),
         span("s", "c", "api", "GET /x", "server", 15, 85)],
        {("user", "web", "virtual_node"): (1, 1), ("web", "api", ""): (1, 1)},
        {"user": "virtual", "web": "service", "api": "service"},
    ),
    (
        "producer to consumer child is a messaging edge",
        [span("r", None, "web", "POST /", "server", 0, 10),
         span("p", "r", "web", "send", "producer", 2, 3),
         span("q", "p", "worker", "receive", "consumer", 20, 50)],
        {("user", "web", "virtual_node"): (1, 0), ("web", "worker", "messaging_system"): (1, 0)},
        {"user": "virtual", "web": "service", "worker": "service"},
    ),
    (
        "producer to consumer by link within the trace",
        [span("r", None, "web", "POST /", "server", 0, 10),
         span("p", "r", "web", "send", "producer", 2, 3),
         span("q", None, "worker", "receive", "consumer", 20, 50, links=("p",))],
        {("user", "web", "virtual_node"): (1, 0), ("web", "worker", "messaging_system"): (1, 0)},
        {"user": "virtual", "web": "service", "worker": "service"},
    ),
    (
        "database client: virtual peer named by db.system",
        [span("r", None, "api", "GET /", "server", 0, 10),
         span("d", "r", "api", "SELECT", "client", 1, 4, attrs={"db.system": "postgresql"})],
        {("user", "api", "virtual_node"): (1, 0), ("api", "postgresql", "database"): (1, 0)},
        {"user": "virtual", "api": "service", "postgresql": "database"},
    ),
    (
        "db.system.name (new semantic conventions) names a database as well",
        [span("r", None, "api", "GET /", "server", 0, 10),
         span("d", "r", "api", "SELECT", "client", 1, 4, attrs={"db.system.name": "sqlite"})],
        {("user", "api", "virtual_node"): (1, 0), ("api", "sqlite", "database"): (1, 0)},
        {"user": "virtual", "api": "service", "sqlite": "database"},
    ),
    (
        "peer.service wins over server.address and db.system, the kind stays database",
        [span("r", None, "api", "GET /", "server", 0, 10),
         span("d", "r", "api", "SELECT", "client", 1, 4, attrs={
             "peer.service": "ledger-db", "server.address": "10.0.0.7",
             "db.system": "postgresql"})],
        {("user", "api", "virtual_node"): (1, 0), ("api", "ledger-db", "database"): (1, 0)},
        {"user": "virtual", "api": "service", "ledger-db": "database"},
    ),
    (
        "server.address names an uninstrumented HTTP peer",
        [span("r", None, "api", "GET /", "server", 0, 10),
         span("h", "r", "api", "GET", "client", 1, 4, attrs={"server.address": "fx.example"})],
        {("user", "api", "virtual_node"): (1, 0), ("api", "fx.example", "virtual_node"): (1, 0)},
        {"user": "virtual", "api": "service", "fx.example": "virtual"},
    ),
    (
        "messaging.system on a client span: a messaging peer",
        [span("r", None, "api", "GET /", "server", 0, 10),
         span("k", "r", "api", "publish", "client", 1, 4, error=True,
              attrs={"messaging.system": "kafka"})],
        {("user", "api", "virtual_node"): (1, 0), ("api", "kafka", "messaging_system"): (1, 1)},
        {"user": "virtual", "api": "service", "kafka": "messaging"},
    ),
    (
        "a client span nothing names goes to virtual_node",
        [span("r", None, "api", "GET /", "server", 0, 10),
         span("h", "r", "api", "GET", "client", 1, 4)],
        {("user", "api", "virtual_node"): (1, 0), ("api", "virtual_node", "virtual_node"): (1, 0)},
        {"user": "virtual", "api": "service", "virtual_node": "virtual"},
    ),
    (
        "a client whose server child is in its own service makes no edge",
        [span("r", None, "api", "GET /", "server", 0, 10),
         span("c", "r", "api", "GET self", "client", 1, 9),
         span("s", "c", "api", "GET /self", "server", 2, 8)],
        {("user", "api", "virtual_node"): (1, 0)},
        {"user": "virtual", "api": "service"},
    ),
    (
        "a root that is not SERVER gets no user edge",
        [span("j", None, "cron", "nightly", "internal", 0, 10),
         span("c", "j", "cron", "POST", "client", 1, 9),
         span("s", "c", "api", "POST /batch", "server", 2, 8)],
        {("cron", "api", ""): (1, 0)},
        {"cron": "service", "api": "service"},
    ),
    (
        "kind-less traces (OpenTracing): service changes become edges, the root is the user's",
        [span("r", None, "nginx", "/compose", "internal", 0, 10),
         span("a", "r", "nginx", "compose_client", "internal", 1, 9),
         span("b", "a", "compose", "compose_server", "internal", 2, 8),
         span("c", "b", "compose", "store_client", "internal", 3, 7),
         span("d", "c", "storage", "store_server", "internal", 4, 6, error=True)],
        {("user", "nginx", "virtual_node"): (1, 0), ("nginx", "compose", ""): (1, 0),
         ("compose", "storage", ""): (1, 1)},
        {"user": "virtual", "nginx": "service", "compose": "service", "storage": "service"},
    ),
    (
        "the same callee twice counts two requests",
        [span("r", None, "web", "GET /", "server", 0, 100),
         span("c1", "r", "web", "GET api", "client", 10, 40),
         span("s1", "c1", "api", "GET /x", "server", 11, 39),
         span("c2", "r", "web", "GET api", "client", 50, 90, error=True),
         span("s2", "c2", "api", "GET /x", "server", 51, 89)],
        {("user", "web", "virtual_node"): (1, 0), ("web", "api", ""): (2, 1)},
        {"user": "virtual", "web": "service", "api": "service"},
    ),
]


@pytest.mark.parametrize(("spans", "edges", "nodes"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_edges_and_nodes(spans, edges, nodes):
    graph = GraphAggregate()
    graph.add(one_trace(*spans))
    assert {tuple(k.to_list()): (s.requests, s.failed)
            for k, s in graph.edges.items()} == edges
    assert graph.nodes == nodes


def test_latencies_per_side():
    graph = GraphAggregate()
    graph.add(one_trace(
        span("r", None, "web", "GET /", "server", 0, 100),
        span("c", "r", "web", "GET api", "client", 10, 90),
        span("s", "c", "api", "GET /x", "server", 15, 85),
    ))
    edge = graph.edges[EdgeKey("web", "api", "")]
    assert (edge.client.quantile(0.5), edge.server.quantile(0.5)) == (80 * MS, 70 * MS)
    assert edge.latency() is edge.client
    user = graph.edges[EdgeKey("user", "web", "virtual_node")]
    assert (user.client.count, user.server.quantile(0.5)) == (0, 100 * MS)
    assert user.latency() is user.server  # no caller's view: the callee's


def test_unpaired_server_and_consumer_spans_are_counted():
    graph = GraphAggregate()
    graph.add(one_trace(
        span("o", "missing", "api", "GET /x", "server", 0, 10),
        span("q", None, "worker", "receive", "consumer", 20, 30, links=("elsewhere",)),
    ))
    assert graph.unpaired == {EdgeKey("", "api", ""): 1,
                              EdgeKey("", "worker", "messaging_system"): 1}
    assert graph.edges == {}


def test_edges_past_the_limit_are_dropped_and_counted():
    graph = GraphAggregate(max_edges=2)
    graph.add(one_trace(
        span("r", None, "web", "GET /", "server", 0, 100),
        span("a", "r", "web", "a", "client", 1, 2, attrs={"peer.service": "a"}),
        span("b", "r", "web", "b", "client", 3, 4, attrs={"peer.service": "b"}),
        span("c", "r", "web", "c", "client", 5, 6, attrs={"peer.service": "c"}),
    ))
    assert sorted(graph.edges) == [EdgeKey("user", "web", "virtual_node"),
                                   EdgeKey("web", "a", "virtual_node")]
    assert graph.dropped == {EdgeKey("web", "", ""): 2}


@pytest.mark.parametrize(("attrs", "expected_ns"), [
    ({"http.request.header.x-bank-timeout-ms": ("2000",)}, 2_000 * MS),
    ({"http.request.header.x-envoy-expected-rq-timeout-ms": "150"}, 150 * MS),
    ({"rpc.grpc.request.metadata.grpc-timeout": ("250m",)}, 250 * MS),
    ({"http.request.header.grpc-timeout": "3S"}, 3_000 * MS),
    ({"http.request.header.grpc-timeout": "1H"}, 3_600_000 * MS),
    ({"http.request.header.x-bank-timeout-ms": 1.5}, 1_500_000),
    ({"http.request.header.x-bank-timeout-ms": ("soon",)}, None),
    ({"http.request.header.x-bank-timeout-ms": ("0",)}, None),
    ({"http.request.header.x-bank-timeout-ms": True}, None),
    ({}, None),
], ids=["bank-header-array", "envoy-ms", "grpc-metadata-millis", "grpc-header-seconds",
        "grpc-hours", "number", "garbage", "zero", "boolean", "absent"])
def test_declared_timeouts(attrs, expected_ns):
    assert declared_timeout_ns(span("c", None, "web", "GET", "client", 0, 1, attrs=attrs)) \
        == expected_ns


def test_edge_timeouts_use_the_configured_keys():
    trace = one_trace(
        span("r", None, "web", "GET /", "server", 0, 100),
        span("c", "r", "web", "GET", "client", 1, 9,
             attrs={"peer.service": "fx", "x-my-deadline": "700"}),
    )
    default, custom = GraphAggregate(), GraphAggregate(timeout_keys=("x-my-deadline",))
    default.add(trace)
    custom.add(trace)
    key = EdgeKey("web", "fx", "virtual_node")
    assert default.edges[key].timeouts.count == 0
    assert custom.edges[key].timeouts.quantile(0.5) == 700 * MS


def test_call_depth_orders_nodes_and_edges():
    graph = GraphAggregate()
    graph.add(one_trace(
        span("r", None, "web", "GET /", "server", 0, 100),
        span("c", "r", "web", "GET api", "client", 10, 90),
        span("s", "c", "api", "GET /x", "server", 15, 85),
        span("d", "s", "api", "SELECT", "client", 20, 30, attrs={"db.system": "mysql"}),
        span("e", "r", "web", "GET auth", "client", 91, 99),
        span("f", "e", "auth", "check", "server", 92, 98),
    ))
    assert graph.layers() == {"user": 0, "web": 1, "api": 2, "auth": 2, "mysql": 3}
    assert [name for name, _ in graph.sorted_nodes()] == ["user", "web", "api", "auth", "mysql"]
    assert [tuple(k.to_list()) for k, _ in graph.sorted_edges()] == [
        ("user", "web", "virtual_node"), ("web", "api", ""), ("web", "auth", ""),
        ("api", "mysql", "database")]


def test_layers_of_a_cycle_nobody_enters():
    graph = GraphAggregate()
    graph.add(one_trace(
        span("a", "gone", "ping", "x", "client", 0, 10),
        span("b", "a", "pong", "y", "server", 1, 9),
        span("c", "b", "pong", "z", "client", 2, 8),
        span("d", "c", "ping", "w", "server", 3, 7),
    ))
    assert graph.layers() == {"ping": 0, "pong": 1}


def test_merge_and_snapshot_equal_one_graph_over_all_traces():
    traces = [one_trace(*c[1]) for c in CASES]
    whole = GraphAggregate()
    for trace in traces:
        whole.add(trace)
    halves = [GraphAggregate(), GraphAggregate()]
    for i, trace in enumerate(traces):
        halves[i % 2].add(trace)
    merged = GraphAggregate.from_dict(json.loads(json.dumps(halves[1].to_dict())))
    merged.merge(halves[0])
    assert merged.to_dict() == whole.to_dict()
    assert whole.edges[EdgeKey("web", "api", "")].requests == 5


def test_to_networkx_keeps_kinds_and_counts():
    graph = GraphAggregate()
    graph.add(one_trace(*CASES[5][1]))
    nx_graph = graph.to_networkx()
    assert nx_graph.nodes["postgresql"]["kind"] == "database"
    assert nx_graph.edges["api", "postgresql", "database"]["requests"] == 1
