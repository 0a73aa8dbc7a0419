"""OTLP/gRPC receiver: Export over a real channel, status codes, auth, partial success."""

from __future__ import annotations

import gzip
import os

import grpc
import pytest
from google.rpc import error_details_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.collector.support import comparable, expected_report, protobuf_request, wait_until

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def export(collector, body: bytes, metadata=(), compression=None) -> ExportTraceServiceResponse:
    with grpc.insecure_channel(collector.otlp_grpc) as channel:
        call = channel.unary_unary(METHOD, request_serializer=None,
                                   response_deserializer=ExportTraceServiceResponse.FromString)
        return call(body, metadata=metadata, timeout=10, compression=compression)


def failure(collector, body: bytes, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        export(collector, body, **kwargs)
    return info.value


def test_export_is_analyzed_like_critpath_analyze(collector):
    body = protobuf_request(9)
    assert export(collector, body, compression=grpc.Compression.Gzip) == \
        ExportTraceServiceResponse()
    wait_until(lambda: collector.runtime.state.traces >= 9)
    assert comparable(collector.api.get("/api/report").json()) == expected_report(body)


@pytest.mark.parametrize(
    "body",
    [pytest.param(os.urandom(2048), id="random"),
     pytest.param(protobuf_request(2)[:-9], id="truncated"),
     pytest.param(b'{"resourceSpans": []}', id="json"),
     pytest.param(gzip.compress(protobuf_request(1)), id="gzip-without-grpc-compression")],
)
def test_malformed_requests_are_invalid_argument(collector, body):
    assert failure(collector, body).code() == grpc.StatusCode.INVALID_ARGUMENT
    good = protobuf_request(2)
    export(collector, good)
    wait_until(lambda: collector.runtime.state.traces >= 2)
    assert comparable(collector.api.get("/api/report").json()) == expected_report(good)


def test_backpressure_is_resource_exhausted_with_retry_info(start_collector):
    first, second = protobuf_request(4), protobuf_request(2, start_ms=90_000)
    with start_collector(max_live_traces=4, trace_wait_seconds=60) as collector:
        export(collector, first)
        error = failure(collector, second)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(error.trailing_metadata())
        info = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert info.retry_delay.seconds == 1


def test_stopped_pipeline_is_unavailable(collector):
    collector.runtime.pipeline.shutdown()
    assert failure(collector, protobuf_request(1)).code() == grpc.StatusCode.UNAVAILABLE


def test_partial_success(start_collector):
    with start_collector(max_spans_per_trace=5) as collector:
        response = export(collector, protobuf_request(3))
        assert response.partial_success.rejected_spans == 6
        assert "per-trace span limit" in response.partial_success.error_message


def test_message_over_the_limit_is_refused(start_collector):
    with start_collector(max_body_bytes=4096) as collector:
        error = failure(collector, protobuf_request(40))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert collector.runtime.counters.snapshot().received_spans == 0


def test_bearer_token(start_collector):
    with start_collector(bearer_token="s3cret") as collector:
        body = protobuf_request(1)
        for metadata in ((), (("authorization", "Bearer nope"),)):
            assert failure(collector, body, metadata=metadata).code() == \
                grpc.StatusCode.UNAUTHENTICATED
        export(collector, body, metadata=(("authorization", "Bearer s3cret"),))
        assert collector.runtime.counters.snapshot().accepted_spans == 7
