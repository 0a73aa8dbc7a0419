"""Hand-built bank traces for the rules' tests, recorded by the real OpenTelemetry SDK.

Every scenario draws one request of the demo bank on a millisecond timeline, records it
with :class:`~tests.support.sdk.TraceBuilder`, and the tests read it back the way
critpath reads a collector's input: OTLP protobuf bytes → ``decode`` → ``assemble`` →
``trace_context`` → :class:`~analyzer.rules.CallAggregate`.

Times are milliseconds after :data:`T0`; each request of a batch starts one second after
the previous one so traces never overlap.
"""

from __future__ import annotations

from collections.abc import Mapping

from analyzer.aggregate import trace_context
from analyzer.assemble import assemble
from analyzer.config import AnalysisConfig
from analyzer.decode import decode
from analyzer.model import Trace
from analyzer.rules import CallAggregate, Finding, evaluate
from tests.support.sdk import TraceBuilder

MS = 1_000_000
T0 = 1_700_000_000_000 * MS
TIMEOUT = "http.request.header.x-bank-timeout-ms"


def at(request: int, ms: float) -> int:
    """Absolute ns of ``ms`` into the ``request``-th request of a batch."""
    return T0 + request * 1000 * MS + round(ms * MS)


def http(method: str, timeout_ms: int | str | None = None, **extra: object) -> dict[str, object]:
    """Client-span attributes of an HTTP call, with the bank's deadline header if given."""
    attrs: dict[str, object] = {"http.request.method": method}
    if timeout_ms is not None:
        attrs[TIMEOUT] = (str(timeout_ms),)
    attrs.update(extra)
    return attrs


def traces(builder: TraceBuilder) -> list[Trace]:
    """The builder's spans through the real OTLP encoder, critpath's decoder and assembly."""
    decoded = decode(builder.otlp_protobuf(), source="sdk")
    return assemble(decoded.spans)


def aggregate(builder: TraceBuilder, config: AnalysisConfig | None = None) -> CallAggregate:
    config = config or AnalysisConfig()
    calls = CallAggregate(config.timeout_keys)
    for trace in traces(builder):
        ctx = trace_context(trace)
        assert ctx is not None
        calls.add(ctx)
    return calls


def findings(builder: TraceBuilder, config: AnalysisConfig | None = None) -> list[Finding]:
    config = config or AnalysisConfig()
    return evaluate(aggregate(builder, config), config)


def call(b: TraceBuilder, i: int, client: str, server: str, op: str, start: float, end: float,
         attrs: Mapping[str, object], *, error: bool = False, server_error: bool | None = None,
         client_error_type: str | None = None) -> None:
    """One HTTP call from ``client`` to ``server``'s ``op``, under the current span.

    The server span sits 1 ms inside the client span. ``client_error_type`` marks the
    client span failed with that ``error.type`` (e.g. a timeout).
    """
    client_attrs = dict(attrs)
    if client_error_type is not None:
        client_attrs["error.type"] = client_error_type
        error = True
    with b.span(client, str(client_attrs.get("http.request.method", op)), at(i, start), at(i, end),
                kind="client", attributes=client_attrs, error=error):
        with b.span(server, op, at(i, start + 1), at(i, end - 1), kind="server",
                    error=error if server_error is None else server_error):
            pass


def transfer(b: TraceBuilder, i: int, *, audit_fails: bool = False, audit_method: str = "POST",
             read_after: bool = False, cache_during_audit: bool = False,
             gateway_fails: bool = False) -> None:
    """``POST /transfers`` on the gateway, with an audit write it does not need::

        gateway  |0=================================================100|
        ledger        |5====30|                          (POST /entries)
        audit                    |40==================90|  (POST /audit, may fail)
        cache                          |50==70|          (GET /limits, optional)
        ledger                                             |92=98| (GET /balance, optional)

    Queuing the audit saves 50 ms (the gateway answers at 50 instead of 100) or 20 ms
    when the cache read runs until 70 (the gateway still waits for it).
    """
    with b.span("gateway", "POST /transfers", at(i, 0), at(i, 100), kind="server",
                attributes={"http.request.method": "POST"}, error=gateway_fails):
        call(b, i, "gateway", "ledger", "POST /entries", 5, 30, http("POST", 2000))
        call(b, i, "gateway", "audit", f"{audit_method} /audit", 40, 90,
             http(audit_method, 2000), error=audit_fails)
        if cache_during_audit:
            call(b, i, "gateway", "cache", "GET /limits", 50, 70, http("GET", 2000))
        if read_after:
            call(b, i, "gateway", "ledger", "GET /balance", 92, 98, http("GET", 2000))


def account_read(b: TraceBuilder, i: int, accounts_ms: float = 20, *, attrs: dict | None = None,
                 error_type: str | None = None) -> None:
    """``GET /accounts/{id}`` on the gateway calling accounts for ``accounts_ms``::

        gateway  |0=====================================|  (ends 10 ms after the call)
        accounts     |5=====(5 + accounts_ms)=====|

    A failed call fails the gateway too (the account is needed).
    """
    end = 5 + accounts_ms
    with b.span("gateway", "GET /accounts/{id}", at(i, 0), at(i, end + 10), kind="server",
                error=error_type is not None):
        call(b, i, "gateway", "accounts", "GET /accounts/{id}", 5, end,
             attrs if attrs is not None else http("GET"), client_error_type=error_type)


def fan_out(b: TraceBuilder, i: int, prices_ms: float, *, audit_fails: bool = False) -> None:
    """``POST /checkout`` on the gateway, calling orders and, in parallel, prices; orders
    writes to audit and does not need the answer::

        gateway  |0=================================================100|
        orders   |0=================================================100|  (POST /orders)
          audit                        |50==================90|         (POST /audit)
        prices   |0=========================(prices_ms)|                (GET /prices)

    Queued, the audit frees 40 ms in orders (it answers at 60: 49 ms of work before the
    call, 9 after); the gateway answers when both orders and prices have, at
    max(60, prices_ms), so it saves 20 ms with prices_ms = 80 and the full 40 ms when
    prices is done by 60.
    """
    with b.span("gateway", "POST /checkout", at(i, 0), at(i, 100), kind="server",
                attributes={"http.request.method": "POST"}):
        with b.span("gateway", "POST", at(i, 0), at(i, 100), kind="client",
                    attributes=http("POST", 2000)):
            with b.span("orders", "POST /orders", at(i, 1), at(i, 99), kind="server"):
                call(b, i, "orders", "audit", "POST /audit", 50, 90, http("POST", 1000),
                     error=audit_fails)
        call(b, i, "gateway", "prices", "GET /prices", 0, prices_ms, http("GET", 2000))
