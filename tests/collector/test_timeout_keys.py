"""A collector configured with extra timeout keys judges with them, as ``critpath analyze``
does: the decoder keeps the configured keys, so a timeout declared only under one of them
is seen (no missing-timeout finding)."""

from __future__ import annotations

import time

import httpx

from analyzer.config import AnalysisConfig
from analyzer.decode import ANALYSIS_ATTRIBUTES
from collector.app import create_app
from tests.collector.support import loopback_settings, serve
from tests.rules.scenarios import account_read
from tests.support.sdk import TraceBuilder

MY_KEY = "http.request.header.x-my-deadline-ms"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def missing_timeouts(analysis: AnalysisConfig) -> list[tuple[str, str]]:
    """Five account reads declaring a 500 ms timeout under MY_KEY only, sent to a real
    collector over OTLP/HTTP; the (client, server) of its missing-timeout findings."""
    assert MY_KEY not in ANALYSIS_ATTRIBUTES  # kept only because it is configured
    b = TraceBuilder()
    for i in range(5):
        account_read(b, i, attrs={"http.request.method": "GET", MY_KEY: "500"})
    app = create_app(loopback_settings(analysis=analysis))
    with serve(app) as url:
        port = app.state.runtime.http_receiver.port
        httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=b.otlp_protobuf(),
                   headers=PROTOBUF, timeout=10).raise_for_status()
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/readyz", timeout=10).json()["traces"] < 5:
            assert time.monotonic() < deadline, "the collector never analysed the traces"
            time.sleep(0.05)
        report = httpx.get(f"{url}/api/report", timeout=10).json()
    return [(f["client"], f["server"]) for f in report["findings"]
            if f["rule"] == "missing-timeout"]


def test_a_timeout_under_a_configured_extra_key_is_seen_live():
    config = AnalysisConfig.from_mapping({"rules": {"extra_timeout_keys": [MY_KEY]}})
    assert missing_timeouts(config) == []


def test_without_the_key_configured_the_same_calls_have_no_declared_timeout():
    assert missing_timeouts(AnalysisConfig()) == [("gateway", "accounts")]
