"""``critpath gate --from URL --settle SECONDS``: wait for a real collector to analyse every
trace it received before judging.

A collector holds each trace until it has been quiet for ``trace_wait_seconds``, so a gate
run straight after the tests can miss the last traces. The collectors here are real (the
collector app under uvicorn, fed over OTLP/HTTP by spans of the real OpenTelemetry SDK),
with a quiet wait long enough that judging at once would see nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest

from collector.app import create_app
from critpath.cli import main
from tests.collector.support import loopback_settings, serve
from tests.rules.scenarios import account_read
from tests.support.sdk import TraceBuilder

PROTOBUF = {"Content-Type": "application/x-protobuf"}

FAILED_ONE = "critpath gate FAILED: 1 failure in 1 of 5 checks (1 endpoint × 5 rules); "
"""The headline of a run with one failure in one of five checks."""


@contextlib.contextmanager
def running_collector(trace_wait_seconds: float) -> Iterator[tuple[str, int]]:
    """A real collector on free loopback ports: (API base URL, OTLP/HTTP port)."""
    app = create_app(loopback_settings(trace_wait_seconds=trace_wait_seconds))
    with serve(app) as url:
        yield url, app.state.runtime.http_receiver.port


def send_missing_timeouts(otlp_port: int) -> None:
    """Five account reads declaring no timeout (a critical missing-timeout) over OTLP/HTTP."""
    b = TraceBuilder()
    for i in range(5):
        account_read(b, i)
    httpx.post(f"http://127.0.0.1:{otlp_port}/v1/traces", content=b.otlp_protobuf(),
               headers=PROTOBUF, timeout=10).raise_for_status()


def readyz(url: str) -> dict:
    return httpx.get(f"{url}/readyz", timeout=10).json()


@pytest.fixture(autouse=True)
def no_stray_config(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def gate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["gate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_settle_waits_for_the_traces_the_collector_still_holds(capsys):
    with running_collector(trace_wait_seconds=3.0) as (url, otlp_port):
        send_missing_timeouts(otlp_port)
        assert readyz(url)["live_traces"] == 5  # held, waiting to go quiet
        # Judged at once, the collector has analysed nothing yet: exit 2, not a pass.
        code, _, err = gate(capsys, "--from", url)
        assert code == 2
        assert err == ("critpath gate: no traces to judge: a gate that saw nothing must not "
                       "pass\n")
        started = time.monotonic()
        code, out, err = gate(capsys, "--from", url, "--settle", "60")
        waited = time.monotonic() - started
        assert code == 1
        assert out.startswith(FAILED_ONE + "5 traces")
        assert err == ""
        assert waited < 30  # it returns once settled, not after the whole --settle
        assert readyz(url)["live_traces"] == 0


def test_settle_on_an_idle_collector_returns_at_once(capsys):
    with running_collector(trace_wait_seconds=0.05) as (url, otlp_port):
        send_missing_timeouts(otlp_port)
        deadline = time.monotonic() + 30
        while readyz(url)["traces"] < 5:
            assert time.monotonic() < deadline, "the collector never analysed the traces"
            time.sleep(0.05)
        started = time.monotonic()
        code, _, _ = gate(capsys, "--from", url, "--settle", "60")
        assert code == 1
        assert time.monotonic() - started < 5


def test_settle_works_on_each_of_several_collectors(capsys):
    with running_collector(2.0) as (url_a, port_a), running_collector(2.0) as (url_b, _):
        send_missing_timeouts(port_a)  # only a holds traces; b has none, which is fine
        code, out, _ = gate(capsys, "--from", f"{url_a}/api/report", "--from", url_b,
                            "--settle", "60")
        assert code == 1
        assert out.startswith(FAILED_ONE + "5 traces")


def test_a_collector_not_settled_in_time_is_exit_2_naming_it(capsys):
    with running_collector(trace_wait_seconds=60.0) as (url, otlp_port):
        send_missing_timeouts(otlp_port)
        started = time.monotonic()
        code, out, err = gate(capsys, "--from", url, "--settle", "1")
        assert time.monotonic() - started < 15
        assert code == 2
        assert out == ""
        assert err == (f"critpath gate: {url}/readyz: not settled after --settle 1 s: the "
                       "collector still holds 5 live traces (spans still arriving, or its "
                       "trace_wait_seconds is longer); raise --settle\n")


def test_settle_needs_a_collectors_readyz(capsys):
    # Something that answers HTTP but is not a critpath collector: no /readyz.
    from fastapi import FastAPI

    with serve(FastAPI()) as url:
        code, _, err = gate(capsys, "--from", url, "--settle", "5")
    assert code == 2
    assert err == (f"critpath gate: {url}/readyz: the collector answered HTTP 404 (--settle "
                   "needs a critpath collector's /readyz)\n")


@pytest.mark.parametrize("value", ["-1", "soon", "inf", "nan"])
def test_settle_wants_a_number_of_seconds(capsys, value):
    assert main(["gate", "--from", "http://127.0.0.1:1", "--settle", value]) == 2
    assert "is not a number of seconds (0 or more)" in capsys.readouterr().err


@contextlib.contextmanager
def scripted_readyz(answers: list[dict]) -> Iterator[tuple[str, list[dict]]]:
    """A real HTTP server whose /readyz gives ``answers`` in turn (the last one from then
    on); yields its base URL and the list of answers it has given."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    given: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            answer = answers[min(len(given), len(answers) - 1)]
            given.append(answer)
            body = json.dumps({"status": "ready", "pending_bytes": 0, **answer}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", given
    finally:
        server.shutdown()
        server.server_close()


def test_settle_ends_on_the_first_answer_with_nothing_buffered_or_being_analysed():
    from critpath.commands.gate import settle

    answers = [{"traces": 0, "live_traces": 4, "analyzing_traces": 0},
               {"traces": 0, "live_traces": 0, "analyzing_traces": 4},  # taken, not yet in
               {"traces": 2, "live_traces": 0, "analyzing_traces": 2},
               {"traces": 4, "live_traces": 0, "analyzing_traces": 0}]
    with scripted_readyz(answers) as (url, given):
        settle([url], seconds=30, timeout=5)
    assert given == answers  # no quiet period after the exact answer


def test_settle_on_a_collector_without_analyzing_traces_waits_for_a_still_count():
    from critpath.commands.gate import SETTLE_POLL, SETTLE_QUIET, settle

    answers = [{"traces": 3, "live_traces": 0}, {"traces": 4, "live_traces": 0}]
    with scripted_readyz(answers) as (url, given):
        settle([url], seconds=30, timeout=5)
    # The count must hold still for SETTLE_QUIET after its last change: more looks than two.
    assert len(given) >= 2 + int(SETTLE_QUIET / SETTLE_POLL)
