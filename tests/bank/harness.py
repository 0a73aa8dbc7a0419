"""Starting a real bank for a test module, and reading its traces."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from instrumented_bank.journeys import BankApp
from instrumented_bank.runner import RunningBank, find_taken_port, start_bank
from instrumented_bank.settings import BankSettings, Faults
from tests.bank.otlp_receiver import OtlpReceiver, ReceivedSpan, running_receiver

#: Deterministic faults for the trace assertions: nothing slow, nothing failing, short work.
QUIET_FAULTS = Faults(
    merchant_slow_rate=0.0,
    merchant_failure_rate=0.0,
    apns_failure_rate=0.0,
    side_effect_failure_rate=0.0,
    apns_latency_ms=5,
    enrichment_latency_ms=5,
    feed_generation_latency_ms=5,
    work_ms=1,
)
TIMEOUT_ATTRIBUTE = "http.request.header.x-bank-timeout-ms"
#: Queue destination -> consuming service, for card authorisation's side effects (fixed).
QUEUED = {
    "transaction-enrichment.transactions": "transaction-enrichment",
    "feed-generator.transactions": "feed-generator",
    "push.notifications": "push",
}


def free_base_port(host: str = "127.0.0.1") -> int:
    """A base port whose 15 consecutive ports are free right now (chosen at random).

    Chosen below the kernel's ephemeral range, where outgoing connections (the bank's
    own, or any other program's) would otherwise take ports between check and bind.
    """
    low, _ = (int(p) for p in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    rng = random.Random()
    for _ in range(50):
        base = rng.randrange(10_000, max(low - 15, 10_001))
        if find_taken_port(BankSettings(base_port=base, host=host)) is None:
            return base
    raise RuntimeError("no run of 15 free ports found")


@dataclass
class TestBank:
    bank: RunningBank
    app: BankApp
    receiver: OtlpReceiver

    @property
    def settings(self) -> BankSettings:
        return self.bank.settings


@contextmanager
def running_bank(
    data_dir: Path, scenario: str, faults: Faults = QUIET_FAULTS, queue_url: str = ""
) -> Iterator[TestBank]:
    """A real bank (15 processes) exporting to an in-test OTLP receiver; its work queue is
    the SQLite file unless ``queue_url`` names a Redis server."""
    with running_receiver() as receiver:
        settings = BankSettings(
            scenario=scenario,
            base_port=free_base_port(),
            data_dir=data_dir,
            faults=faults,
            queue_poll_ms=20,
            queue_url=queue_url,
        )
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        with (
            start_bank(settings, env=env) as bank,
            BankApp(bank.gateway_url, bank.card_processing_url) as app,
        ):
            yield TestBank(bank, app, receiver)


# --- reading traces -------------------------------------------------------------------


def by_id(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {s.span_id: s for s in spans}


def hops(spans: list[ReceivedSpan]) -> set[tuple[str, str, str]]:
    """(client service, server service, server span name) of every request/response call."""
    index = by_id(spans)
    found = set()
    for span in spans:
        parent = index.get(span.parent_id or "")
        if span.kind == "server" and parent is not None and parent.kind == "client":
            found.add((parent.service, span.service, span.name))
    return found


def client_spans(spans: list[ReceivedSpan], client: str, server: str) -> list[ReceivedSpan]:
    """CLIENT spans of ``client`` that call ``server`` (by ``peer.service``)."""
    return [
        s
        for s in spans
        if s.kind == "client" and s.service == client and s.attr("peer.service") == server
    ]


def db_services(spans: list[ReceivedSpan]) -> set[str]:
    """Services that made SQLite calls in these spans."""
    return {s.service for s in spans if s.kind == "client" and s.attr("db.system") == "sqlite"}


def is_edge(span: ReceivedSpan) -> bool:
    """A SERVER span of a request from outside the bank: the app calls the gateway, the
    card network calls card-processing's authorisations; no service calls either."""
    return span.kind == "server" and (
        span.service == "gateway"
        or (span.service, span.name) == ("card-processing", "POST /authorisations")
    )


def assert_one_tree(
    received: list[ReceivedSpan], spans: list[ReceivedSpan], root_service: str, root_name: str
) -> ReceivedSpan:
    """One root (the edge SERVER span), every parent present, every non-root SERVER span a
    child of a CLIENT span in another process that names it as its peer, and no stray
    trace: no other trace was started anywhere in the bank while this request ran.

    ``spans`` are the request's trace (as :meth:`OtlpReceiver.wait_for` returns them) and
    ``received`` everything the receiver got: a hop that lost the trace context would show
    up there as a root span of another trace that is not an edge span, inside this
    request's time window. (Edge spans are requests from outside; the server span ends
    after the response went out, so the test's next request may start inside the window.)
    """
    index = by_id(spans)
    roots = [s for s in spans if s.parent_id is None]
    assert len(roots) == 1, [(r.service, r.name) for r in roots]
    root = roots[0]
    assert (root.service, root.kind, root.name) == (root_service, "server", root_name)
    strays = [
        (s.service, s.kind, s.name)
        for s in received
        if s.trace_id != root.trace_id
        and s.parent_id is None
        and not is_edge(s)
        and root.start_ns <= s.start_ns <= root.end_ns
    ]
    assert not strays, f"traces started while {root_name} ran: {strays}"
    for span in spans:
        if span is root:
            continue
        assert span.parent_id in index, f"{span.service} {span.name}: parent missing"
        parent = index[span.parent_id]
        assert parent.start_ns <= span.start_ns, f"{span.name} starts before its parent"
        if span.kind == "server":
            assert parent.kind == "client" and parent.service != span.service, (
                span.name,
                parent.name,
            )
            assert parent.attr("peer.service") == span.service
    return root


def has_hops(*expected: tuple[str, str, str]):
    """A ``done`` predicate for :meth:`OtlpReceiver.wait_for`: all these hops arrived."""
    return lambda spans: set(expected) <= hops(spans)


def consumers_done(spans: list[ReceivedSpan]) -> bool:
    """A ``done`` predicate: card authorisation's three consumers ran, and the work they
    started (merchant, feed, APNs) too."""
    consumers = {s.service for s in spans if s.kind == "consumer"}
    return (
        set(QUEUED.values()) <= consumers
        and ("feed-generator", "feed", "POST /accounts/{account_id}/items") in hops(spans)
        and ("transaction-enrichment", "merchant", "GET /merchants/{merchant_id}") in hops(spans)
        and bool(client_spans(spans, "push", "apns"))
    )
