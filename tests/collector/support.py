"""Helpers shared by the collector tests: settings for loopback, traces, servers, waiting."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from analyzer.decode import decode
from analyzer.report import analyze_spans, build_report
from collector.settings import CollectorSettings
from tests.support.sdk import TraceBuilder

MS = 1_000_000
GENERATED_AT = "2026-01-01T00:00:00Z"


def loopback_settings(**changes: Any) -> CollectorSettings:
    """Settings for a test collector: free ports on loopback, a short quiet wait.

    The dashboard is left out (its own tests cover it), so these tests exercise the
    collector alone.
    """
    base: dict[str, Any] = dict(host="127.0.0.1", otlp_http_port=0, otlp_grpc_port=0, port=0,
                                trace_wait_seconds=0.05, snapshot_interval_seconds=3600,
                                dashboard=False)
    base.update(changes)
    return CollectorSettings(**base)


def bank_traces(builder: TraceBuilder, count: int, *, start_ms: int = 0,
                slow_every: int = 4, fail_every: int = 5) -> TraceBuilder:
    """``count`` checkout traces: web → api → ledger (+ a database call and an audit write).

    Durations vary so percentiles are not degenerate; every ``fail_every``-th ledger call
    fails, every ``slow_every``-th trace is slow in the ledger.
    """
    for i in range(count):
        t = (start_ms + i * 1000) * MS
        slow = 40 if i % slow_every == 0 else 0
        with builder.span("web", "POST /checkout", t, t + (120 + slow + i % 7) * MS, "server"):
            with builder.span("web", "POST api", t + 5 * MS, t + (110 + slow) * MS, "client",
                              attributes={"http.request.header.x-bank-timeout-ms": ("2000",)}):
                with builder.span("api", "POST /pay", t + 7 * MS, t + (108 + slow) * MS, "server"):
                    with builder.span("api", "POST ledger", t + 10 * MS, t + (70 + slow) * MS,
                                      "client"):
                        with builder.span("ledger", "POST /entries", t + 12 * MS,
                                          t + (68 + slow) * MS, "server",
                                          error=i % fail_every == 0):
                            with builder.span("ledger", "INSERT entries", t + 20 * MS,
                                              t + (30 + i % 3) * MS, "client",
                                              attributes={"db.system": "sqlite"}):
                                pass
                    with builder.span("api", "POST audit", t + 72 * MS, t + 100 * MS, "client",
                                      attributes={"peer.service": "audit"}):
                        pass
    return builder


def protobuf_request(count: int = 10, **kwargs: Any) -> bytes:
    """An OTLP protobuf ``ExportTraceServiceRequest`` holding ``count`` bank traces."""
    return bank_traces(TraceBuilder(), count, **kwargs).otlp_protobuf()


def expected_report(*bodies: bytes, config: Any = None) -> dict[str, Any]:
    """What ``critpath analyze`` reports over the spans of ``bodies``."""
    spans = [span for body in bodies for span in decode(body).spans]
    return comparable(build_report(analyze_spans(spans, config), config, GENERATED_AT))


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """A report without what legitimately differs between two builds (time, window)."""
    return {k: v for k, v in report.items() if k not in ("generated_at", "window")}


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``condition`` until truthy; fail the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` under a real uvicorn on a free loopback port; yields its base URL."""
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn to start")
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
