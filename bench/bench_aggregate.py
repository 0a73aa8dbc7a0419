"""``Aggregate.add_trace`` per span, part by part, on bank-like traces.

The collector's own benchmark (``bench_collector``) uses traces whose calls carry no HTTP
method or SQL statement, so no call is a write and the deferrable-work what-if never runs.
These traces are shaped like the demo bank's: a gateway endpoint calling three services
over HTTP, each with database client spans (reads and writes), a write on the critical
path that nothing follows (the what-if case), retries and a tolerated failure now and
then; 12 to 40 spans over 3 service levels.

Reported: CPU µs per span of each part ``Aggregate.add_trace`` runs — the critical path
with its derived facts (``trace_context``), the service graph, the endpoint profiles and
the rules' call statistics — best of three, and the spans/s of the whole fold.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable

from analyzer.aggregate import Aggregate, trace_context
from analyzer.assemble import assemble
from analyzer.model import Span, SpanKind, StatusCode, Trace

MS = 1_000_000
_SERVER, _CLIENT = SpanKind.SERVER, SpanKind.CLIENT


def bank_traces(count: int, seed: int = 11) -> list[Trace]:
    """``count`` assembled bank-like traces (see the module docstring)."""
    rng = random.Random(seed)
    spans: list[Span] = []
    for n in range(count):
        trace_id = f"{n + 1:032x}"
        ids = iter(f"{n:08x}{i:08x}" for i in range(1000))

        def add(parent: str | None, service: str, name: str, kind: SpanKind, start: int,
                end: int, attributes: dict | None = None, error: bool = False,
                _trace_id: str = trace_id, _ids=ids) -> str:
            span_id = next(_ids)
            spans.append(Span(_trace_id, span_id, parent, service, name, kind, start, end,
                              StatusCode.ERROR if error else StatusCode.UNSET,
                              attributes or {}))
            return span_id

        t = 1_700_000_000_000_000_000 + n * 1000 * MS
        end = t + (150 + rng.randrange(60)) * MS
        root = add(None, "bank-gateway", "POST /transfers", _SERVER, t, end,
                   {"http.request.method": "POST"})
        cursor = t + 2 * MS
        # accounts: a read, with one to four SELECTs
        cursor = _service_call(add, rng, root, cursor, "accounts", "GET", "/accounts/{id}",
                               [("SELECT", False)] * rng.randint(1, 4))
        # ledger: a write with a read and two to five INSERT/UPDATEs; sometimes retried
        attempts = 2 if rng.random() < 0.1 else 1
        for attempt in range(attempts):
            cursor = _service_call(add, rng, root, cursor, "ledger", "POST", "/entries",
                                   [("SELECT", False)] + [("INSERT", True)] * rng.randint(2, 5),
                                   error=attempt < attempts - 1)
        # audit and notify in parallel, then nothing: audit is a deferrable write
        audit_end = _service_call(add, rng, root, cursor, "audit", "POST", "/events",
                                  [("INSERT", True)], error=rng.random() < 0.05)
        _service_call(add, rng, root, cursor + MS, "notify", "POST", "/notify",
                      [("SELECT", False), ("UPDATE", True)])
        assert audit_end < end
    return assemble(spans)


def _service_call(add: Callable[..., str], rng: random.Random, parent: str, start: int,
                  service: str, method: str, route: str, statements: list[tuple[str, bool]],
                  error: bool = False) -> int:
    """A gateway CLIENT span, the service's SERVER span and its database calls; the end."""
    cursor = start + MS
    db_calls = []
    for verb, _ in statements:
        duration = (1 + rng.randrange(6)) * MS
        db_calls.append((verb, cursor + MS // 2, cursor + MS // 2 + duration))
        cursor += duration + MS
    end = cursor + MS
    client = add(parent, "bank-gateway", f"{method} {service}", _CLIENT, start, end + MS,
                 {"http.request.method": method, "server.address": service,
                  "http.request.header.x-bank-timeout-ms": ("2000",)}, error=error)
    server = add(client, service, f"{method} {route}", _SERVER, start + MS // 2, end,
                 {"http.request.method": method}, error=error)
    for verb, low, high in db_calls:
        add(server, service, f"{verb} {service}", _CLIENT, low, high,
            {"db.system": "postgresql", "db.statement": f"{verb} * FROM t WHERE id = $1"})
    return end + MS


def part_costs(traces: list[Trace]) -> list[tuple[str, float]]:
    """CPU µs per span of each part of ``Aggregate.add_trace``, best of three."""
    spans = sum(len(trace.spans) for trace in traces)
    best: dict[str, float] = {}
    for _ in range(3):
        gc.collect()
        clock = time.process_time
        started = clock()
        contexts = [trace_context(trace) for trace in traces]
        timings = [("critical path and depths (TraceContext)", clock() - started)]
        aggregate = Aggregate()
        for name, fold in (("service graph", lambda c: aggregate.graph.add(c.trace)),
                           ("endpoint profiles", aggregate.endpoints.add),
                           ("rules' call statistics", aggregate.calls.add)):
            started = clock()
            for ctx in contexts:
                fold(ctx)
            timings.append((name, clock() - started))
        started = clock()
        whole = Aggregate()
        for trace in traces:
            whole.add_trace(trace)
        timings.append(("Aggregate.add_trace, all parts", clock() - started))
        for name, seconds in timings:
            best[name] = min(best.get(name, float("inf")), seconds / spans * 1e6)
    return list(best.items())


def run(quick: bool) -> str:
    traces = bank_traces(500 if quick else 3000)
    spans = sum(len(trace.spans) for trace in traces)
    costs = part_costs(traces)
    lines = [f"{len(traces):,} bank-like traces, {spans:,} spans "
             f"({spans / len(traces):.1f} per trace); CPU µs per span, best of 3:"]
    lines += [f"  {cost:6.2f}  {name}" for name, cost in costs]
    total = dict(costs)["Aggregate.add_trace, all parts"]
    lines.append(f"Aggregate.add_trace: {1e6 / total:,.0f} spans per CPU-second")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys
    print(run(quick="--quick" in sys.argv))
