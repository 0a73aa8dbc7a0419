"""The documents critpath hands out: ``critpath.report/v1``, ``critpath.trace/v1`` and
``critpath.paths/v1`` (ARCHITECTURE.md §6, §7; docs/design.md).

Each is a plain JSON-ready ``dict`` built from analysis results; rendering them as
text or markdown is :mod:`analyzer.render`'s job. Durations are milliseconds rounded
to the microsecond (3 decimals); shares are rounded to 6 decimals.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from analyzer.aggregate import Aggregate, TraceContext, trace_context
from analyzer.assemble import assemble
from analyzer.config import AnalysisConfig
from analyzer.model import AttrValue, Endpoint, Span, Trace
from analyzer.profile import EndpointProfile
from analyzer.rules import evaluate

REPORT_SCHEMA = "critpath.report/v1"
TRACE_SCHEMA = "critpath.trace/v1"
PATHS_SCHEMA = "critpath.paths/v1"


def _ms(ns: int | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 3)


def _iso(generated_at: datetime | str) -> str:
    if isinstance(generated_at, str):
        return generated_at
    if generated_at.tzinfo is None:  # a naive time is taken to be UTC, not local time
        generated_at = generated_at.replace(tzinfo=UTC)
    return generated_at.isoformat().replace("+00:00", "Z")


# -- critpath.report/v1 ---------------------------------------------------------------


def analyze_spans(spans: Iterable[Span], config: AnalysisConfig | None = None) -> Aggregate:
    """Assemble ``spans`` into traces and fold them all into a new :class:`Aggregate`."""
    aggregate = Aggregate(config)
    aggregate.add_traces(assemble(spans))
    return aggregate


def build_report(
    aggregate: Aggregate, config: AnalysisConfig | None = None,
    generated_at: datetime | str | None = None,
) -> dict[str, Any]:
    """The ``critpath.report/v1`` document of ``aggregate``.

    ``services`` are ordered by call depth (callers first), then name; ``edges`` by
    their client's call depth, then client, server and connection type; ``endpoints``
    worst first (highest p99, then most errors, then name); ``findings`` worst first.
    ``generated_at`` defaults to now (UTC); pass it to make the document reproducible.
    """
    config = config or aggregate.config
    graph = aggregate.graph
    stamp = _iso(generated_at if generated_at is not None else datetime.now(UTC))
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": stamp,
        "traces": aggregate.traces,
        "spans": aggregate.spans,
        "services": [{"name": name, "kind": kind} for name, kind in graph.sorted_nodes()],
        "edges": [
            {
                "client": key.client, "server": key.server,
                "connection_type": key.connection_type,
                "requests": stats.requests, "failed": stats.failed,
                "p50_ms": stats.latency().quantile_ms(0.5),
                "p99_ms": stats.latency().quantile_ms(0.99),
                "timeout_ms": stats.timeouts.quantile_ms(0.5),
                "server_p50_ms": stats.server.quantile_ms(0.5),
                "server_p99_ms": stats.server.quantile_ms(0.99),
            }
            for key, stats in graph.sorted_edges()
        ],
        "endpoints": [
            endpoint_document(endpoint, profile)
            for endpoint, profile in sorted(aggregate.endpoints.items(), key=_worst_first)
        ],
        "findings": [finding.to_dict() for finding in evaluate(aggregate.calls, config)],
    }


def _worst_first(item: tuple[Endpoint, EndpointProfile]) -> tuple[Any, ...]:
    endpoint, profile = item
    return (-(profile.latency.quantile(0.99) or 0), -profile.errors, endpoint.service,
            endpoint.name)


def endpoint_document(endpoint: Endpoint, profile: EndpointProfile) -> dict[str, Any]:
    """One row of the report's ``endpoints``: latency, depth and critical-path breakdown."""
    services = []
    for name, share in profile.services_by_share():
        time = profile.service_time(name)
        services.append({
            "name": name, "share": round(share, 6),
            "p50_ms": time.quantile_ms(0.5), "p99_ms": time.quantile_ms(0.99),
        })
    return {
        "service": endpoint.service, "name": endpoint.name,
        "traces": profile.traces, "errors": profile.errors,
        "p50_ms": profile.latency.quantile_ms(0.5),
        "p99_ms": profile.latency.quantile_ms(0.99),
        "critical_path": {
            "depth_p50": profile.depth_quantile(0.5),
            "depth_max": profile.depth_max,
            "services": services,
        },
    }


# -- critpath.trace/v1 and critpath.paths/v1 --------------------------------------------


def tree_order(trace: Trace) -> list[tuple[Span, int]]:
    """Every span with its depth in the span tree (roots 0), parents before children.

    Depth-first from each root in ``trace.roots`` order, children by start time: the
    order of a waterfall view.
    """
    ordered: list[tuple[Span, int]] = []
    spans = trace.spans
    seen: set[str] = set()
    for root_id in trace.roots:
        stack = [(root_id, 0)]
        while stack:
            span_id, depth = stack.pop()
            if span_id in seen or span_id not in spans:
                continue
            seen.add(span_id)
            ordered.append((spans[span_id], depth))
            stack.extend((kid, depth + 1) for kid in reversed(trace.children.get(span_id, ())))
    # Assembly makes every span reachable from a root; this keeps a hand-built Trace whole.
    rest = sorted((s for s in spans.values() if s.span_id not in seen),
                  key=lambda s: (s.start_ns, s.span_id))
    ordered.extend((span, 0) for span in rest)
    return ordered


def _attribute(value: AttrValue) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _segments(ctx: TraceContext) -> list[dict[str, Any]]:
    spans = ctx.trace.spans
    return [
        {"span_id": seg.span_id, "service": spans[seg.span_id].service,
         "name": spans[seg.span_id].name, "start_ns": seg.start_ns, "end_ns": seg.end_ns}
        for seg in ctx.segments
    ]


def _context(trace: Trace) -> TraceContext:
    ctx = trace_context(trace)
    if ctx is None:
        raise ValueError(f"trace {trace.trace_id} has no spans")
    return ctx


def trace_document(trace: Trace | TraceContext) -> dict[str, Any]:
    """The ``critpath.trace/v1`` document of one trace: spans in tree order, critical path.

    Accepts a :class:`TraceContext` to reuse an already computed critical path.
    Raises ``ValueError`` for a trace without spans.
    """
    ctx = trace if isinstance(trace, TraceContext) else _context(trace)
    return {
        "schema": TRACE_SCHEMA,
        "trace_id": ctx.trace.trace_id,
        "endpoint": {"service": ctx.endpoint.service, "name": ctx.endpoint.name},
        "duration_ms": _ms(ctx.duration_ns),
        "depth": ctx.depth,
        "start_ns": ctx.root.start_ns,
        "spans": [
            {
                "span_id": span.span_id, "parent_id": span.parent_id,
                "service": span.service, "name": span.name,
                "kind": span.kind.name.lower(),
                "start_ns": span.start_ns, "end_ns": span.end_ns,
                "status": span.status.name.lower(),
                "attributes": {k: _attribute(v) for k, v in sorted(span.attributes.items())},
                "depth": ctx.depths.get(span.span_id, 1),
            }
            for span, _ in tree_order(ctx.trace)
        ],
        "critical_path": _segments(ctx),
    }


def path_entry(ctx: TraceContext) -> dict[str, Any]:
    """One trace of a ``critpath.paths/v1`` document."""
    return {
        "trace_id": ctx.trace.trace_id,
        "endpoint": {"service": ctx.endpoint.service, "name": ctx.endpoint.name},
        "duration_ms": _ms(ctx.duration_ns),
        "depth": ctx.depth,
        "segments": _segments(ctx),
    }


def paths_document(traces: Iterable[Trace | TraceContext]) -> dict[str, Any]:
    """The ``critpath.paths/v1`` document: each trace's critical path (empty traces skipped)."""
    entries = []
    for trace in traces:
        ctx = trace if isinstance(trace, TraceContext) else trace_context(trace)
        if ctx is not None:
            entries.append(path_entry(ctx))
    return {"schema": PATHS_SCHEMA, "traces": entries}
