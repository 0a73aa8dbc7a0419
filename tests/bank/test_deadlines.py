"""Timeouts and deadlines are enforced, not only declared: a server whose inbound budget is
spent starts no call and answers 504; a call to a dependency that answers too late, or
trickles its answer, fails at about its declared timeout (DependencyTimeout, 504); push
gives up on APNs at its 800 ms. Services run in-process (TestClient) against small real
HTTP servers standing in for their dependencies."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumented_bank.client import DependencyError, DependencyTimeout, ServiceClient
from instrumented_bank.deadline import INBOUND_BUDGET_ATTRIBUTE, TIMEOUT_ATTRIBUTE, TIMEOUT_HEADER
from instrumented_bank.service import create_app
from instrumented_bank.settings import BankSettings
from tests.bank.harness import QUIET_FAULTS, free_base_port

BALANCE_PATH = "/accounts/acc-001/balance"


class FakeDependency:
    """A real HTTP server on a bank service's port: answers at once, after ``delay_s``,
    or trickles its JSON answer a byte every ``trickle_s``; counts the requests it got."""

    def __init__(self, port: int) -> None:
        self.mode, self.delay_s, self.trickle_s = "fast", 0.0, 0.1
        self.requests = 0
        self.inbound_timeouts: list[str | None] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                fake.requests += 1
                fake.inbound_timeouts.append(self.headers.get(TIMEOUT_HEADER))
                body = b'{"account_id": "acc-001", "balance": 5, "pots": [], "total": 0}'
                if fake.mode == "silent":
                    time.sleep(fake.delay_s)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if fake.mode == "trickle":
                        for byte in body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(fake.trickle_s)
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller gave up: what these tests want

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def gateway(tmp_path, **fault_changes) -> Iterator[tuple[TestClient, InMemorySpanExporter, dict]]:
    """The gateway in-process, with fake balance and pots services on their ports."""
    settings = BankSettings(
        base_port=free_base_port(),
        data_dir=tmp_path,
        faults=replace(QUIET_FAULTS, **fault_changes),
    )
    fakes = {n: FakeDependency(settings.port_of(n)) for n in ("balance", "pots")}
    exporter = InMemorySpanExporter()
    try:
        with TestClient(create_app("gateway", settings, exporter=exporter)) as client:
            yield client, exporter, fakes
    finally:
        for fake in fakes.values():
            fake.close()


def client_spans(exporter: InMemorySpanExporter) -> list:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]


def http_status(span) -> int | None:
    """The response status a span records (stable or, in-process, legacy conventions)."""
    return span.attributes.get("http.response.status_code", span.attributes.get("http.status_code"))


def test_a_request_whose_budget_is_spent_starts_no_call_and_answers_504(tmp_path):
    # The gateway works 100 ms before calling balance; a 20 ms budget is gone by then.
    with gateway(tmp_path, work_ms=100) as (client, exporter, fakes):
        answer = client.get(BALANCE_PATH, headers={TIMEOUT_HEADER: "20"})
        assert answer.status_code == 504, answer.text
        assert answer.json()["error"] == "deadline_exceeded"
        assert fakes["balance"].requests == 0
        # With budget to spare the same request does call balance and pots.
        answer = client.get(BALANCE_PATH, headers={TIMEOUT_HEADER: "5000"})
        assert answer.status_code == 200, answer.text
        assert fakes["balance"].requests == fakes["pots"].requests == 1
        # The callee learns the caller's timeout.
        assert fakes["balance"].inbound_timeouts == ["1000"]
    servers = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert [s.attributes[INBOUND_BUDGET_ATTRIBUTE] for s in servers] == [20, 5000]
    assert http_status(servers[0]) == 504
    # Only the second request made calls (balance, then pots).
    calls = client_spans(exporter)
    assert len(calls) == 2 and all(c.parent.span_id == servers[1].context.span_id for c in calls)


@pytest.mark.parametrize("mode", ["silent", "trickle"])
def test_a_slow_dependency_fails_at_the_declared_timeout_with_504(tmp_path, mode):
    """``silent`` answers after 4 s; ``trickle`` answers at once but sends its body a byte
    every 0.1 s (over 6 s in all), so no single read waits long: only a timeout over the
    whole call, as the span declares it, stops it at 1000 ms."""
    with gateway(tmp_path) as (client, exporter, fakes):
        fakes["balance"].mode, fakes["balance"].delay_s = mode, 4.0
        started = time.monotonic()
        answer = client.get(BALANCE_PATH)
        elapsed = time.monotonic() - started
    assert answer.status_code == 504, answer.text
    assert answer.json() == {
        "error": "dependency_failed",
        "dependency": "balance",
        "detail": answer.json()["detail"],
    }
    assert "no answer in time" in answer.json()["detail"]
    assert 0.95 <= elapsed < 2.5, elapsed
    (call,) = client_spans(exporter)  # pots is never called
    assert call.attributes["peer.service"] == "balance"
    assert call.attributes[TIMEOUT_ATTRIBUTE] == ("1000",)
    assert call.status.status_code is StatusCode.ERROR
    assert 0.95 <= (call.end_time - call.start_time) / 1e9 < 2.0


def test_service_client_raises_dependency_timeout_and_no_timeout_waits(tmp_path):
    port = free_base_port()
    fake = FakeDependency(port)
    fake.mode, fake.delay_s = "silent", 0.6
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    timeouts = {"quick": 300, "patient": None}
    service_client = ServiceClient(
        "caller",
        url_of=lambda _: f"http://127.0.0.1:{port}",
        timeouts=lambda _, callee: timeouts[callee],
        tracer_provider=provider,
    )
    try:
        started = time.monotonic()
        with pytest.raises(DependencyTimeout) as caught:
            service_client.get("quick", "/anything")
        assert 0.28 <= time.monotonic() - started < 0.55
        assert isinstance(caught.value, DependencyError) and caught.value.status == 504
        # Without a timeout the call waits for the slow answer.
        assert service_client.get("patient", "/anything")["balance"] == 5
        fake.mode = "trickle"
        fake.trickle_s = 0.001  # a trickle that ends in time is fine
        assert service_client.get("quick", "/anything")["balance"] == 5
    finally:
        service_client.close()
        fake.close()
        provider.shutdown()
    quick, patient, trickled = exporter.get_finished_spans()
    assert quick.status.status_code is StatusCode.ERROR
    assert quick.attributes[TIMEOUT_ATTRIBUTE] == ("300",)
    assert TIMEOUT_ATTRIBUTE not in patient.attributes
    assert patient.status.status_code is not StatusCode.ERROR
    assert http_status(trickled) == 200


def test_push_gives_up_on_apns_at_its_declared_timeout(tmp_path):
    settings = BankSettings(
        base_port=free_base_port(),
        data_dir=tmp_path,
        # APNs takes 2 to 6 s here; push waits 800 ms.
        faults=replace(QUIET_FAULTS, apns_latency_ms=4000),
    )
    exporter = InMemorySpanExporter()
    with TestClient(create_app("push", settings, exporter=exporter)) as client:
        started = time.monotonic()
        answer = client.post("/notifications", json={"account_id": "acc-001", "title": "Paid"})
        elapsed = time.monotonic() - started
    assert answer.status_code == 502 and answer.json()["detail"]["error"] == "apns_timeout"
    assert 0.75 <= elapsed < 1.8, elapsed
    (apns,) = [
        s
        for s in exporter.get_finished_spans()
        if s.kind is SpanKind.CLIENT and s.attributes.get("peer.service") == "apns"
    ]
    assert apns.attributes[TIMEOUT_ATTRIBUTE] == ("800",)
    assert apns.status.status_code is StatusCode.ERROR
    assert apns.attributes["error.type"] == "timeout"
    assert 0.78 <= (apns.end_time - apns.start_time) / 1e9 < 1.2
