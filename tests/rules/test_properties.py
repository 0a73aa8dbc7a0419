"""Properties of the rules' statistics over generated traces: however traces are split
across aggregates and merged back (collector windows, several collectors), and however
they are snapshotted, the statistics and the findings are those of one fold of them all."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.aggregate import trace_context
from analyzer.assemble import assemble
from analyzer.config import AnalysisConfig
from analyzer.model import Span, SpanKind, StatusCode
from analyzer.rules import CallAggregate, evaluate

MS = 1_000_000
SERVERS = ("ledger", "audit", "cache")
METHODS = ("GET", "POST")

call_strategy = st.tuples(
    st.sampled_from(SERVERS),
    st.sampled_from(METHODS),
    st.integers(0, 80),   # start, ms after the root's start
    st.integers(1, 40),   # duration, ms
    st.booleans(),        # failed
    st.sampled_from([None, "500", "2S", ("1500",)]),  # declared timeout
)
trace_strategy = st.tuples(st.lists(call_strategy, min_size=1, max_size=5), st.booleans())


def build(index: int, calls, root_failed: bool) -> list[Span]:
    """One gateway request as spans: the root SERVER span and a client/server pair per call."""
    trace_id = f"{index + 1:032x}"
    root_id = f"{(index + 1) * 100:016x}"
    spans = [Span(trace_id, root_id, None, "gateway", "POST /transfers", SpanKind.SERVER,
                  0, 130 * MS, StatusCode.ERROR if root_failed else StatusCode.UNSET)]
    for n, (server, method, start, duration, failed, timeout) in enumerate(calls):
        client_id = f"{(index + 1) * 100 + 2 * n + 1:016x}"
        server_id = f"{(index + 1) * 100 + 2 * n + 2:016x}"
        attrs = {"http.request.method": method}
        if timeout is not None:
            attrs["http.request.header.x-bank-timeout-ms"] = timeout
        status = StatusCode.ERROR if failed else StatusCode.UNSET
        spans.append(Span(trace_id, client_id, root_id, "gateway", method, SpanKind.CLIENT,
                          start * MS, (start + duration) * MS, status, attrs))
        spans.append(Span(trace_id, server_id, client_id, server, f"{method} /{server}",
                          SpanKind.SERVER, start * MS + 1, (start + duration) * MS - 1, status))
    return spans


def contexts(generated):
    spans = [s for i, (calls, failed) in enumerate(generated) for s in build(i, calls, failed)]
    return [trace_context(t) for t in assemble(spans)]


def fold(ctxs) -> CallAggregate:
    aggregate = CallAggregate()
    for ctx in ctxs:
        aggregate.add(ctx)
    return aggregate


@settings(max_examples=60, deadline=None)
@given(st.lists(trace_strategy, min_size=1, max_size=12), st.data())
def test_any_split_merged_in_any_order_equals_one_fold(generated, data):
    ctxs = contexts(generated)
    whole = fold(ctxs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(ctxs)), max_size=3)))
    parts = [ctxs[a:b] for a, b in zip([0, *cuts], [*cuts, len(ctxs)])]
    order = data.draw(st.permutations(range(len(parts))))
    merged = CallAggregate()
    for index in order:
        merged.merge(fold(parts[index]))
    assert merged.to_dict() == whole.to_dict()
    config = AnalysisConfig(min_observations=2, default_depth_budget=1)
    assert evaluate(merged, config) == evaluate(whole, config)


@settings(max_examples=40, deadline=None)
@given(st.lists(trace_strategy, min_size=1, max_size=8))
def test_snapshots_round_trip_through_json(generated):
    whole = fold(contexts(generated))
    restored = CallAggregate.from_dict(json.loads(json.dumps(whole.to_dict())))
    assert restored == whole
    config = AnalysisConfig(min_observations=1)
    assert evaluate(restored, config) == evaluate(whole, config)
