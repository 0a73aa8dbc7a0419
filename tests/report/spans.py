"""Hand-built spans for report tests: one short call per span, times in ms."""

from __future__ import annotations

from analyzer.assemble import assemble
from analyzer.model import Link, Span, SpanKind, StatusCode, Trace

MS = 1_000_000
KINDS = {k.name.lower(): k for k in SpanKind}


def span(
    span_id: str, parent: str | None, service: str, name: str, kind: str,
    start_ms: float, end_ms: float, *, error: bool = False, trace: str = "t1",
    links: tuple[str, ...] = (), attrs: dict[str, object] | None = None,
) -> Span:
    """A span of trace ``trace`` from ``start_ms`` to ``end_ms``; ``links`` are span ids."""
    return Span(
        trace_id=trace, span_id=span_id, parent_id=parent, service=service, name=name,
        kind=KINDS[kind], start_ns=round(start_ms * MS), end_ns=round(end_ms * MS),
        status=StatusCode.ERROR if error else StatusCode.UNSET,
        attributes=dict(attrs or {}),
        links=tuple(Link(trace, target) for target in links),
    )


def one_trace(*spans: Span) -> Trace:
    [trace] = assemble(spans)
    return trace
