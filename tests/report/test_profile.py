"""Endpoint profiles and the Aggregate that feeds them, on a hand-computed trace.

    web  GET /      |0=========================================================100|
    web  GET api         |10=======40|
    api  GET /x            |12===38|
    api  SELECT               |15=35|                         (db.system: mysql)
    web  GET auth                          |50=============90|
    auth check                                  |55=======85|

Critical path (backward from 100): GET / 90–100, GET auth 85–90, check 55–85,
GET auth 50–55, GET / 40–50, GET api 38–40, GET /x 35–38, SELECT 15–35, GET /x 12–15,
GET api 10–12, GET / 0–10. Per service: web 44 ms, auth 30 ms, api 26 ms; depth 2.
A second trace of the endpoint is a bare 50 ms GET / (web 50 ms, depth 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.aggregate import Aggregate, TraceContext, trace_context
from analyzer.assemble import assemble
from analyzer.decode import decode
from analyzer.model import Endpoint, Segment, Trace
from analyzer.profile import OTHER, EndpointAggregate
from tests.report.spans import MS, one_trace, span


def busy_trace(trace: str = "t1", error: bool = False) -> Trace:
    return one_trace(
        span("r", None, "web", "GET /", "server", 0, 100, trace=trace, error=error),
        span("c1", "r", "web", "GET api", "client", 10, 40, trace=trace),
        span("s1", "c1", "api", "GET /x", "server", 12, 38, trace=trace),
        span("d", "s1", "api", "SELECT", "client", 15, 35, trace=trace,
             attrs={"db.system": "mysql"}),
        span("c2", "r", "web", "GET auth", "client", 50, 90, trace=trace),
        span("s2", "c2", "auth", "check", "server", 55, 85, trace=trace),
    )


def bare_trace(trace: str = "t2") -> Trace:
    return one_trace(span("r", None, "web", "GET /", "server", 0, 50, trace=trace))


ENDPOINT = Endpoint("web", "GET /")


def test_trace_context_of_the_drawn_trace():
    ctx = trace_context(busy_trace())
    assert isinstance(ctx, TraceContext)
    assert ctx.endpoint == ENDPOINT
    assert [(s.span_id, s.start_ns // MS, s.end_ns // MS) for s in ctx.segments] == [
        ("r", 0, 10), ("c1", 10, 12), ("s1", 12, 15), ("d", 15, 35), ("s1", 35, 38),
        ("c1", 38, 40), ("r", 40, 50), ("c2", 50, 55), ("s2", 55, 85), ("c2", 85, 90),
        ("r", 90, 100)]
    assert dict(ctx.service_ns) == {"web": 44 * MS, "api": 26 * MS, "auth": 30 * MS}
    assert (ctx.depth, ctx.duration_ns, ctx.error) == (2, 100 * MS, False)
    assert ctx.critical_ids == {"r", "c1", "s1", "d", "c2", "s2"}
    assert dict(ctx.depths) == {"r": 1, "c1": 1, "s1": 2, "d": 2, "c2": 1, "s2": 2}


def test_empty_trace_has_no_context():
    assert trace_context(Trace("t0", {})) is None


def test_profile_of_one_trace_has_exact_shares():
    aggregate = Aggregate()
    aggregate.add_trace(busy_trace())
    profile = aggregate.endpoints[ENDPOINT]
    assert profile.services_by_share() == [("web", 0.44), ("auth", 0.3), ("api", 0.26)]
    assert (profile.traces, profile.errors, profile.depth_quantile(0.5), profile.depth_max) == (
        1, 0, 2, 2)
    assert profile.latency.quantile(0.5) == 100 * MS


def test_profile_over_two_traces():
    aggregate = Aggregate()
    aggregate.add_traces([busy_trace(error=True), bare_trace()])
    profile = aggregate.endpoints[ENDPOINT]
    assert (profile.traces, profile.errors) == (2, 1)
    assert profile.depths == {1: 1, 2: 1}
    assert (profile.depth_quantile(0.5), profile.depth_max) == (1, 2)
    assert profile.critical_ns == 150 * MS
    shares = dict(profile.services_by_share())
    assert shares == pytest.approx({"web": 94 / 150, "auth": 30 / 150, "api": 26 / 150})
    assert sum(shares.values()) == pytest.approx(1.0)
    # api owned no critical time in the bare trace: that trace counts as 0 for it
    api = profile.service_time("api")
    assert (api.count, api.quantile(0.5), api.quantile(0.99)) == (2, 0, 26 * MS)
    web = profile.service_time("web")
    assert (web.quantile(0.5), web.quantile(1.0)) == (44 * MS, 50 * MS)
    assert (aggregate.traces, aggregate.spans) == (2, 7)


def test_shares_sum_to_one_over_many_traces():
    aggregate = Aggregate()
    aggregate.add_traces([busy_trace(f"b{i}") for i in range(7)] +
                         [bare_trace(f"s{i}") for i in range(3)])
    shares = [share for _, share in aggregate.endpoints[ENDPOINT].services_by_share()]
    assert sum(shares) == pytest.approx(1.0, abs=1e-12)


def test_zero_length_traces_still_give_shares_summing_to_one():
    aggregate = Aggregate()
    aggregate.add_trace(one_trace(span("r", None, "web", "GET /", "server", 5, 5),
                                  span("c", "r", "api", "x", "server", 5, 5)))
    profile = aggregate.endpoints[ENDPOINT]
    assert profile.critical_ns == 0
    assert profile.services_by_share() == [("web", 1.0)]
    assert profile.share("api") == 0.0  # owned no segment at all


def test_endpoints_past_the_limit_fold_into_other():
    endpoints = EndpointAggregate(max_endpoints=1)
    for name in ("GET /a", "GET /b", "GET /c"):
        ctx = trace_context(one_trace(span("r", None, "web", name, "server", 0, 5)))
        endpoints.add(ctx)
    assert sorted(e.name for e in endpoints) == ["(other)", "GET /a"]
    assert endpoints[Endpoint("web", OTHER)].traces == 2
    assert endpoints.overflowed == 2


def test_aggregate_merge_and_snapshot_equal_one_pass():
    traces = [busy_trace("a"), bare_trace("b"), busy_trace("c", error=True)]
    whole = Aggregate()
    whole.add_traces(traces)
    left, right = Aggregate(), Aggregate()
    left.add_traces(traces[:1])
    right.add_traces(traces[1:])
    restored = Aggregate.from_dict(json.loads(json.dumps(right.to_dict())))
    restored.merge(left)
    assert restored.to_dict() == whole.to_dict()
    assert restored.traces == 3


def test_snapshot_of_another_version_is_refused():
    data = Aggregate().to_dict()
    data["version"] = 99
    with pytest.raises(ValueError, match="version 99"):
        Aggregate.from_dict(data)


def test_empty_traces_are_skipped_not_counted():
    aggregate = Aggregate()
    assert aggregate.add_trace(Trace("t0", {})) is None
    assert (aggregate.traces, aggregate.skipped) == (0, 1)


def test_segments_are_the_critical_path_module_s():
    ctx = trace_context(bare_trace())
    assert ctx.segments == (Segment("r", 0, 50 * MS),)


def _real_traces() -> list[Trace]:
    data = Path(__file__).resolve().parents[1] / "data" / "jaeger"
    return [trace for path in sorted(data.glob("*.json"))
            for trace in assemble(decode(path.read_bytes()).spans)]


REAL = _real_traces()
HAND = [busy_trace("h1"), bare_trace("h2"), busy_trace("h3", error=True)]


@settings(max_examples=40, deadline=None)
@given(st.permutations(REAL + HAND), st.integers(min_value=1, max_value=5), st.randoms())
def test_aggregate_is_independent_of_order_and_batching(traces, parts, rnd):
    whole = Aggregate()
    whole.add_traces(REAL + HAND)
    batches = [Aggregate() for _ in range(parts)]
    for i, trace in enumerate(traces):
        batches[i % parts].add_trace(trace)
    rnd.shuffle(batches)
    combined = Aggregate()
    for batch in batches:
        combined.merge(Aggregate.from_dict(batch.to_dict()))
    assert combined.to_dict() == whole.to_dict()
