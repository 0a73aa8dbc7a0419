"""OTLP protobuf: exact spans from hand-built requests, and SDK-recorded traces that decode
identically from protobuf, OTLP/JSON and OTLP/JSON lines."""

from __future__ import annotations

import base64
import json
from types import MappingProxyType

import pytest
from google.protobuf.descriptor import FieldDescriptor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from analyzer.decode import ANALYSIS_ATTRIBUTES, decode
from bench import bench_decode
from bench.bench_decode import build_request
from analyzer.model import Event, Link, Span, SpanKind, StatusCode
from tests.support.sdk import TraceBuilder

T, A, B, C = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173", "0a0b0c0d0e0f0102"

_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64,
          FieldDescriptor.TYPE_SFIXED64, FieldDescriptor.TYPE_SINT64}
_HEX_IDS = {"trace_id", "span_id", "parent_span_id"}


def otlp_json(message) -> dict:
    """A protobuf message written as the OTLP specification's JSON: lowerCamelCase keys,
    hex trace/span ids, integer enums, 64-bit integers as strings, other bytes base64."""
    out = {}
    for field, value in message.ListFields():
        def scalar(v, field=field):
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                return otlp_json(v)
            if field.type == FieldDescriptor.TYPE_BYTES:
                return v.hex() if field.name in _HEX_IDS else base64.b64encode(v).decode()
            if field.type in _INT64:
                return str(v)
            return v  # enums are already ints; strings, bools, doubles as they are
        # ``is_repeated`` replaced ``label`` in protobuf 6; accept both within our range.
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == 3
        out[field.json_name] = [scalar(v) for v in value] if repeated else scalar(value)
    return out


def kv(key: str, **value) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def hand_built(odd_kind: int = 9) -> bytes:
    """A request of edge cases; its span "odd" has the kind number ``odd_kind`` (by
    default 9, outside OTLP's enum: it reads as INTERNAL and is counted)."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend([kv("host.name", string_value="h1"),
                                   kv("service.name", string_value="payments")])
    spans = rs.scope_spans.add().spans
    s = spans.add(trace_id=bytes.fromhex(T), span_id=bytes.fromhex(A), name="POST /pay", kind=2,
                  start_time_unix_nano=100, end_time_unix_nano=900)
    s.attributes.extend([
        kv("http.request.method", string_value="POST"),
        kv("http.response.status_code", int_value=503),
        kv("rpc.grpc.status_code", int_value=-1),
        kv("db.system", string_value="x" * 300),  # longer than a one-byte length
        kv("server.address", bool_value=True),
        kv("messaging.system", double_value=1.5),
        kv("peer.service", bytes_value=b"\x00\xff"),
        kv("http.route", array_value={"values": [AnyValue(string_value="a"), AnyValue(int_value=2)]}),
        kv("error.type", kvlist_value={"values": [kv("k", string_value="v")]}),
        kv("url.path"),  # an empty AnyValue: dropped
        kv("user_agent.original", string_value="curl"),  # not analysed: dropped
    ])
    s.status.code, s.status.message = 2, "unavailable"
    s.events.add(time_unix_nano=500, name="exception").attributes.extend(
        [kv("exception.type", string_value="Unavailable"),
         kv("exception.stacktrace", string_value="...")])
    s.events.add(time_unix_nano=600, name="log")
    s.links.add(trace_id=bytes.fromhex(T), span_id=bytes.fromhex(C))
    s.links.add(trace_id=bytes(16), span_id=bytes.fromhex(C))  # invalid link: dropped
    spans.add(trace_id=bytes.fromhex(T), span_id=bytes.fromhex(B), parent_span_id=bytes.fromhex(A),
              name="charge", kind=0, start_time_unix_nano=200, end_time_unix_nano=300)
    spans.add(trace_id=bytes.fromhex(T), span_id=bytes.fromhex(C), parent_span_id=bytes(8),
              name="odd", kind=odd_kind, start_time_unix_nano=1, end_time_unix_nano=2).status.code = 1
    spans.add(trace_id=bytes.fromhex(T), span_id=bytes(8), name="zero span id")
    spans.add(trace_id=bytes.fromhex(T)[:8], span_id=bytes.fromhex(A), name="short trace id")
    spans.add(trace_id=bytes.fromhex(T), span_id=bytes.fromhex(C), parent_span_id=b"\x01",
              name="short parent id")
    scope = request.resource_spans.add().scope_spans.add()  # a resource without service.name
    scope.spans.add(trace_id=bytes.fromhex(T), span_id=bytes.fromhex(C), name="anon",
                    start_time_unix_nano=5, end_time_unix_nano=6)
    return request.SerializeToString()


EXPECTED = [
    Span(T, A, None, "payments", "POST /pay", SpanKind.SERVER, 100, 900, StatusCode.ERROR,
         MappingProxyType({
             "http.request.method": "POST", "http.response.status_code": 503,
             "rpc.grpc.status_code": -1, "db.system": "x" * 300, "server.address": True,
             "messaging.system": 1.5, "peer.service": "AP8=", "http.route": ("a", 2),
             "error.type": (("k", "v"),)}),
         (Link(T, C),),
         (Event("exception", 500, MappingProxyType({"exception.type": "Unavailable"})),)),
    Span(T, B, A, "payments", "charge", SpanKind.INTERNAL, 200, 300),
    Span(T, C, None, "payments", "odd", SpanKind.INTERNAL, 1, 2, StatusCode.OK),
    Span(T, C, None, "unknown_service", "anon", SpanKind.INTERNAL, 5, 6),
]


def test_hand_built_request_decodes_to_exact_spans():
    decoded = decode(hand_built())
    assert decoded.format == "otlp-protobuf"
    assert decoded.spans == EXPECTED
    assert decoded.invalid_spans == 3
    assert decoded.issues == {"invalid_id": 3, "unknown_kind": 1}


def test_hand_built_request_reads_the_same_as_otlp_json():
    document = otlp_json(ExportTraceServiceRequest.FromString(hand_built()))
    assert document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"] == "100"
    decoded = decode(json.dumps(document).encode())
    assert (decoded.format, decoded.spans, decoded.invalid_spans) == ("otlp-json", EXPECTED, 3)
    assert decoded.issues == {"invalid_id": 3, "unknown_kind": 1}


def test_keep_all_attributes_keeps_every_attribute_and_event():
    span = decode(hand_built(), keep_attributes=None).spans[0]
    assert span.attributes["user_agent.original"] == "curl"
    assert "url.path" not in span.attributes
    assert [(e.name, dict(e.attributes)) for e in span.events] == [
        ("exception", {"exception.type": "Unavailable", "exception.stacktrace": "..."}),
        ("log", {})]


def test_decoded_spans_are_real_frozen_spans():
    span = decode(hand_built()).spans[0]
    assert type(span) is Span
    with pytest.raises(AttributeError):
        span.name = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        span.attributes["db.system"] = "changed"  # type: ignore[index]


def bank_trace() -> TraceBuilder:
    """A transfer through three services, drawn in nanoseconds::

        gateway   POST /transfer  [0 ............................... 100]
        gateway     POST accounts   [5 ............. 60]
        accounts      POST /debit     [8 ......... 58]
        accounts        sqlite UPDATE   [10 .. 30]          (error, exception)
        accounts      publish ledger                 [61 . 65]
        ledger          consume ledger                      [70 .. 90]  (child, linked)
    """
    b = TraceBuilder()
    ms = 1_000_000
    with b.span("gateway", "POST /transfer", 0, 100 * ms, kind="server",
                attributes={"http.request.method": "POST", "http.route": "/transfer",
                            "http.response.status_code": 200, "user.id": "u-1"}):
        with b.span("gateway", "POST accounts", 5 * ms, 60 * ms, kind="client",
                    attributes={"http.request.method": "POST", "server.address": "accounts",
                                "http.request.header.x-bank-timeout-ms": ("2000",)}):
            with b.span("accounts", "POST /debit", 8 * ms, 58 * ms, kind="server",
                        attributes={"http.route": "/debit"}):
                with b.span("accounts", "sqlite UPDATE", 10 * ms, 30 * ms, kind="client",
                            attributes={"db.system": "sqlite", "db.name": "bank",
                                        "retries": 2, "ratio": 0.5, "ok": False},
                            error=True) as db:
                    db.record_exception(TimeoutError("database is locked"), timestamp=29 * ms)
        with b.span("gateway", "publish ledger", 61 * ms, 65 * ms, kind="producer",
                    attributes={"messaging.system": "inproc"}) as producer:
            pass
        with b.span("ledger", "consume ledger", 70 * ms, 90 * ms, kind="consumer",
                    parent=producer, links=[producer]):
            pass
    return b


def test_sdk_trace_decodes_as_drawn():
    spans = {s.name: s for s in decode(bank_trace().otlp_protobuf()).spans}
    root = spans["POST /transfer"]
    assert (root.parent_id, root.service, root.kind, root.start_ns, root.end_ns) == (
        None, "gateway", SpanKind.SERVER, 0, 100_000_000)
    assert root.attributes == {"http.request.method": "POST", "http.route": "/transfer",
                               "http.response.status_code": 200}
    assert spans["POST /debit"].parent_id == spans["POST accounts"].span_id
    assert spans["POST accounts"].attributes["http.request.header.x-bank-timeout-ms"] == ("2000",)
    db = spans["sqlite UPDATE"]
    assert (db.service, db.status, db.attributes) == (
        "accounts", StatusCode.ERROR, {"db.system": "sqlite", "db.name": "bank"})
    assert db.events == (Event("exception", 29_000_000, MappingProxyType({
        "exception.type": "TimeoutError", "exception.message": "database is locked"})),)
    consumer = spans["consume ledger"]
    assert consumer.parent_id == spans["publish ledger"].span_id
    assert consumer.links == (Link(consumer.trace_id, spans["publish ledger"].span_id),)
    assert len({s.trace_id for s in spans.values()}) == 1


@pytest.mark.parametrize("keep", [pytest.param(None, id="keep-all"),
                                  pytest.param(frozenset({"retries", "http.route"}), id="keep-some"),
                                  pytest.param(frozenset(), id="keep-none")])
def test_sdk_trace_round_trips_through_otlp_json_and_json_lines(keep):
    data = bank_trace().otlp_protobuf()
    document = otlp_json(ExportTraceServiceRequest.FromString(data))
    from_protobuf = decode(data, keep_attributes=keep)
    from_json = decode(json.dumps(document).encode(), keep_attributes=keep)
    # The Collector's file exporter writes one request per line; split the resources.
    lines = "\n".join(json.dumps({"resourceSpans": [rs]}) for rs in document["resourceSpans"])
    from_lines = decode(lines.encode(), keep_attributes=keep)
    assert (from_protobuf.format, from_json.format, from_lines.format) == (
        "otlp-protobuf", "otlp-json", "otlp-jsonl")
    assert len(from_protobuf.spans) == 6
    assert from_json.spans == from_protobuf.spans
    assert sorted(from_lines.spans, key=lambda s: s.span_id) == \
        sorted(from_protobuf.spans, key=lambda s: s.span_id)


@pytest.mark.parametrize("keep", [pytest.param(None, id="keep-all"),
                                  pytest.param(ANALYSIS_ATTRIBUTES, id="analysis")])
def test_large_varied_batch_reads_the_same_from_protobuf_and_otlp_json(keep):
    """The benchmark's batch (8 services, repeated and unique attribute values, arrays,
    exceptions, links) exercises the protobuf decoder's per-request attribute cache."""
    request = build_request(spans_per_resource=120)
    from_protobuf = decode(request.SerializeToString(), keep_attributes=keep)
    from_json = decode(json.dumps(otlp_json(request)).encode(), keep_attributes=keep)
    assert len(from_protobuf.spans) == 8 * 120
    assert from_protobuf.spans == from_json.spans
    assert sum(len(s.links) for s in from_protobuf.spans) == 8 * 20  # every 6th span consumes
    assert any(s.events for s in from_protobuf.spans)


def test_benchmark_quick_run_reports_every_measurement():
    report = bench_decode.run(quick=True)
    for line in ("bare protobuf parse (reference)", "decode otlp-protobuf → spans",
                 "decode otlp-json → spans", "decode jaeger-json → spans"):
        assert line in report
    assert ("PASS: " in report) != ("FAIL: " in report)
