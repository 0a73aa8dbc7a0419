"""The building blocks of the rules: timeout parsing, call classification, the what-if
saving, and the mergeable, snapshot-able CallAggregate."""

from __future__ import annotations

import json

import pytest

from analyzer.aggregate import trace_context
from analyzer.model import Event, Span, SpanKind, StatusCode
from analyzer.rules import CallAggregate, observe_calls, what_if_saved_ns
from analyzer.rules.calls import call_failed, call_kind, requested_operation, server_of
from analyzer.rules.timeouts import declared_timeout, is_observed_timeout, parse_timeout_ms
from tests.rules.scenarios import MS, T0, transfer, traces
from tests.support.sdk import TraceBuilder

# -- timeouts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(("2000",), 2000.0, id="header-array-of-ms"),
        pytest.param("2000", 2000.0, id="bare-ms"),
        pytest.param("2000ms", 2000.0, id="ms-suffix"),
        pytest.param("2S", 2000.0, id="grpc-seconds"),
        pytest.param("500m", 500.0, id="grpc-millis"),
        pytest.param("100u", 0.1, id="grpc-micros"),
        pytest.param("3000000n", 3.0, id="grpc-nanos"),
        pytest.param("1M", 60_000.0, id="grpc-minutes"),
        pytest.param("1H", 3_600_000.0, id="grpc-hours"),
        pytest.param("1.5s", 1500.0, id="human-seconds"),
        pytest.param(250, 250.0, id="integer"),
        pytest.param(" 20 ms ", 20.0, id="spaces"),
        pytest.param("soon", None, id="not-a-duration"),
        pytest.param("-5", None, id="negative"),
        pytest.param((), None, id="empty-array"),
        pytest.param(True, None, id="boolean"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_parse_timeout_ms(value, expected):
    assert parse_timeout_ms(value) == expected


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param({}, (False, None), id="none"),
        pytest.param({"b": ("750",)}, (True, 750.0), id="second-key"),
        pytest.param({"a": "garbage", "b": ("750",)}, (True, 750.0), id="first-unparseable"),
        pytest.param({"a": "garbage"}, (True, None), id="declared-without-number"),
    ],
)
def test_declared_timeout_reads_the_first_parseable_key(attributes, expected):
    assert declared_timeout(attributes, ("a", "b")) == expected


def _client(attrs=None, *, error=False, events=()) -> Span:
    return Span("t" * 32, "c" * 16, "p" * 16, "web", "GET", SpanKind.CLIENT, 0, 10,
                StatusCode.ERROR if error else StatusCode.UNSET, attrs or {}, (), tuple(events))


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        pytest.param(_client({"error.type": "httpx.ReadTimeout"}, error=True), True, id="error-type"),
        pytest.param(_client({"rpc.grpc.status_code": 4}, error=True), True, id="grpc-deadline"),
        pytest.param(_client({"rpc.grpc.status_code": 14}, error=True), False, id="grpc-unavailable"),
        pytest.param(_client(error=True, events=[Event("exception", 5, {"exception.type": "TimeoutError"})]),
                     True, id="exception-event"),
        pytest.param(_client(error=True, events=[Event("log", 5, {"exception.type": "TimeoutError"})]),
                     False, id="not-an-exception-event"),
        pytest.param(_client({"error.type": "500"}, error=True), False, id="http-500"),
        pytest.param(_client(), False, id="success"),
    ],
)
def test_is_observed_timeout(span, expected):
    assert is_observed_timeout(span) is expected


# -- classification --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        pytest.param({"http.request.method": "GET"}, "read", id="http-get"),
        pytest.param({"http.method": "HEAD"}, "read", id="old-semconv-head"),
        pytest.param({"http.request.method": "POST"}, "write", id="http-post"),
        pytest.param({"http.request.method": "DELETE"}, "write", id="http-delete"),
        pytest.param({"rpc.system": "grpc", "rpc.method": "SendNotification"}, "write", id="rpc-send"),
        pytest.param({"rpc.system": "grpc", "rpc.method": "GetBalance"}, "read", id="rpc-query"),
        pytest.param({"messaging.system": "kafka", "messaging.operation.type": "publish"}, "write",
                     id="messaging-publish"),
        pytest.param({"messaging.system": "kafka", "messaging.operation.type": "receive"}, "read",
                     id="messaging-receive"),
        pytest.param({"db.system": "sqlite", "db.operation": "SELECT"}, "read", id="db-select"),
        pytest.param({"db.system": "sqlite", "db.operation.name": "INSERT"}, "write", id="db-insert"),
        pytest.param({"db.system": "sqlite"}, "unknown", id="db-without-operation"),
        pytest.param({}, "unknown", id="nothing"),
    ],
)
def test_call_kind(attrs, expected):
    assert call_kind(_client(attrs)) == expected


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        pytest.param({"peer.service": "payments", "server.address": "10.0.0.1"}, "payments",
                     id="peer-service-first"),
        pytest.param({"server.address": "cache.internal"}, "cache.internal", id="server-address"),
        pytest.param({"db.system": "postgresql"}, "postgresql", id="database"),
        pytest.param({"messaging.system": "rabbitmq"}, "rabbitmq", id="queue"),
        pytest.param({}, "virtual_node", id="unknown-peer"),
    ],
)
def test_server_of_an_unanswered_call_is_its_virtual_peer(attrs, expected):
    [trace] = _assembled(_client(attrs))
    assert server_of(trace, trace.spans["c" * 16]) == (expected, None)


def _call(name: str, attrs: dict, service: str = "accounts", span_id: str = "c" * 16) -> Span:
    return Span("t" * 32, span_id, "p" * 16, service, name, SpanKind.CLIENT, 0, 10,
                attributes=attrs)


@pytest.mark.parametrize(
    ("client", "server", "expected"),
    [
        pytest.param(_call("POST", {}), _call("POST /entries", {}, "ledger"),
                     ("POST /entries", None), id="the-server-span-names-it"),
        pytest.param(_call("POST", {}), _call("POST", {"http.route": "/holds"}, "ledger"),
                     ("POST", "/holds"), id="a-server-named-by-method-adds-its-route"),
        pytest.param(_call("POST", {"url.full": "http://ledger/holds?attempt=2"}),
                     _call("POST", {"url.path": "/holds"}, "ledger"),
                     ("POST", "/holds"), id="the-server-span-route-not-the-client-url"),
        pytest.param(_call("POST", {"url.full": "http://ledger/holds"}),
                     _call("POST /holds", {}, "ledger"),
                     ("POST /holds", None), id="an-instrumented-server-alone-names-it"),
        pytest.param(_call("POST", {"url.template": "/entries/{id}"}), None,
                     ("POST", "/entries/{id}"), id="no-server-span-url-template"),
        pytest.param(_call("POST", {"url.full": "http://ledger/entries?x=1",
                                    "http.route": "/entries"}), None,
                     ("POST", "/entries"), id="no-server-span-route-before-full-url"),
        pytest.param(_call("POST", {"http.url": "http://ledger/holds"}), None,
                     ("POST", "http://ledger/holds"), id="no-server-span-old-semconv-url"),
        pytest.param(_call("INSERT entries", {"db.system": "postgresql"}), None,
                     ("INSERT entries", None), id="nothing-but-the-client-span-name"),
    ],
)
def test_requested_operation(client, server, expected):
    assert requested_operation(client, server) == expected


def _assembled(*spans: Span):
    from analyzer.assemble import assemble
    return assemble(spans)


@pytest.mark.parametrize(
    ("attrs", "error", "expected"),
    [
        pytest.param({"http.response.status_code": 503}, True, True, id="http-503"),
        pytest.param({}, True, True, id="error-without-status"),
        pytest.param({"http.response.status_code": 404}, True, False, id="http-404-is-an-answer"),
        pytest.param({"http.status_code": 409}, True, False, id="old-semconv-409-is-an-answer"),
        pytest.param({"http.response.status_code": 429}, True, True, id="http-429-throttled"),
        pytest.param({"http.response.status_code": 408}, True, True, id="http-408-timeout"),
        pytest.param({"rpc.grpc.status_code": 5}, True, False, id="grpc-not-found-is-an-answer"),
        pytest.param({"rpc.grpc.status_code": 14}, True, True, id="grpc-unavailable"),
        pytest.param({"http.response.status_code": 200}, False, False, id="success"),
    ],
)
def test_call_failed(attrs, error, expected):
    assert call_failed(_client(attrs, error=error)) is expected


# -- what-if -----------------------------------------------------------------------------------


def _audit_span(trace):
    return next(s for s in trace.spans.values()
                if s.kind is SpanKind.CLIENT and s.start_ns - trace.root.start_ns == 40 * MS)


@pytest.mark.parametrize(
    ("cache_during_audit", "saved_ms"),
    [
        # gateway |0..100|, audit 40..90: answered at 50 instead of 100.
        pytest.param(False, 50, id="alone"),
        # a cache read 50..70 still holds the gateway until 70: 70..90 is saved.
        pytest.param(True, 20, id="behind-a-concurrent-read"),
    ],
)
def test_what_if_saving_is_exact_on_a_drawn_trace(cache_during_audit, saved_ms):
    b = TraceBuilder()
    transfer(b, 0, cache_during_audit=cache_during_audit)
    [trace] = traces(b)
    assert trace.root.start_ns == T0
    assert what_if_saved_ns(trace, trace.root.span_id, _audit_span(trace)) == saved_ms * MS


def test_what_if_saving_of_a_call_off_the_critical_path_is_zero():
    # The ledger read 5..30 hides behind nothing, but the cache 50..70 hides behind the audit.
    b = TraceBuilder()
    transfer(b, 0, cache_during_audit=True)
    [trace] = traces(b)
    cache = next(s for s in trace.spans.values()
                 if s.kind is SpanKind.CLIENT and s.start_ns - T0 == 50 * MS)
    assert what_if_saved_ns(trace, trace.root.span_id, cache) == 0


def test_observations_of_one_trace():
    b = TraceBuilder()
    transfer(b, 0, audit_fails=True, read_after=True)
    [trace] = traces(b)
    observed = observe_calls(trace_context(trace))
    assert [(o.key.server, o.key.operation, o.kind, o.failed, o.caller_failed, o.on_critical,
             o.followed, o.declared_ms, o.saved_ns) for o in observed] == [
        ("ledger", "POST /entries", "write", False, False, True, True, 2000.0, 0),
        ("audit", "POST /audit", "write", True, False, True, True, 2000.0, 0),
        ("ledger", "GET /balance", "read", False, False, True, False, 2000.0, None),
    ]


# -- the aggregate -----------------------------------------------------------------------------


def _contexts(requests: int):
    b = TraceBuilder()
    for i in range(requests):
        transfer(b, i, audit_fails=i % 3 == 0, cache_during_audit=i % 2 == 0)
    return [trace_context(t) for t in traces(b)]


def test_merging_aggregates_equals_folding_every_trace_into_one():
    contexts = _contexts(6)
    whole = CallAggregate()
    for ctx in contexts:
        whole.add(ctx)
    left, right = CallAggregate(), CallAggregate()
    for ctx in contexts[:2]:
        left.add(ctx)
    for ctx in contexts[2:]:
        right.add(ctx)
    right.merge(left)  # the other order: fold order must not matter
    assert right == whole
    assert right.to_dict() == whole.to_dict()


def test_snapshot_round_trips_through_json():
    whole = CallAggregate(("x-deadline",))
    for ctx in _contexts(4):
        whole.add(ctx)
    restored = CallAggregate.from_dict(json.loads(json.dumps(whole.to_dict())))
    assert restored == whole
    assert restored.timeout_keys == ("x-deadline",)


def test_aggregate_counts_per_call_and_endpoint_depths():
    whole = CallAggregate()
    for ctx in _contexts(6):
        whole.add(ctx)
    audit = next(stats for key, stats in whole.calls.items() if key.server == "audit")
    assert (audit.calls, audit.errors, audit.tolerated, audit.writes, audit.followed) == (6, 2, 2, 6, 0)
    assert audit.savings.quantile(0.5) == 20 * MS  # three of six traces have the cache read
    assert audit.savings.quantile(1.0) == 50 * MS
    [(endpoint, depths)] = whole.endpoints.items()
    assert (str(endpoint), depths.traces, depths.depths) == ("gateway POST /transfers", 6, {2: 6})
