"""Data for the dashboard's tests: real traces, analysed by the real analyzer.

:class:`AnalyzedView` is a ``LiveView`` (docs/design.md) whose report and trace
documents come from ``analyzer.report`` over spans decoded from OTLP protobuf that the
OpenTelemetry SDK produced (``tests/support/sdk.py``). It is a data source for the pages
under test, not a stand-in for them; the browser tests also run against the real
collector app.

The scenarios draw a small bank: a gateway, four services, a database and a queue,
with an asynchronous hand-off and some failures; and a hostile variant whose names
and attributes are script and markup payloads.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from analyzer.aggregate import Aggregate
from analyzer.assemble import assemble
from analyzer.decode import decode
from analyzer.model import Span
from analyzer.report import build_report, trace_document
from tests.support.sdk import TraceBuilder

MS = 1_000_000

XSS_PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg onload=alert(1)>",
    "javascript:alert(1)",
    "'><iframe src=javascript:alert(1)>",
    "</title><script>alert(document.domain)</script>",
)


@dataclass(frozen=True)
class BankNames:
    """The names one scenario uses; the hostile variant swaps in payloads."""

    gateway: str = "web-gateway"
    accounts: str = "accounts"
    payments: str = "payments"
    ledger: str = "ledger"
    notifier: str = "notifier"
    transfer: str = "POST /transfer"
    balance: str = "GET /balance"
    database: str = "postgresql"
    queue: str = "kafka"


HOSTILE = BankNames(
    gateway=XSS_PAYLOADS[0],
    accounts=XSS_PAYLOADS[1],
    payments="payments",
    ledger=XSS_PAYLOADS[5],
    notifier="notifier",
    transfer=XSS_PAYLOADS[2],
    balance="GET /balance?x=" + XSS_PAYLOADS[4],
    database="<b onmouseover=alert(1)>db</b>",
    queue=XSS_PAYLOADS[3],
)


class AnalyzedView:
    """A ``LiveView`` over traces folded into a real :class:`analyzer.aggregate.Aggregate`.

    Every window shows everything (these tests are about pages, not windows). Safe to
    feed from a test thread while a server thread reads it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._aggregate = Aggregate()
        self._documents: dict[str, dict] = {}
        self._exemplars: dict[tuple[str, str], list[dict]] = {}
        self.version = 0

    def add_spans(self, spans: Iterable[Span]) -> list[str]:
        """Analyse the spans' traces; returns their trace ids."""
        added = []
        with self._lock:
            for trace in assemble(spans):
                ctx = self._aggregate.add_trace(trace)
                if ctx is None:
                    continue
                doc = trace_document(ctx)
                self._documents[trace.trace_id] = doc
                self._exemplars.setdefault((ctx.endpoint.service, ctx.endpoint.name), []).append({
                    "trace_id": trace.trace_id, "duration_ms": doc["duration_ms"],
                    "error": ctx.error, "start_ns": ctx.root.start_ns,
                })
                added.append(trace.trace_id)
            self.version += 1
        return added

    def add_otlp(self, payload: bytes) -> list[str]:
        """Decode an OTLP protobuf request (keeping every attribute) and analyse it."""
        return self.add_spans(decode(payload, source="sdk", keep_attributes=None).spans)

    def report(self, window: str = "all") -> dict:
        with self._lock:
            return build_report(self._aggregate, generated_at="2026-12-03T17:00:00Z")

    def trace(self, trace_id: str) -> dict | None:
        with self._lock:
            return self._documents.get(trace_id)

    def exemplars(self, service: str, name: str) -> list[dict]:
        with self._lock:
            return list(self._exemplars.get((service, name), []))


def bank_traces(count: int, **options) -> bytes:
    """:func:`bank_builder`'s traces as OTLP protobuf ``ExportTraceServiceRequest`` bytes."""
    return bank_builder(count, **options).otlp_protobuf()


def bank_builder(count: int, *, names: BankNames = BankNames(), seed: int = 7,
                 start_ns: int | None = None, fail_every: int = 6, fraud_check: str | None = None,
                 statements: bool = False, builder: TraceBuilder | None = None) -> TraceBuilder:
    """``count`` traces of the bank (transfers and balance reads), recorded by the SDK.

    Transfers: gateway → accounts (verify, reads the database) → payments → ledger
    (writes the database), then payments publishes to the queue and the notifier
    consumes after the response has gone. Every ``fail_every``-th transfer fails in
    payments. ``fraud_check`` names a service that payments also calls (a graph change
    for live-update tests); ``statements`` adds a third journey (statements reading the
    ledger and a redis cache) for a fuller picture. Times are drawn from a seeded
    generator, so runs repeat.
    """
    rng = random.Random(seed)
    builder = builder or TraceBuilder()
    t = start_ns if start_ns is not None else time.time_ns() - 60_000 * MS
    for i in range(count):
        jitter = rng.uniform(0.6, 1.6)
        if statements and i % 4 == 3:
            _statement(builder, names, t, jitter, slow_cache=rng.random() < 0.2)
        elif i % 3 == 2:
            _balance(builder, names, t, jitter)
        else:
            _transfer(builder, names, t, jitter, failing=fail_every > 0 and i % fail_every == 0,
                      hostile=names == HOSTILE, fraud_check=fraud_check)
        t += 200 * MS
    return builder


def _transfer(b: TraceBuilder, n: BankNames, t0: int, k: float, failing: bool, hostile: bool,
              fraud_check: str | None) -> None:
    def at(ms: float) -> int:
        return t0 + int(ms * k * MS)

    attributes = {"http.route": n.transfer}
    if hostile:
        attributes.update({f"payload.{i}": p for i, p in enumerate(XSS_PAYLOADS)})
    with b.span(n.gateway, n.transfer, at(0), at(120), kind="server", attributes=attributes, error=failing):
        with b.span(n.gateway, f"POST {n.accounts}/verify", at(4), at(34), kind="client",
                    attributes={"http.request.header.x-bank-timeout-ms": ("2000",)}):
            with b.span(n.accounts, "POST /verify", at(6), at(32), kind="server"):
                with b.span(n.accounts, "SELECT accounts", at(9), at(27), kind="client",
                            attributes={"db.system": n.database, "db.statement": "SELECT * FROM accounts WHERE id = ?"}):
                    pass
        with b.span(n.gateway, f"POST {n.payments}/charge", at(38), at(116), kind="client", error=failing):
            with b.span(n.payments, "POST /charge", at(40), at(113), kind="server", error=failing):
                if fraud_check:
                    with b.span(n.payments, f"POST {fraud_check}/score", at(41), at(43.5), kind="client"):
                        with b.span(fraud_check, "POST /score", at(41.5), at(43), kind="server"):
                            pass
                with b.span(n.payments, f"POST {n.ledger}/append", at(44), at(96), kind="client"):
                    with b.span(n.ledger, "POST /append", at(46), at(94), kind="server"):
                        with b.span(n.ledger, "INSERT entries", at(50), at(91), kind="client",
                                    attributes={"db.system": n.database}):
                            pass
                with b.span(n.payments, "publish transfer.done", at(97), at(101), kind="producer",
                            attributes={"messaging.system": n.queue}):
                    with b.span(n.notifier, "process transfer.done", at(103), at(160), kind="consumer",
                                attributes={"messaging.system": n.queue}):
                        pass


def _balance(b: TraceBuilder, n: BankNames, t0: int, k: float) -> None:
    def at(ms: float) -> int:
        return t0 + int(ms * k * MS)

    with b.span(n.gateway, n.balance, at(0), at(30), kind="server"):
        with b.span(n.gateway, f"GET {n.accounts}/balance", at(2), at(28), kind="client"):
            with b.span(n.accounts, "GET /balance", at(4), at(26), kind="server"):
                with b.span(n.accounts, "SELECT balance", at(6), at(22), kind="client",
                            attributes={"db.system": n.database}):
                    pass


def _statement(b: TraceBuilder, n: BankNames, t0: int, k: float, slow_cache: bool) -> None:
    def at(ms: float) -> int:
        return t0 + int(ms * k * MS)

    cache_end = 40 if slow_cache else 6
    with b.span(n.gateway, "GET /statement", at(0), at(cache_end + 70), kind="server"):
        with b.span(n.gateway, "GET statements/monthly", at(2), at(cache_end + 68), kind="client",
                    attributes={"http.request.header.x-bank-timeout-ms": ("3000",)}):
            with b.span("statements", "GET /monthly", at(3), at(cache_end + 66), kind="server"):
                with b.span("statements", "GET cache", at(4), at(cache_end), kind="client",
                            attributes={"db.system": "redis"}):
                    pass
                with b.span("statements", f"GET {n.ledger}/entries", at(cache_end + 2), at(cache_end + 60),
                            kind="client", attributes={"http.request.header.x-bank-timeout-ms": ("2500",)}):
                    with b.span(n.ledger, "GET /entries", at(cache_end + 3), at(cache_end + 58), kind="server"):
                        with b.span(n.ledger, "SELECT entries", at(cache_end + 5), at(cache_end + 55),
                                    kind="client", attributes={"db.system": n.database}):
                            pass


# The demo bank's service graph (instrumented_bank, as the e2e demo records it): 15 services
# that all keep their data in one shared sqlite database, plus the user and apns. Calls
# are (client, server, requests, failed); the report around them is what the dashboard
# reads. Used where the dashboard must stay legible on a graph of the real bank's size.
DEMO_BANK_CALLS = (
    ("user", "card-processing", 83, 2), ("user", "gateway", 215, 0),
    ("card-processing", "balance", 92, 2), ("card-processing", "cards", 93, 0),
    ("card-processing", "feed-generator", 80, 14), ("card-processing", "push", 80, 14),
    ("card-processing", "transaction-enrichment", 80, 24), ("card-processing", "transactions", 90, 0),
    ("gateway", "balance", 98, 0), ("gateway", "cards", 3, 0), ("gateway", "feed", 63, 0),
    ("gateway", "payments", 49, 0), ("gateway", "pots", 32, 0), ("gateway", "profile", 5, 0),
    ("gateway", "support", 4, 0), ("gateway", "transactions", 98, 0),
    ("payments", "accounts", 49, 0), ("payments", "balance", 98, 0), ("payments", "transactions", 49, 0),
    ("support", "accounts", 4, 0), ("support", "profile", 4, 0),
    ("push", "apns", 80, 14), ("feed-generator", "feed", 66, 0), ("transactions", "feed", 63, 22),
    ("feed", "merchant", 40, 4), ("transaction-enrichment", "merchant", 66, 10),
) + tuple((s, "sqlite", 1_800 if s in ("balance", "transactions") else 90, 0) for s in (
    "accounts", "balance", "card-processing", "cards", "feed", "feed-generator", "gateway", "merchant",
    "payments", "pots", "profile", "push", "support", "transaction-enrichment", "transactions"))


def demo_bank_report() -> dict:
    """A report with the demo bank's graph (see :data:`DEMO_BANK_CALLS`)."""
    names = sorted({n for c in DEMO_BANK_CALLS for n in c[:2]})
    kinds = {"user": "virtual", "apns": "virtual", "sqlite": "database"}
    shares = {"card-processing": 0.62, "balance": 0.08, "transactions": 0.08, "payments": 0.04,
              "gateway": 0.04, "feed": 0.03, "merchant": 0.03, "feed-generator": 0.03,
              "transaction-enrichment": 0.02, "cards": 0.01}
    return {
        "schema": "critpath.report/v1", "traces": 308, "spans": 5393, "window": "all",
        "services": [{"name": n, "kind": kinds.get(n, "service")} for n in names],
        "edges": [{"client": c, "server": s, "connection_type": "http", "requests": r, "failed": f,
                   "p50_ms": 12.5, "p99_ms": 345.6, "timeout_ms": None} for c, s, r, f in DEMO_BANK_CALLS],
        "endpoints": [{"service": "card-processing", "name": "POST /authorisations", "traces": 83, "errors": 2,
                       "p50_ms": 948.7, "p99_ms": 3736.2,
                       "critical_path": {"depth_p50": 3, "depth_max": 3, "services": [
                           {"name": n, "share": v, "p50_ms": 1.0, "p99_ms": 2.0} for n, v in shares.items()]}}],
        "findings": [],
    }
