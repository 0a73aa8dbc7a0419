"""Malformed spans (issue 2): what each decoder skips and counts, what it keeps with a
default and counts, and what rejects the whole file with a message naming the field and
the span.

The rule, as for invalid ids (ARCHITECTURE.md §2): a span missing something without which
it cannot be analysed is skipped and counted, one bad span never costs the rest of the
file; a value of the wrong type is malformed input, and the file is rejected with a
clear error.
"""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from analyzer.decode import DecodeError, Decoded, decode
from analyzer.decode.otlp_protobuf import python_decode
from analyzer.model import Span, SpanKind, StatusCode

T, A, B = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173"


def jaeger(*spans: dict) -> bytes:
    return json.dumps({"data": [{"traceID": T, "spans": list(spans),
                                 "processes": {"p1": {"serviceName": "frontend"}}}]}).encode()


def jaeger_span(span_id: str = A, **fields) -> dict:
    return {"traceID": T, "spanID": span_id, "operationName": "op", "processID": "p1",
            "startTime": 1000, "duration": 5, **fields}


def without(mapping: dict, key: str) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


def zipkin(*spans: dict) -> bytes:
    return json.dumps(list(spans)).encode()


def zipkin_span(span_id: str = A, **fields) -> dict:
    return {"traceId": T, "id": span_id, "name": "op", "timestamp": 1000, "duration": 5,
            "localEndpoint": {"serviceName": "frontend"}, **fields}


def otlp_json(*spans: dict) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}).encode()


def otlp_span(span_id: str = A, **fields) -> dict:
    return {"traceId": T, "spanId": span_id, "name": "op", "startTimeUnixNano": "1000",
            "endTimeUnixNano": "2000", **fields}


def otlp_protobuf(*kinds_and_codes: tuple[int, int]) -> bytes:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for n, (kind, code) in enumerate(kinds_and_codes, start=1):
        span = spans.add(trace_id=bytes.fromhex(T), span_id=n.to_bytes(8, "big"), name="op",
                         kind=kind, start_time_unix_nano=1000, end_time_unix_nano=2000)
        span.status.code = code
    return request.SerializeToString()


# -- skipped and counted: the span cannot be placed in time ---------------------------------


def test_jaeger_span_without_start_time_is_skipped_and_counted():
    decoded = decode(jaeger(without(jaeger_span(), "startTime"), jaeger_span(B)))
    assert [s.span_id for s in decoded.spans] == [B]
    assert (decoded.invalid_spans, decoded.issues) == (1, {"no_start_time": 1})
    assert decoded.warnings() == ['skipped 1 span(s) with no start time ("startTime" missing)']


def test_jaeger_span_with_null_start_time_is_skipped_too():
    decoded = decode(jaeger(jaeger_span(startTime=None)))
    assert (decoded.spans, decoded.issues) == ([], {"no_start_time": 1})


def test_jaeger_span_without_duration_is_skipped_and_counted():
    decoded = decode(jaeger(without(jaeger_span(), "duration"), jaeger_span(B)))
    assert [s.span_id for s in decoded.spans] == [B]
    assert (decoded.invalid_spans, decoded.issues) == (1, {"no_duration": 1})
    assert decoded.warnings() == ['skipped 1 span(s) with no end time ("duration" missing)']


def test_jaeger_zero_duration_is_a_real_zero_length_span():
    """Jaeger writes a zero duration as 0; only an absent one is missing."""
    decoded = decode(jaeger(jaeger_span(duration=0)))
    assert [(s.start_ns, s.end_ns) for s in decoded.spans] == [(1_000_000, 1_000_000)]
    assert decoded.issues == {}


@pytest.mark.parametrize("timestamp", [None, 0, ""], ids=["absent", "zero", "empty"])
def test_zipkin_span_without_timestamp_is_skipped_and_counted(timestamp):
    """Zipkin leaves the timestamp out of a span whose start it did not record, and reads
    0 as absent."""
    missing = zipkin_span() if timestamp is not None else without(zipkin_span(), "timestamp")
    if timestamp is not None:
        missing["timestamp"] = timestamp
    decoded = decode(zipkin(missing, zipkin_span(B)))
    assert [s.span_id for s in decoded.spans] == [B]
    assert (decoded.invalid_spans, decoded.issues) == (1, {"no_start_time": 1})
    assert decoded.warnings() == [
        'skipped 1 span(s) with no start time ("timestamp" missing or 0)']


def test_zipkin_span_without_duration_is_kept_zero_length():
    """Zipkin writes a zero duration by leaving the field out."""
    decoded = decode(zipkin(without(zipkin_span(), "duration")))
    assert [(s.start_ns, s.end_ns) for s in decoded.spans] == [(1_000_000, 1_000_000)]
    assert (decoded.invalid_spans, decoded.issues) == (0, {})


def test_skipped_spans_of_every_reason_add_up():
    decoded = decode(jaeger(without(jaeger_span(), "startTime"),
                            without(jaeger_span(B), "duration"),
                            jaeger_span("zz"), jaeger_span("0000000000000abc")))
    assert decoded.invalid_spans == 3
    assert decoded.issues == {"invalid_id": 1, "no_start_time": 1, "no_duration": 1}
    assert decoded.warnings() == [
        "skipped 1 span(s) with invalid ids",
        'skipped 1 span(s) with no start time ("startTime" missing)',
        'skipped 1 span(s) with no end time ("duration" missing)']


# -- kept with a default and counted ---------------------------------------------------------


def test_jaeger_unknown_process_id_reads_as_unknown_service_and_is_counted():
    decoded = decode(jaeger(jaeger_span(processID="p9"), jaeger_span(B)))
    assert [(s.span_id, s.service) for s in decoded.spans] == [
        (A, "unknown_service"), (B, "frontend")]
    assert (decoded.invalid_spans, decoded.issues) == (0, {"unknown_process": 1})
    assert decoded.warnings() == ['1 span(s) name no process listed in "processes"; their '
                                  "service reads as unknown_service"]


def test_jaeger_span_with_neither_process_id_nor_process_is_counted():
    decoded = decode(jaeger(without(jaeger_span(), "processID")))
    assert decoded.spans[0].service == "unknown_service"
    assert decoded.issues == {"unknown_process": 1}


def test_jaeger_embedded_process_needs_no_process_id():
    decoded = decode(jaeger(without(jaeger_span(), "processID")
                            | {"process": {"serviceName": "inline"}}))
    assert (decoded.spans[0].service, decoded.issues) == ("inline", {})


OTLP_ODD_ENUMS = [
    pytest.param(otlp_json(otlp_span(kind=99)), {"unknown_kind": 1}, SpanKind.INTERNAL,
                 StatusCode.UNSET, id="json-kind-99"),
    pytest.param(otlp_json(otlp_span(kind="-1")), {"unknown_kind": 1}, SpanKind.INTERNAL,
                 StatusCode.UNSET, id="json-kind-negative-string"),
    pytest.param(otlp_json(otlp_span(kind=2, status={"code": 7})), {"unknown_status": 1},
                 SpanKind.SERVER, StatusCode.UNSET, id="json-status-7"),
    pytest.param(otlp_json(otlp_span(kind=99, status={"code": 7, "message": "?"})),
                 {"unknown_kind": 1, "unknown_status": 1}, SpanKind.INTERNAL,
                 StatusCode.UNSET, id="json-both"),
    pytest.param(otlp_protobuf((99, 0)), {"unknown_kind": 1}, SpanKind.INTERNAL,
                 StatusCode.UNSET, id="protobuf-kind-99"),
    pytest.param(otlp_protobuf((3, 7)), {"unknown_status": 1}, SpanKind.CLIENT,
                 StatusCode.UNSET, id="protobuf-status-7"),
    pytest.param(otlp_protobuf((-5, -1)), {"unknown_kind": 1, "unknown_status": 1},
                 SpanKind.INTERNAL, StatusCode.UNSET, id="protobuf-both-negative"),
]


@pytest.mark.parametrize(("data", "issues", "kind", "status"), OTLP_ODD_ENUMS)
def test_otlp_enums_outside_the_spec_read_as_its_defaults_and_are_counted(data, issues, kind,
                                                                        status):
    """OTLP: an unknown span kind is treated as UNSPECIFIED (INTERNAL here), an unknown
    status code as UNSET. Through decode(), whichever protobuf decoder is built."""
    decoded = decode(data)
    assert [(s.kind, s.status) for s in decoded.spans] == [(kind, status)]
    assert (decoded.invalid_spans, decoded.issues) == (0, issues)


def test_otlp_protobuf_odd_enums_are_counted_by_the_slim_path_too():
    decoded = python_decode(otlp_protobuf((2, 1), (99, 7), (12, 2)), "f.pb", None)
    assert [(s.kind, s.status) for s in decoded.spans] == [
        (SpanKind.SERVER, StatusCode.OK), (SpanKind.INTERNAL, StatusCode.UNSET),
        (SpanKind.INTERNAL, StatusCode.ERROR)]
    assert decoded.issues == {"unknown_kind": 2, "unknown_status": 1}
    assert decoded.warnings() == ["2 span(s) have an unknown span kind number; read as INTERNAL",
                                  "1 span(s) have an unknown status code; read as UNSET"]


def test_otlp_unknown_enum_name_is_still_an_error():
    """Names are not numbers: an unknown name is malformed, as protobuf's JSON parser says."""
    with pytest.raises(DecodeError, match='"kind" must be an integer or a decimal string, '
                                          "got 'SPAN_KIND_SIDEWAYS'"):
        decode(otlp_json(otlp_span(kind="SPAN_KIND_SIDEWAYS")), source="f.json")


def test_a_decoded_built_with_a_bare_count_reports_invalid_ids():
    assert Decoded([], "otlp-protobuf", 2).warnings() == ["skipped 2 span(s) with invalid ids"]
    assert Decoded([], "otlp-protobuf").warnings() == []


# -- rejected: a value of the wrong type names the file, the span and the field ----------------


BAD_VALUES = [
    pytest.param(zipkin(zipkin_span(), zipkin_span(B, timestamp="abc")),
                 f"not a valid Zipkin v2 span list: [1] (span {B}): \"timestamp\" must be an "
                 "integer number of microseconds, got 'abc'", id="zipkin-timestamp-text"),
    pytest.param(zipkin(zipkin_span(duration=[5])),
                 f"[0] (span {A}): \"duration\" must be an integer number of microseconds, "
                 "got [5]", id="zipkin-duration-array"),
    pytest.param(zipkin(zipkin_span(annotations=[{"timestamp": True, "value": "x"}])),
                 f"[0] (span {A}): \"annotations[].timestamp\" must be an integer number of "
                 "microseconds, got True", id="zipkin-annotation-time-bool"),
    pytest.param(jaeger(jaeger_span(startTime="yesterday")),
                 f"not a valid Jaeger JSON trace: data[0].spans[0] (span {A}): \"startTime\" "
                 "must be an integer number of microseconds, got 'yesterday'",
                 id="jaeger-start-text"),
    pytest.param(jaeger(jaeger_span(duration={"us": 5})),
                 f"data[0].spans[0] (span {A}): \"duration\" must be an integer number of "
                 "microseconds, got {'us': 5}", id="jaeger-duration-object"),
    pytest.param(jaeger(jaeger_span(logs=[{"timestamp": "later", "fields": []}])),
                 f"data[0].spans[0] (span {A}): \"logs[].timestamp\" must be an integer",
                 id="jaeger-log-time-text"),
    pytest.param(jaeger(jaeger_span(tags=[{"key": "http.status_code", "type": "int64",
                                           "value": "ok"}])),
                 f"data[0].spans[0] (span {A}): tag \"http.status_code\" of type int64 has the "
                 "value 'ok'", id="jaeger-int64-tag-text"),
    pytest.param(jaeger(jaeger_span(references=["parent"])),
                 f"data[0].spans[0] (span {A}): each reference must be an object, got str",
                 id="jaeger-reference-not-object"),
    pytest.param(otlp_json(otlp_span(endTimeUnixNano="later")),
                 f"resourceSpans[0].scopeSpans[0].spans[0] (span {A}): \"endTimeUnixNano\" "
                 "must be an integer or a decimal string, got 'later'", id="otlp-json-end-text"),
]


@pytest.mark.parametrize(("data", "message"), BAD_VALUES)
def test_a_bad_value_rejects_the_file_naming_the_span_and_the_field(data, message):
    with pytest.raises(DecodeError) as raised:
        decode(data, source="traces/bad.json")
    text = str(raised.value)
    assert text.startswith("traces/bad.json: not a valid ")
    assert message in text
    assert "invalid literal" not in text and "\n" not in text


def test_numeric_strings_and_whole_floats_are_still_read_as_times():
    """Some writers quote 64-bit numbers or write them as floats; both were read before."""
    decoded = decode(zipkin(zipkin_span(timestamp="1000", duration=5.0)))
    assert decoded.spans == [Span(T, A, None, "frontend", "op", SpanKind.INTERNAL, 1_000_000,
                                  1_005_000)]
