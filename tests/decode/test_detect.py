"""Auto-detection by content, and what malformed input is told."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from analyzer.decode import DecodeError, decode

T, A = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"


def protobuf_request() -> bytes:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes.fromhex(T), bytes.fromhex(A), "x" * 200
    return request.SerializeToString()


def _delimited(tag: bytes, payload: bytes) -> bytes:
    assert len(payload) < 0x80
    return tag + bytes([len(payload)]) + payload


def request_with_span_field(tag: bytes, payload: bytes) -> bytes:
    """A request with one valid span plus one raw length-delimited field."""
    span = (_delimited(b"\x0a", bytes.fromhex(T)) + _delimited(b"\x12", bytes.fromhex(A))
            + _delimited(tag, payload))
    return _delimited(b"\x0a", _delimited(b"\x12", _delimited(b"\x12", span)))


OTLP_REQUEST = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": T, "spanId": A}]}]}]}
JAEGER_DOC = {"data": [{"traceID": T, "spans": [
    {"traceID": T, "spanID": A, "startTime": 1, "duration": 1, "processID": "p1"}],
    "processes": {"p1": {"serviceName": "s"}}}]}
ZIPKIN_DOC = [{"traceId": T, "id": A, "timestamp": 1}]

DETECTION = [
    pytest.param(protobuf_request(), "otlp-protobuf", id="protobuf"),
    pytest.param(json.dumps(OTLP_REQUEST).encode(), "otlp-json", id="otlp-json"),
    pytest.param(b"\xef\xbb\xbf\n  " + json.dumps(OTLP_REQUEST, indent=2).encode(), "otlp-json",
                 id="otlp-json-bom-and-blanks"),
    pytest.param(json.dumps({"resource_spans": []}).encode(), "otlp-json",
                 id="otlp-json-snake-empty"),
    pytest.param((json.dumps(OTLP_REQUEST) + "\n") * 3, "otlp-jsonl", id="otlp-jsonl"),
    pytest.param(json.dumps(JAEGER_DOC).encode(), "jaeger-json", id="jaeger-ui-download"),
    pytest.param(json.dumps(JAEGER_DOC["data"][0]).encode(), "jaeger-json",
                 id="jaeger-single-trace"),
    pytest.param(json.dumps(ZIPKIN_DOC).encode(), "zipkin-json", id="zipkin"),
    pytest.param(json.dumps([ZIPKIN_DOC]).encode(), "zipkin-json", id="zipkin-list-of-traces"),
    pytest.param(b"[]", "zipkin-json", id="empty-zipkin-list"),
]


@pytest.mark.parametrize(("data", "expected"), DETECTION)
def test_detects_format_from_content(data, expected):
    if isinstance(data, str):
        data = data.encode()
    decoded = decode(data)
    assert decoded.format == expected
    assert decoded.invalid_spans == 0
    assert decoded.issues == {}


def test_protobuf_starting_with_newline_and_brace_is_not_json():
    """0x0a (newline) is OTLP's first tag; a 123-byte ResourceSpans puts '{' right after it."""
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id = bytes.fromhex(T), bytes.fromhex(A)
    span.name = "n" * 89  # makes the ResourceSpans exactly 123 (0x7b, '{') bytes long
    data = request.SerializeToString()
    assert data[:2] == b"\n{"
    assert decode(data).format == "otlp-protobuf"


MALFORMED = [
    pytest.param(b"", "the input is empty", id="empty"),
    pytest.param(b" \n\t ", "the input is empty", id="blank"),
    pytest.param(protobuf_request()[:-40], "not valid OTLP protobuf", id="truncated-protobuf"),
    pytest.param(bytes(range(256)) * 4, "not valid OTLP protobuf", id="random-bytes"),
    pytest.param(b"\x08\x96\x01", "no OTLP resource spans found", id="protobuf-of-another-message"),
    pytest.param(b"hello, world", "not valid OTLP protobuf", id="plain-text"),
    # A span whose status is a truncated varint, and one whose kept attribute has a cut
    # value: the slim parse keeps both as raw bytes, so the decoder checks them as it reads.
    pytest.param(request_with_span_field(b"\x7a", b"\x18"), "malformed span status",
                 id="protobuf-bad-status"),
    pytest.param(request_with_span_field(b"\x4a", b"\x0a\x0cpeer.service\x12\x05"), "malformed attribute",
                 id="protobuf-bad-attribute"),
    pytest.param(json.dumps(OTLP_REQUEST).encode()[:-7], "invalid JSON at line 1", id="truncated-json"),
    pytest.param(b'{"traces": []}', "JSON of an unknown shape", id="object-of-wrong-shape"),
    pytest.param(b"[1, 2]", "got an array of int", id="array-of-numbers"),
    pytest.param(b'{"resourceSpans": {"a": 1}}', '"resourceSpans" must be an array',
                 id="resource-spans-not-a-list"),
    pytest.param(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": T, "spanId": A, "startTimeUnixNano": "soon"}]}]}]}).encode(),
        f"resourceSpans[0].scopeSpans[0].spans[0] (span {A}): \"startTimeUnixNano\" must be an "
        "integer",
        id="otlp-json-bad-time"),
    pytest.param((json.dumps(OTLP_REQUEST) + "\n{oops\n").encode(),
                 "line 2 is not valid JSON", id="jsonl-bad-line"),
    pytest.param(b'{"data": [{"spans": [{"traceID": "ab", "spanID": "cd", "startTime": "x"}]}]}',
                 'not a valid Jaeger JSON trace: data[0].spans[0] (span cd): "startTime" must be an '
                 "integer number of microseconds, got 'x'", id="jaeger-bad-time"),
    pytest.param(b'{"data": [{"spans": {}}]}', '"spans" must be an array', id="jaeger-spans-object"),
    pytest.param(b'[{"traceId": "ab", "id": "cd", "binaryAnnotations": []}]', "Zipkin v1",
                 id="zipkin-v1"),
    pytest.param(b'{"a": "\xff"}', "not UTF-8", id="json-not-utf8"),
    pytest.param(b"[" * 100_000, "", id="deeply-nested-json"),
]


@pytest.mark.parametrize(("data", "fragment"), MALFORMED)
def test_malformed_input_is_a_clear_decode_error(data, fragment):
    with pytest.raises(DecodeError) as raised:
        decode(data, source="traces/bad.bin")
    message = str(raised.value)
    assert message.startswith("traces/bad.bin: ")
    assert fragment in message
    assert "Traceback" not in message


def test_decode_error_is_a_value_error():
    assert issubclass(DecodeError, ValueError)


def test_decode_rejects_text_with_a_type_error():
    with pytest.raises(TypeError, match="takes bytes"):
        decode("{}")  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_decode_or_raise_decode_error(data):
    try:
        decoded = decode(data)
    except DecodeError as exc:
        assert str(exc).startswith("<bytes>: ")
    else:
        assert decoded.format in ("otlp-protobuf", "zipkin-json", "otlp-json", "jaeger-json",
                                  "otlp-jsonl")


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=len(protobuf_request()) - 1))
def test_every_protobuf_truncation_is_a_decode_error(cut):
    with pytest.raises(DecodeError):
        decode(protobuf_request()[:cut])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["resourceSpans", "scopeSpans", "spans", "data", "traceId", "spanId",
                        "traceID", "spanID", "references", "tags", "kind", "id", "attributes",
                        "value", "processes", "startTimeUnixNano", "timestamp", "status"]),
        inner, max_size=4),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_json_of_any_shape_decodes_or_raises_decode_error(document):
    try:
        decode(json.dumps(document).encode())
    except DecodeError:
        pass
