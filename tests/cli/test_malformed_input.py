"""``critpath analyze`` on malformed spans (issue 2), end to end: spans it cannot place in
time are skipped with a warning naming the file and the missing field, values it reads
with a default are reported, and a value of the wrong type is exit code 2 with one line
naming the file, the span and the field. The decoders' side is tests/decode/test_malformed.py.
"""

from __future__ import annotations

import json


from critpath.cli import main
from critpath.exitcodes import ExitCode

T, A, B = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173"

def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["analyze", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def jaeger_file(tmp_path, *spans: dict):
    path = tmp_path / "jaeger.json"
    path.write_text(json.dumps({"data": [{"traceID": T, "spans": list(spans), "processes": {
        "p1": {"serviceName": "frontend"}}}]}))
    return path


def jaeger_span(span_id: str, **fields) -> dict:
    return {"traceID": T, "spanID": span_id, "operationName": "GET /", "processID": "p1",
            "startTime": 1_000_000, "duration": 5_000,
            "tags": [{"key": "span.kind", "type": "string", "value": "server"}], **fields}


def zipkin_file(tmp_path, *spans: dict):
    path = tmp_path / "zipkin.json"
    path.write_text(json.dumps(list(spans)))
    return path


def zipkin_span(span_id: str, **fields) -> dict:
    return {"traceId": T, "id": span_id, "name": "get /", "kind": "SERVER",
            "timestamp": 1_000_000, "duration": 5_000,
            "localEndpoint": {"serviceName": "frontend"}, **fields}


def otlp_file(tmp_path, *spans: dict):
    path = tmp_path / "otlp.json"
    path.write_text(json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
        "scopeSpans": [{"spans": list(spans)}]}]}))
    return path


def otlp_span(span_id: str, **fields) -> dict:
    return {"traceId": T, "spanId": span_id, "name": "GET /", "kind": 2,
            "startTimeUnixNano": "1000000000", "endTimeUnixNano": "1005000000", **fields}


# -- a value of the wrong type: exit 2, one line naming file, span and field ----------------


def test_bad_zipkin_timestamp_exits_2_naming_the_file_span_and_field(capsys, tmp_path):
    path = zipkin_file(tmp_path, zipkin_span(A), zipkin_span(B, parentId=A, timestamp="abc"))
    code, out, err = run(capsys, str(path))
    assert (code, out) == (ExitCode.BAD_INPUT, "")
    assert err == (f"critpath analyze: {path}: not a valid Zipkin v2 span list: [1] (span {B}): "
                   "\"timestamp\" must be an integer number of microseconds, got 'abc'\n")


def test_bad_jaeger_start_time_exits_2_naming_the_file_span_and_field(capsys, tmp_path):
    path = jaeger_file(tmp_path, jaeger_span(A, startTime="1970-01-01"))
    code, out, err = run(capsys, str(path))
    assert (code, out) == (ExitCode.BAD_INPUT, "")
    assert err == (f"critpath analyze: {path}: not a valid Jaeger JSON trace: data[0].spans[0] "
                   f"(span {A}): \"startTime\" must be an integer number of microseconds, "
                   "got '1970-01-01'\n")


def test_a_file_whose_only_span_has_no_start_time_has_no_traces(capsys, tmp_path):
    """Nothing left to analyse is bad input, not an empty report of a span at 1970."""
    span = jaeger_span(A)
    del span["startTime"]
    code, out, err = run(capsys, str(jaeger_file(tmp_path, span)))
    assert (code, out) == (ExitCode.BAD_INPUT, "")
    assert err.endswith("critpath analyze: no traces found in the input\n")


# -- skipped or defaulted spans: exit 0, the rest analysed, one warning line each ------------


def test_jaeger_span_without_start_time_is_skipped_with_a_warning(capsys, tmp_path):
    child = jaeger_span(B, references=[{"refType": "CHILD_OF", "traceID": T, "spanID": A}])
    del child["startTime"]
    path = jaeger_file(tmp_path, jaeger_span(A), child)
    code, out, err = run(capsys, str(path), "--format", "json")
    assert (code, json.loads(out)["spans"]) == (ExitCode.OK, 1)
    assert err == (f"critpath analyze: warning: {path}: skipped 1 span(s) with no start time "
                   "(\"startTime\" missing)\n")


def test_zipkin_span_without_timestamp_is_skipped_with_a_warning(capsys, tmp_path):
    child = zipkin_span(B, parentId=A, kind="CLIENT")
    del child["timestamp"]
    path = zipkin_file(tmp_path, zipkin_span(A), child)
    code, out, err = run(capsys, str(path), "--format", "json")
    assert (code, json.loads(out)["spans"]) == (ExitCode.OK, 1)
    assert err == (f"critpath analyze: warning: {path}: skipped 1 span(s) with no start time "
                   "(\"timestamp\" missing or 0)\n")


def test_jaeger_unknown_process_id_is_analysed_as_unknown_service_with_a_warning(capsys,
                                                                                tmp_path):
    path = jaeger_file(tmp_path, jaeger_span(A, processID="p7"))
    code, out, err = run(capsys, str(path), "--format", "json")
    assert code == ExitCode.OK
    assert "unknown_service" in [s["name"] for s in json.loads(out)["services"]]
    assert err == (f"critpath analyze: warning: {path}: 1 span(s) name no process listed in "
                   "\"processes\"; their service reads as unknown_service\n")


def test_otlp_unknown_kind_and_status_are_analysed_as_defaults_with_warnings(capsys, tmp_path):
    path = otlp_file(tmp_path, otlp_span(A), otlp_span(B, parentSpanId=A, kind=99,
                                                       status={"code": 7}))
    code, out, err = run(capsys, str(path), "--format", "json")
    assert (code, json.loads(out)["spans"]) == (ExitCode.OK, 2)
    assert err == (
        f"critpath analyze: warning: {path}: 1 span(s) have an unknown span kind number; "
        "read as INTERNAL\n"
        f"critpath analyze: warning: {path}: 1 span(s) have an unknown status code; "
        "read as UNSET\n")


def test_invalid_ids_keep_their_warning(capsys, tmp_path):
    """The warning scripts already match on is unchanged."""
    path = otlp_file(tmp_path, otlp_span(A), otlp_span("not-hex"))
    code, _, err = run(capsys, str(path), "--format", "json")
    assert code == ExitCode.OK
    assert err == f"critpath analyze: warning: {path}: skipped 1 span(s) with invalid ids\n"
