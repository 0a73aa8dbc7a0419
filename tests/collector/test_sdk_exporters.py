"""The real OpenTelemetry SDK exporters (OTLP/HTTP and OTLP/gRPC) against the collector.

The API's report must equal ``critpath analyze``'s report over the same spans.
"""

from __future__ import annotations

import json

import httpx
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.sdk.trace.export import SpanExportResult

from collector.app import create_app
from critpath.cli import main
from tests.collector.support import (
    bank_traces,
    comparable,
    expected_report,
    loopback_settings,
    serve,
    wait_until,
)
from tests.support.sdk import TraceBuilder


def test_http_and_grpc_exporters_feed_one_report_equal_to_analyze(collector):
    over_http = bank_traces(TraceBuilder(), 15)
    over_grpc = bank_traces(TraceBuilder(), 15, start_ms=100_000, slow_every=3)
    http = HttpExporter(endpoint=collector.otlp_http, compression=Compression.Gzip, timeout=10)
    grpc = GrpcExporter(endpoint=collector.otlp_grpc, insecure=True, timeout=10)
    try:
        assert http.export(over_http.finished()) is SpanExportResult.SUCCESS
        assert grpc.export(over_grpc.finished()) is SpanExportResult.SUCCESS
    finally:
        http.shutdown()
        grpc.shutdown()
    wait_until(lambda: collector.runtime.state.traces >= 30, what="30 traces analyzed")
    report = collector.api.get("/api/report").json()
    assert report["schema"] == "critpath.report/v1" and report["traces"] == 30
    assert comparable(report) == expected_report(over_http.otlp_protobuf(),
                                                 over_grpc.otlp_protobuf())
    assert collector.metric("critpath_spans_accepted_total") == 30 * 7


def test_exporter_against_a_real_uvicorn_served_collector():
    """The full stack as `critpath collect` runs it: API under uvicorn, receivers in its lifespan."""
    app = create_app(loopback_settings())
    builder = bank_traces(TraceBuilder(), 6)
    with serve(app) as base:
        runtime = app.state.runtime
        exporter = HttpExporter(endpoint=f"http://127.0.0.1:{runtime.http_receiver.port}/v1/traces",
                                timeout=10)
        try:
            assert exporter.export(builder.finished()) is SpanExportResult.SUCCESS
        finally:
            exporter.shutdown()
        wait_until(lambda: runtime.state.traces >= 6)
        report = httpx.get(f"{base}/api/report", timeout=10).json()
    assert comparable(report) == expected_report(builder.otlp_protobuf())


def test_report_equals_the_critpath_analyze_command(collector, tmp_path, capsys):
    """The literal contract: `critpath analyze FILE --format json` over the exported spans."""
    builder = bank_traces(TraceBuilder(), 12, slow_every=2)
    exporter = HttpExporter(endpoint=collector.otlp_http, timeout=10)
    try:
        assert exporter.export(builder.finished()) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    trace_file = tmp_path / "traces.pb"
    trace_file.write_bytes(builder.otlp_protobuf())
    capsys.readouterr()
    assert main(["analyze", str(trace_file), "--format", "json"]) == 0
    analyzed = json.loads(capsys.readouterr().out)
    wait_until(lambda: collector.runtime.state.traces >= 12)
    assert comparable(collector.api.get("/api/report").json()) == comparable(analyzed)
