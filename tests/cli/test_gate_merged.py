"""``critpath gate --from A --from B``: the merged view of two real collectors.

Two collectors (``create_app`` under uvicorn on loopback) each receive the traces a
load-balancing exporter with ``routing_key: traceID`` would send them; the gate merges
their ``/api/aggregate`` answers and must judge exactly what ``critpath analyze`` reports
over every span (ARCHITECTURE.md §9).
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from collector.app import create_app
from critpath.cli import main
from tests.collector.support import loopback_settings, serve, wait_until
from tests.rules.scenarios import account_read, transfer
from tests.support.sdk import TraceBuilder

PROTOBUF = {"Content-Type": "application/x-protobuf"}

FAILED_ONE = "critpath gate FAILED: 1 failure in 1 of 5 checks (1 endpoint × 5 rules); "
"""The headline of a run with one failure in one of five checks."""


class Collector:
    """A real collector served by uvicorn on a free loopback port until :meth:`stop`."""

    def __init__(self) -> None:
        self.app = create_app(loopback_settings())
        self._running = contextlib.ExitStack()
        self.url = self._running.enter_context(serve(self.app))

    def stop(self) -> None:
        """Shut the server down; its port then refuses connections."""
        self._running.close()

    def receive(self, spans: Sequence[ReadableSpan]) -> None:
        """Post ``spans`` to the collector's OTLP/HTTP receiver."""
        port = self.app.state.runtime.http_receiver.port
        httpx.post(
            f"http://127.0.0.1:{port}/v1/traces",
            content=encode_spans(spans).SerializeToString(), headers=PROTOBUF, timeout=10,
        ).raise_for_status()

    def traces(self) -> int:
        """How many traces the collector has analysed (window ``all``)."""
        return httpx.get(f"{self.url}/api/report", params={"window": "all"}, timeout=10).json()[
            "traces"
        ]


def route(builder: TraceBuilder, collectors: Sequence[Collector]) -> list[set[str]]:
    """Send each trace whole to one collector chosen by its trace id, as the OpenTelemetry
    Collector's load-balancing exporter does; wait until every collector analysed its share.

    Returns the (hex) trace ids each collector received.
    """
    shares: list[list[ReadableSpan]] = [[] for _ in collectors]
    # Trace ids are random: hashing six of them onto two collectors leaves one empty about
    # 3% of the time. Dealing them out in id order keeps each trace whole on one collector
    # and gives every collector a share.
    order = {trace_id: n for n, trace_id in
             enumerate(sorted({span.context.trace_id for span in builder.finished()}))}
    for span in builder.finished():
        shares[order[span.context.trace_id] % len(collectors)].append(span)
    ids = [{format(span.context.trace_id, "032x") for span in share} for share in shares]
    assert all(ids), "every collector must get some traces for the test to mean anything"
    for collector, share, received in zip(collectors, shares, ids, strict=True):
        collector.receive(share)
        wait_until(lambda c=collector, n=len(received): c.traces() == n,
                   what=f"{collector.url} to analyse {len(received)} traces")
    return ids


@pytest.fixture
def collectors() -> Iterator[list[Collector]]:
    """Two running collectors, stopped after the test."""
    running = [Collector(), Collector()]
    yield running
    for collector in running:
        collector.stop()


@pytest.fixture(autouse=True)
def no_stray_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The gate and analyze look for ./critpath.toml; run where there is none.
    monkeypatch.chdir(tmp_path)


def gate(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["gate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def mixed() -> TraceBuilder:
    """Transfers (some with a failing, deferrable audit) and account reads without timeouts:
    several endpoints, edges, failures and findings of more than one rule."""
    b = TraceBuilder()
    for i in range(12):
        transfer(b, i, audit_fails=i % 3 == 0, read_after=i % 4 == 0)
    for i in range(12, 20):
        account_read(b, i, accounts_ms=10 + i)
    return b


def without_time(report: dict) -> dict:
    return {key: value for key, value in report.items() if key != "generated_at"}


def test_the_merged_report_is_analyze_on_every_span(tmp_path, capsys, collectors):
    builder = mixed()
    route(builder, collectors)
    everything = tmp_path / "all.pb"
    everything.write_bytes(builder.otlp_protobuf())
    assert main(["analyze", str(everything), "--format", "json"]) == 0
    analyzed = json.loads(capsys.readouterr().out)

    merged = tmp_path / "merged.json"
    code, _, err = gate(capsys, "--from", collectors[0].url, "--from", collectors[1].url,
                        "--baseline", merged, "--update-baseline")
    assert code == 1, err  # the account reads have no timeout: critical
    report = json.loads(merged.read_text())
    assert report["traces"] == 20
    # Something to compare beyond counts: findings, failed calls, two endpoints.
    assert "missing-timeout" in {f["rule"] for f in report["findings"]}
    assert any(edge["failed"] for edge in report["edges"]) and len(report["endpoints"]) == 2
    assert without_time(report) == without_time(analyzed)
    # Neither collector alone holds that report: the merge is what makes it whole.
    alone = httpx.get(f"{collectors[0].url}/api/report", params={"window": "all"}).json()
    assert alone["traces"] < 20


def test_two_collectors_of_healthy_traffic_pass(capsys, collectors):
    b = TraceBuilder()
    for i in range(10):
        transfer(b, i)
    route(b, collectors)
    code, out, err = gate(capsys, "--from", collectors[0].url, "--from", collectors[1].url)
    assert code == 0, out + err
    assert "(1 endpoint × 5 rules); 10 traces" in out


def test_a_critical_finding_split_across_collectors_fails(capsys, collectors):
    b = TraceBuilder()
    for i in range(6):
        account_read(b, i)
    route(b, collectors)
    code, out, _ = gate(capsys, "--from", collectors[0].url, "--from", collectors[1].url,
                        "--window", "all")
    assert code == 1
    assert out.startswith(FAILED_ONE + "6 traces")


def test_one_collector_unreachable_exits_2_naming_it(capsys, collectors):
    b = TraceBuilder()
    for i in range(6):
        transfer(b, i)
    route(b, collectors)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    code, out, err = gate(capsys, "--from", collectors[0].url, "--from", closed,
                          "--from", collectors[1].url)
    assert code == 2
    assert out == ""
    assert err.startswith(f"critpath gate: cannot reach the collector at {closed}/api/aggregate")
    assert err.count("\n") == 1  # one line, no traceback


def test_a_stopped_collector_is_named_too(capsys, collectors):
    b = TraceBuilder()
    for i in range(6):
        transfer(b, i)
    route(b, collectors)
    collectors[1].stop()
    code, _, err = gate(capsys, "--from", collectors[0].url, "--from", collectors[1].url)
    assert code == 2
    assert f"{collectors[1].url}/api/aggregate" in err


def test_an_error_answer_exits_2_naming_the_url(capsys, collectors):
    # A URL with a path the collector does not serve: its aggregate request is a 404.
    wrong = f"{collectors[1].url}/elsewhere"
    code, _, err = gate(capsys, "--from", collectors[0].url, "--from", wrong)
    assert code == 2
    assert err == f"critpath gate: {wrong}/api/aggregate: the collector answered HTTP 404\n"


def test_help_explains_merging_several_collectors(capsys):
    assert main(["gate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "repeat it to judge the merged view of several collectors" in text
    assert "fetches URL/api/aggregate from each, merges them" in text
