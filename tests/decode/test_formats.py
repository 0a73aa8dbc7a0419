"""Each format decodes small hand-written inputs to exactly these spans."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from analyzer.decode import decode
from analyzer.model import Event, Link, Span, SpanKind, StatusCode

T = "5b8efff798038103d269b633813fc60c"
T64 = "d269b633813fc60c"  # a 64-bit trace id (Jaeger, Zipkin) and its 128-bit form below
T64_FULL = "0000000000000000d269b633813fc60c"
A, B, C = "eee19b7ec3c1b174", "eee19b7ec3c1b173", "0000000000000abc"


def attrs(**values):
    return MappingProxyType({k.replace("__", "."): v for k, v in values.items()})


def otlp_json(spans: list[dict], service: str | None = "checkout") -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]} \
        if service else {}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [
        {"scope": {"name": "lib"}, "spans": spans}]}]}).encode()


OTLP_JSON_CASES = [
    pytest.param(
        otlp_json([{
            "traceId": T.upper(), "spanId": A, "parentSpanId": B, "name": "GET /cart",
            "kind": 2, "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": 1544712661000000000, "status": {"code": 2, "message": "boom"},
            "attributes": [
                {"key": "http.request.method", "value": {"stringValue": "GET"}},
                {"key": "http.response.status_code", "value": {"intValue": "500"}},
                {"key": "not.analysed", "value": {"stringValue": "dropped"}},
                {"key": "http.request.header.x-bank-timeout-ms",
                 "value": {"arrayValue": {"values": [{"stringValue": "2000"}]}}},
            ],
            "events": [
                {"timeUnixNano": "1544712660500000000", "name": "exception", "attributes": [
                    {"key": "exception.type", "value": {"stringValue": "TimeoutError"}},
                    {"key": "exception.stacktrace", "value": {"stringValue": "..."}}]},
                {"timeUnixNano": "1544712660600000000", "name": "retry"},
            ],
            "links": [{"traceId": T, "spanId": C}],
            "droppedAttributesCount": 3, "futureField": {"x": 1},
        }]),
        [Span(T, A, B, "checkout", "GET /cart", SpanKind.SERVER, 1544712660000000000,
              1544712661000000000, StatusCode.ERROR,
              attrs(http__request__method="GET", http__response__status_code=500,
                    **{"http.request.header.x-bank-timeout-ms": ("2000",)}),
              (Link(T, C),),
              (Event("exception", 1544712660500000000, attrs(exception__type="TimeoutError")),))],
        id="everything-camelCase",
    ),
    pytest.param(
        otlp_json([{"trace_id": T, "span_id": A, "parent_span_id": "", "name": "job",
                    "kind": 0, "start_time_unix_nano": 10, "end_time_unix_nano": 20,
                    "status": {"code": 1}}], service=None),
        [Span(T, A, None, "unknown_service", "job", SpanKind.INTERNAL, 10, 20, StatusCode.OK)],
        id="snake_case-unspecified-kind-no-service",
    ),
    pytest.param(
        otlp_json([{"traceId": T, "spanId": A, "parentSpanId": "0000000000000000", "name": "q",
                    "kind": "SPAN_KIND_CONSUMER", "startTimeUnixNano": "1",
                    "endTimeUnixNano": "2",
                    "attributes": [{"key": "messaging.system", "value": {"stringValue": "kafka"}},
                                   {"key": "db.system", "value": {}}]}]),
        [Span(T, A, None, "checkout", "q", SpanKind.CONSUMER, 1, 2,
              attributes=attrs(messaging__system="kafka"))],
        id="zero-parent-is-root-enum-name-empty-value-dropped",
    ),
]


@pytest.mark.parametrize(("data", "expected"), OTLP_JSON_CASES)
def test_otlp_json(data, expected):
    decoded = decode(data)
    assert decoded.format == "otlp-json"
    assert decoded.spans == expected
    assert decoded.invalid_spans == 0


def test_otlp_json_keep_all_keeps_every_attribute_and_event():
    decoded = decode(OTLP_JSON_CASES[0].values[0], keep_attributes=None)
    span = decoded.spans[0]
    assert span.attributes["not.analysed"] == "dropped"
    assert [e.name for e in span.events] == ["exception", "retry"]
    assert span.events[0].attributes == {"exception.type": "TimeoutError",
                                         "exception.stacktrace": "..."}


def test_otlp_json_caller_keys_extend_the_kept_set():
    decoded = decode(OTLP_JSON_CASES[0].values[0], keep_attributes=frozenset({"not.analysed"}))
    assert decoded.spans[0].attributes == {"not.analysed": "dropped"}


def test_otlp_json_lines_reads_one_request_per_line():
    first = otlp_json([{"traceId": T, "spanId": A, "name": "a", "kind": 2,
                        "startTimeUnixNano": "1", "endTimeUnixNano": "5"}])
    second = otlp_json([{"traceId": T, "spanId": C, "parentSpanId": A, "name": "b", "kind": 3,
                         "startTimeUnixNano": "2", "endTimeUnixNano": "4"}], service="cart")
    decoded = decode(first + b"\n" + second + b"\n\n")
    assert decoded.format == "otlp-jsonl"
    assert decoded.spans == [
        Span(T, A, None, "checkout", "a", SpanKind.SERVER, 1, 5),
        Span(T, C, A, "cart", "b", SpanKind.CLIENT, 2, 4),
    ]


def jaeger(spans: list[dict], processes: dict | None = None) -> bytes:
    return json.dumps({"data": [{"traceID": T64, "spans": spans, "processes": processes or {
        "p1": {"serviceName": "frontend", "tags": []},
        "p2": {"serviceName": "redis-client", "tags": []}}, "warnings": None}],
        "total": 0, "limit": 0, "offset": 0, "errors": None}).encode()


JAEGER_CASES = [
    pytest.param(
        jaeger([{"traceID": T64, "spanID": A, "operationName": "HTTP GET /dispatch",
                 "references": [], "startTime": 1000, "duration": 250, "processID": "p1",
                 "tags": [{"key": "span.kind", "type": "string", "value": "server"},
                          {"key": "http.method", "type": "string", "value": "GET"},
                          {"key": "http.status_code", "type": "int64", "value": 200},
                          {"key": "sampler.param", "type": "bool", "value": True}],
                 "logs": [], "warnings": ["clock skew adjusted"]}]),
        [Span(T64_FULL, A, None, "frontend", "HTTP GET /dispatch", SpanKind.SERVER, 1_000_000,
              1_250_000, attributes=attrs(http__method="GET", http__status_code=200))],
        id="root-server-64bit-trace-id-padded",
    ),
    pytest.param(
        jaeger([{"traceID": T64, "spanID": C, "operationName": "GetDriver",
                 "references": [{"refType": "CHILD_OF", "traceID": T64, "spanID": A}],
                 "startTime": 1100, "duration": 10, "processID": "p2",
                 "tags": [{"key": "span.kind", "type": "string", "value": "client"},
                          {"key": "error", "type": "bool", "value": True},
                          {"key": "db.system", "type": "string", "value": "redis"}],
                 "logs": [{"timestamp": 1105, "fields": [
                     {"key": "event", "type": "string", "value": "exception"},
                     {"key": "exception.type", "type": "string", "value": "RedisTimeout"},
                     {"key": "exception.message", "type": "string", "value": "timed out"}]},
                     {"timestamp": 1106, "fields": [
                         {"key": "event", "type": "string", "value": "retrying"}]}]}]),
        [Span(T64_FULL, C, A, "redis-client", "GetDriver", SpanKind.CLIENT, 1_100_000, 1_110_000,
              StatusCode.ERROR, attrs(db__system="redis"), (),
              (Event("exception", 1_105_000, attrs(exception__type="RedisTimeout",
                                                   exception__message="timed out")),))],
        id="child-of-error-tag-exception-log",
    ),
    pytest.param(
        jaeger([{"traceID": T, "spanID": C, "operationName": "consume",
                 "references": [{"refType": "FOLLOWS_FROM", "traceID": T, "spanID": A},
                                {"refType": "FOLLOWS_FROM", "traceID": T, "spanID": B}],
                 "startTime": 5, "duration": 1, "processID": "p9",
                 "tags": [{"key": "span.kind", "type": "string", "value": "consumer"},
                          {"key": "otel.status_code", "type": "string", "value": "OK"}]}]),
        [Span(T, C, A, "unknown_service", "consume", SpanKind.CONSUMER, 5000, 6000,
              StatusCode.OK, links=(Link(T, B),), follows_from=True)],
        id="follows-from-parent-other-refs-links-unknown-process",
    ),
    pytest.param(
        jaeger([{"traceID": T, "spanID": B, "operationName": "work",
                 "references": [{"refType": "FOLLOWS_FROM", "traceID": T, "spanID": C},
                                {"refType": "CHILD_OF", "traceID": T, "spanID": A}],
                 "startTime": 5, "duration": 0, "processID": "p1"}]),
        [Span(T, B, A, "frontend", "work", SpanKind.INTERNAL, 5000, 5000,
              links=(Link(T, C),))],
        id="child-of-wins-over-earlier-follows-from",
    ),
]


@pytest.mark.parametrize(("data", "expected"), JAEGER_CASES)
def test_jaeger(data, expected):
    decoded = decode(data)
    assert decoded.format == "jaeger-json"
    assert decoded.spans == expected


def zipkin(spans: list[dict]) -> bytes:
    return json.dumps(spans).encode()


ZIPKIN_CASES = [
    pytest.param(
        zipkin([{"traceId": T64, "id": A, "name": "get /api", "kind": "SERVER",
                 "timestamp": 1_000, "duration": 300,
                 "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1"},
                 "remoteEndpoint": {"ipv4": "10.0.0.9", "port": 51234},
                 "tags": {"http.method": "GET", "http.status_code": "200", "other": "x"}}]),
        [Span(T64_FULL, A, None, "frontend", "get /api", SpanKind.SERVER, 1_000_000, 1_300_000,
              attributes=attrs(http__method="GET", http__status_code=200))],
        id="server-root-status-code-as-int",
    ),
    pytest.param(
        zipkin([{"traceId": T, "id": C, "parentId": A, "name": "select", "kind": "CLIENT",
                 "timestamp": 1_010, "duration": 5,
                 "localEndpoint": {"serviceName": "backend"},
                 "remoteEndpoint": {"serviceName": "mysql", "ipv4": "10.0.0.7", "port": 3306},
                 "annotations": [{"timestamp": 1_012, "value": json.dumps(
                     {"exception": {"exception.type": "OperationalError"}})},
                     {"timestamp": 1_013, "value": "wr"}],
                 "tags": {"error": "connection reset", "db.system": "mysql"}}]),
        [Span(T, C, A, "backend", "select", SpanKind.CLIENT, 1_010_000, 1_015_000,
              StatusCode.ERROR,
              attrs(db__system="mysql", peer__service="mysql", server__address="10.0.0.7"),
              (), (Event("exception", 1_012_000, attrs(exception__type="OperationalError")),))],
        id="client-remote-endpoint-error-tag-exception-annotation",
    ),
    pytest.param(
        zipkin([{"traceId": T, "id": B, "parentId": A, "name": "send", "kind": "PRODUCER",
                 "timestamp": 7, "duration": 1,
                 "remoteEndpoint": {"serviceName": "rabbitmq"},
                 "annotations": [{"timestamp": 7, "value": 'exception:{"exception.type": "E"}'}],
                 "tags": {"otel.status_code": "OK", "peer.service": "orders-queue"}}]),
        [Span(T, B, A, "unknown_service", "send", SpanKind.PRODUCER, 7000, 8000, StatusCode.OK,
              attrs(peer__service="orders-queue"), (),
              (Event("exception", 7000, attrs(exception__type="E")),))],
        id="producer-tag-beats-remote-endpoint-java-style-annotation",
    ),
    pytest.param(
        zipkin([{"traceId": T, "id": A, "name": "local", "timestamp": 1, "duration": 2,
                 "localEndpoint": {"serviceName": "worker"}}]),
        [Span(T, A, None, "worker", "local", SpanKind.INTERNAL, 1000, 3000)],
        id="no-kind-is-internal",
    ),
]


@pytest.mark.parametrize(("data", "expected"), ZIPKIN_CASES)
def test_zipkin(data, expected):
    decoded = decode(data)
    assert decoded.format == "zipkin-json"
    assert decoded.spans == expected


def test_zipkin_list_of_traces_is_flattened():
    one = json.loads(ZIPKIN_CASES[0].values[0])
    two = json.loads(ZIPKIN_CASES[3].values[0])
    decoded = decode(json.dumps([one, two]).encode())
    assert [s.name for s in decoded.spans] == ["get /api", "local"]


INVALID_ID_CASES = [
    pytest.param(otlp_json([{"traceId": "00" * 16, "spanId": A}]), id="otlp-json-zero-trace"),
    pytest.param(otlp_json([{"traceId": T, "spanId": A[:-2]}]), id="otlp-json-short-span"),
    pytest.param(otlp_json([{"traceId": T, "spanId": "zz" * 8}]), id="otlp-json-non-hex"),
    pytest.param(otlp_json([{"traceId": T, "spanId": A, "parentSpanId": "abc"}]),
                 id="otlp-json-bad-parent"),
    pytest.param(otlp_json([{"spanId": A}]), id="otlp-json-missing-trace"),
    pytest.param(jaeger([{"traceID": T, "spanID": "x" * 16, "processID": "p1"}]),
                 id="jaeger-non-hex"),
    pytest.param(zipkin([{"traceId": T + "00", "id": A}]), id="zipkin-trace-too-long"),
    pytest.param(zipkin([{"traceId": T, "id": "0" * 16}]), id="zipkin-zero-span"),
]


@pytest.mark.parametrize("data", INVALID_ID_CASES)
def test_span_with_invalid_id_is_skipped_and_counted(data):
    good = {"otlp": {"traceId": T, "spanId": C, "name": "ok"},
            "jaeger": {"traceID": T, "spanID": C, "processID": "p1", "startTime": 1,
                       "duration": 1},
            "zipkin": {"traceId": T, "id": C, "timestamp": 1}}
    document = json.loads(data)
    if "resourceSpans" in document:
        document["resourceSpans"][0]["scopeSpans"][0]["spans"].append(good["otlp"])
    elif "data" in document:
        document["data"][0]["spans"].append(good["jaeger"])
    else:
        document.append(good["zipkin"])
    decoded = decode(json.dumps(document).encode())
    assert decoded.invalid_spans == 1
    assert decoded.issues == {"invalid_id": 1}
    assert decoded.warnings() == ["skipped 1 span(s) with invalid ids"]
    assert [s.span_id for s in decoded.spans] == [C]
