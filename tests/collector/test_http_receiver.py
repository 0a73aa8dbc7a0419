"""OTLP/HTTP receiver: every status code of the OTLP specification, on a real port.

None of the hostile inputs may produce a 5xx, and none may cost valid spans sent
alongside or afterwards.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import socket

import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.collector.support import comparable, expected_report, protobuf_request, wait_until

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}


def post(collector, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(collector.otlp_http, content=body, headers=headers, timeout=10)


def assert_status_body(response: httpx.Response, code: int) -> status_pb2.Status:
    """Failures carry a google.rpc.Status in the request's encoding."""
    status = status_pb2.Status()
    if response.headers["content-type"] == "application/x-protobuf":
        status.ParseFromString(response.content)
    else:
        document = response.json()
        status.code, status.message = document["code"], document["message"]
    assert status.code == code and status.message
    return status


def analyzed_report(collector, traces: int) -> dict:
    wait_until(lambda: collector.runtime.state.traces >= traces, what=f"{traces} traces")
    return comparable(collector.api.get("/api/report").json())


def test_protobuf_export_is_analyzed_like_critpath_analyze(collector):
    body = protobuf_request(12)
    response = post(collector, body, PROTOBUF)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert ExportTraceServiceResponse.FromString(response.content) == ExportTraceServiceResponse()
    assert analyzed_report(collector, 12) == expected_report(body)


def test_gzip_json_export(collector):
    path = os.path.join(os.path.dirname(__file__), "..", "data", "otlp",
                        "opentelemetry-proto-example-trace.json")
    with open(path, "rb") as handle:
        body = handle.read()
    response = post(collector, gzip.compress(body), {**JSON, "content-encoding": "gzip"})
    assert response.status_code == 200 and response.json() == {}
    assert analyzed_report(collector, 1) == expected_report(body)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(os.urandom(4096), PROTOBUF, id="random-protobuf"),
        pytest.param(protobuf_request(2)[:-7], PROTOBUF, id="truncated-protobuf"),
        pytest.param(b'{"resourceSpans": [', JSON, id="truncated-json"),
        pytest.param(b'{"data": [{"traceID": "ab", "spans": [], "processes": {}}]}', JSON,
                     id="jaeger-json-is-not-otlp"),
        pytest.param(json.dumps({"resourceSpans": []}).encode(), PROTOBUF,
                     id="json-sent-as-protobuf"),
        pytest.param(b"\x1f\x8b\x08\x00garbage", {**PROTOBUF, "content-encoding": "gzip"},
                     id="broken-gzip"),
        pytest.param(gzip.compress(protobuf_request(2))[:-20],
                     {**PROTOBUF, "content-encoding": "gzip"}, id="truncated-gzip"),
    ],
)
def test_malformed_bodies_are_400_and_lose_nothing_else(collector, body, headers):
    response = post(collector, body, headers)
    assert response.status_code == 400
    assert_status_body(response, 3)  # INVALID_ARGUMENT
    good = protobuf_request(3)
    assert post(collector, good, PROTOBUF).status_code == 200
    assert analyzed_report(collector, 3) == expected_report(good)


@pytest.mark.parametrize(
    ("headers", "reply_type"),
    [
        ({"content-type": "text/plain"}, "application/json"),
        ({}, "application/json"),
        ({"content-type": "application/x-protobuf", "content-encoding": "br"},
         "application/x-protobuf"),
    ],
)
def test_unsupported_types_and_encodings_are_415(collector, headers, reply_type):
    response = post(collector, protobuf_request(1), headers)
    assert response.status_code == 415
    assert_status_body(response, 3)
    # The error is encoded like the request when its type is known, else as JSON.
    assert response.headers["content-type"] == reply_type


def test_wrong_path_and_method(collector):
    base = collector.otlp_http.rsplit("/v1/traces", 1)[0]
    assert httpx.post(base + "/v1/metrics", content=b"", headers=PROTOBUF).status_code == 404
    response = httpx.get(collector.otlp_http)
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_body_over_the_limit_after_decompression_is_413(start_collector):
    with start_collector(max_body_bytes=64 * 1024) as collector:
        bomb = gzip.compress(b"\0" * (8 * 1024 * 1024))
        assert len(bomb) < 64 * 1024
        response = post(collector, bomb, {**PROTOBUF, "content-encoding": "gzip"})
        assert response.status_code == 413
        assert_status_body(response, 3)
        assert response.headers["content-type"] == "application/x-protobuf"
        plain = post(collector, b"\0" * (65 * 1024), PROTOBUF)
        assert plain.status_code == 413
        good = protobuf_request(2)
        assert post(collector, good, PROTOBUF).status_code == 200
        assert analyzed_report(collector, 2) == expected_report(good)
        assert collector.metric('critpath_requests_refused_total{reason="http_413"}') == 2


def raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_content_length_shorter_than_the_body(collector):
    body = protobuf_request(2)
    head = (f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            f"Content-Length: {len(body) // 2}\r\nConnection: close\r\n\r\n").encode()
    reply = raw_exchange(collector.runtime.http_receiver.port, head + body)
    status = int(reply.split(b" ", 2)[1])
    assert status == 400


def test_content_length_longer_than_the_body_then_hang_up(collector):
    body = protobuf_request(2)
    head = (f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            f"Content-Length: {len(body) * 2}\r\n\r\n").encode()
    reply = raw_exchange(collector.runtime.http_receiver.port, head + body)
    assert not reply.startswith(b"HTTP/1.1 5")  # nobody left to answer; never a 5xx
    good = protobuf_request(2)
    assert post(collector, good, PROTOBUF).status_code == 200
    assert analyzed_report(collector, 2) == expected_report(good)


def test_declared_content_length_over_the_limit_is_refused_before_reading(start_collector):
    with start_collector(max_body_bytes=1000) as collector:
        head = (b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                b"Content-Length: 1000000000\r\nConnection: close\r\n\r\n")
        reply = raw_exchange(collector.runtime.http_receiver.port, head)
        assert reply.startswith(b"HTTP/1.1 413")


def test_partial_success_reports_rejected_spans(start_collector):
    with start_collector(max_spans_per_trace=3) as collector:
        response = post(collector, protobuf_request(2), PROTOBUF)  # 7 spans per trace
        assert response.status_code == 200
        result = ExportTraceServiceResponse.FromString(response.content).partial_success
        assert result.rejected_spans == 8
        assert "per-trace span limit" in result.error_message
        json_response = post(collector, protobuf_request(1), PROTOBUF)
        assert ExportTraceServiceResponse.FromString(
            json_response.content).partial_success.rejected_spans == 4
        assert collector.metric(
            'critpath_spans_rejected_total{reason="trace_too_large"}') == 12


def otlp_json(spans: int) -> bytes:
    """One OTLP/JSON trace of ``spans`` spans (a root and its children), per the spec's mapping."""
    trace_id = "5b8efff798038103d269b633813fc60c"
    items = [{"traceId": trace_id, "spanId": f"{i + 1:016x}", "name": f"op{i}", "kind": 2,
              "startTimeUnixNano": str(1_000_000 + i), "endTimeUnixNano": "9000000",
              **({"parentSpanId": f"{1:016x}"} if i else {})} for i in range(spans)]
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
        "scopeSpans": [{"spans": items}]}]}).encode()


def test_partial_success_in_json(start_collector):
    with start_collector(max_spans_per_trace=2) as collector:
        response = post(collector, otlp_json(5), JSON)
        assert response.status_code == 200
        partial = response.json()["partialSuccess"]
        assert partial["rejectedSpans"] == 3 and "per-trace" in partial["errorMessage"]


def test_backpressure_is_429_with_retry_after_and_nothing_is_lost(start_collector):
    first, second = protobuf_request(5), protobuf_request(3, start_ms=50_000)
    # A quiet wait longer than the test: the test decides when traces go quiet.
    with start_collector(max_live_traces=5, trace_wait_seconds=60) as collector:
        assert post(collector, first, PROTOBUF).status_code == 200
        refused = post(collector, second, PROTOBUF)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        status = assert_status_body(refused, 8)  # RESOURCE_EXHAUSTED
        info = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(info) and info.retry_delay.seconds == 1
        # Once the buffered traces are analyzed, the retried request goes through.
        collector.runtime.pipeline.flush(everything=True)
        assert post(collector, second, PROTOBUF).status_code == 200
        collector.runtime.pipeline.flush(everything=True)
        assert analyzed_report(collector, 8) == expected_report(first, second)
        assert collector.metric('critpath_requests_throttled_total{reason="live_traces"}') == 1


def test_stopped_pipeline_is_503_with_retry_after(collector):
    collector.runtime.pipeline.shutdown()
    response = post(collector, protobuf_request(1), {**JSON, "content-type": "application/json"})
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    document = response.json()
    assert document["code"] == 14  # UNAVAILABLE
    assert document["details"][0]["@type"] == "type.googleapis.com/google.rpc.RetryInfo"


def test_bearer_token(start_collector):
    with start_collector(bearer_token="s3cret") as collector:
        body = gzip.compress(protobuf_request(2))
        headers = {**PROTOBUF, "content-encoding": "gzip"}
        for auth in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
            response = post(collector, body, {**headers, **auth})
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert_status_body(response, 16)  # UNAUTHENTICATED
        assert collector.runtime.counters.snapshot().received_spans == 0
        ok = post(collector, body, {**headers, "authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_empty_requests_are_successful_exports(collector):
    assert post(collector, b"", PROTOBUF).status_code == 200
    assert post(collector, b" {} ", JSON).status_code == 200
    assert post(collector, b'{"resourceSpans": []}', JSON).status_code == 200


def test_too_many_bodies_in_flight_are_throttled(start_collector):
    with start_collector(max_concurrent_requests=1) as collector:
        port = collector.runtime.http_receiver.port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
            # A client that announces a body and then dawdles holds the only slot.
            slow.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\n")
            wait_until(lambda: collector.runtime.http_receiver._app._in_flight == 1)
            refused = post(collector, protobuf_request(1), PROTOBUF)
            assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        wait_until(lambda: collector.runtime.http_receiver._app._in_flight == 0)
        assert post(collector, protobuf_request(1), PROTOBUF).status_code == 200
        assert collector.metric(
            'critpath_requests_throttled_total{reason="concurrent_requests"}') == 1


def mutations(base: bytes, count: int, seed: int):
    """Randomly damaged copies of ``base``: flipped, deleted, inserted bytes, truncation."""
    rng = random.Random(seed)
    for _ in range(count):
        body = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            if not body:
                break
            pos, op = rng.randrange(len(body)), rng.random()
            if op < 0.5:
                body[pos] = rng.randrange(256)
            elif op < 0.75:
                del body[pos:pos + rng.randint(1, 16)]
            elif op < 0.9:
                body[pos:pos] = rng.randbytes(rng.randint(1, 8))
            else:
                del body[pos:]
        yield bytes(body)


def test_damaged_bodies_never_fail_the_server(collector):
    """400 or 200 (with whatever spans survived intact), never a 5xx, never a crash."""
    base = protobuf_request(2)
    with httpx.Client(timeout=10) as client:
        for body in mutations(base, 60, seed=3):
            status = client.post(collector.otlp_http, content=body, headers=PROTOBUF).status_code
            assert status in (200, 400), status
        for body in mutations(otlp_json(4), 40, seed=4):
            status = client.post(collector.otlp_http, content=body, headers=JSON).status_code
            assert status in (200, 400), status
    accepted = collector.runtime.counters.snapshot().accepted_spans
    assert post(collector, protobuf_request(2, start_ms=500_000), PROTOBUF).status_code == 200
    assert collector.runtime.counters.snapshot().accepted_spans == accepted + 14
