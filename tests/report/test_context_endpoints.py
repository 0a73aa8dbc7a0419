"""``trace_context`` with an endpoint cache: one object per endpoint, and a bounded cache."""

from __future__ import annotations

from analyzer import aggregate
from analyzer.aggregate import Aggregate, trace_context
from analyzer.assemble import assemble
from analyzer.model import Endpoint, Span, SpanKind


def _trace(trace_id: str, name: str):
    [trace] = assemble([Span(trace_id, "r", None, "web", name, SpanKind.SERVER, 0, 10)])
    return trace


def test_cached_endpoints_are_shared_equal_and_bounded(monkeypatch):
    cache: dict = {}
    first = trace_context(_trace("a" * 32, "GET /"), cache)
    again = trace_context(_trace("b" * 32, "GET /"), cache)
    assert first.endpoint is again.endpoint
    assert first.endpoint == trace_context(_trace("c" * 32, "GET /")).endpoint == Endpoint("web", "GET /")
    monkeypatch.setattr(aggregate, "ENDPOINT_CACHE_LIMIT", 3)
    for k in range(10):
        ctx = trace_context(_trace(f"{k:032x}", f"GET /{k}"), cache)
        assert ctx.endpoint == Endpoint("web", f"GET /{k}")
        assert len(cache) <= 3


def test_aggregate_folds_the_same_with_its_cache():
    traces = [_trace(f"{k:032x}", f"GET /{k % 3}") for k in range(9)]
    folded = Aggregate()
    folded.add_traces(traces)
    by_context = Aggregate()
    for trace in traces:
        by_context.add_context(trace_context(trace))
    assert folded.to_dict() == by_context.to_dict()
