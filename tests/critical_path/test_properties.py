"""Properties of assembly and the critical path on random traces (hypothesis).

Random forests with everything real traces throw at us: children before, after and
around their parents, zero-length and skewed spans, producers with consumers, FOLLOWS_FROM,
orphans, duplicates and excluded subtrees.
"""

from __future__ import annotations

import dataclasses
import importlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.assemble import assemble
from analyzer.critical_path import (
    critical_path,
    critical_path_depth,
    critical_paths,
    service_depths,
    summarize_path,
    what_if_saved_ns,
)
from analyzer.model import Segment, Span, SpanKind, Trace
from tests.critical_path.reference import reference_path, reference_saving, sanitized_windows

TRACE_ID = "e3b0c44298fc1c149afbf4c8996fb924"
KINDS = list(SpanKind)


@st.composite
def span_lists(draw, max_spans: int = 25) -> list[Span]:
    n = draw(st.integers(1, max_spans))
    out = []
    for i in range(n):
        if i == 0:
            parent = None
        else:
            parent = draw(
                st.one_of(
                    st.integers(0, i - 1).map(lambda p: f"{p:016x}"),
                    st.sampled_from([None, "00000000deadbeef"]),  # extra true root, orphan
                )
                if draw(st.integers(0, 9)) == 0
                else st.integers(0, i - 1).map(lambda p: f"{p:016x}")
            )
        start = draw(st.integers(0, 60))
        out.append(
            Span(
                trace_id=TRACE_ID,
                span_id=f"{i:016x}",
                parent_id=parent,
                service=draw(st.sampled_from(["web", "api", "db"])),
                name="op",
                kind=draw(st.sampled_from(KINDS)),
                start_ns=start,
                end_ns=start + draw(st.integers(-3, 40)),  # negative: clock skew
                follows_from=draw(st.integers(0, 9)) == 0,
            )
        )
    return out


@st.composite
def traces(draw) -> Trace:
    [trace] = assemble(draw(span_lists()))
    return trace


def snapshot(trace: Trace) -> tuple:
    """Everything mutable a trace holds (spans themselves are frozen)."""
    children = {k: list(v) for k, v in trace.children.items()}
    return (dict(trace.spans), children, trace.roots, trace.orphans)


def assert_tiles(trace: Trace, root_id: str, path) -> None:
    root = trace.spans[root_id]
    start, end = root.start_ns, max(root.end_ns, root.start_ns)
    assert path, "a path is never empty"
    assert path[0].start_ns == start and path[-1].end_ns == end
    if start == end:
        assert path == [path[0]] and path[0].span_id == root_id
        return
    for before, after in zip(path, path[1:]):
        assert before.end_ns == after.start_ns, "no gap, no overlap"
        assert before.span_id != after.span_id, "adjacent sections of one span are merged"
    assert all(s.start_ns < s.end_ns for s in path)
    assert sum(s.end_ns - s.start_ns for s in path) == end - start


@settings(max_examples=250, deadline=None)
@given(traces())
def test_every_root_path_tiles_its_window_and_owners_are_active_then(trace):
    before = snapshot(trace)
    for root_id, path in critical_paths(trace).items():
        assert_tiles(trace, root_id, path)
        windows, _, _ = sanitized_windows(trace, root_id)
        for segment in path:
            low, high = windows[segment.span_id]  # KeyError: owner not a blocking descendant
            assert low <= segment.start_ns and segment.end_ns <= high
    assert snapshot(trace) == before, "the trace is not modified"


@settings(max_examples=250, deadline=None)
@given(traces())
def test_agrees_with_the_literal_jaeger_walk(trace):
    for root_id in trace.roots:
        assert critical_path(trace, root_id) == reference_path(trace, root_id)


@settings(max_examples=200, deadline=None)
@given(traces(), st.randoms(use_true_random=False))
def test_excluded_subtrees_never_own_time_and_agree_with_the_literal_walk(trace, rng):
    root_id = trace.roots[0]
    others = sorted(set(trace.spans) - {root_id})
    exclude = frozenset(rng.sample(others, min(len(others), rng.randint(0, 3))))
    path = critical_path(trace, exclude=exclude)
    assert_tiles(trace, root_id, path)
    assert path == reference_path(trace, root_id, exclude)
    hidden = set()
    stack = list(exclude)
    while stack:
        span_id = stack.pop()
        hidden.add(span_id)
        stack.extend(trace.children.get(span_id, ()))
    assert not hidden & {s.span_id for s in path}


@settings(max_examples=200, deadline=None)
@given(traces(), st.randoms(use_true_random=False))
def test_what_if_savings_are_bounded_by_the_subtree_time_on_the_path(trace, rng):
    root_id = trace.roots[0]
    call = rng.choice(sorted(trace.spans))
    saved = what_if_saved_ns(trace, root_id, trace.spans[call])
    subtree, stack = set(), [call]
    while stack:
        span_id = stack.pop()
        subtree.add(span_id)
        stack.extend(trace.children.get(span_id, ()))
    owned = sum(s.end_ns - s.start_ns for s in critical_path(trace) if s.span_id in subtree)
    if root_id in subtree:
        assert saved == 0
    else:
        assert 0 <= saved <= owned


@settings(max_examples=300, deadline=None)
@given(traces())
def test_what_if_savings_equal_a_literal_replay_of_the_model(trace):
    """The fast saving (only the frames from the call up to the root, each child looked at
    once) equals the model replayed literally over the whole path, for every span."""
    root_id = trace.roots[0]
    for call_id in sorted(trace.spans):
        call = trace.spans[call_id]
        if call_id == root_id:
            continue
        assert what_if_saved_ns(trace, root_id, call) == reference_saving(trace, root_id, call_id)


def test_what_if_savings_of_big_random_traces_equal_the_literal_replay():
    """Wide and deep trees, where savings climb several frames and meet concurrent work."""
    rng = random.Random(7)
    checked = capped = 0
    for _ in range(15):
        n = rng.randint(50, 150)
        spans = [Span(TRACE_ID, f"{0:016x}", None, "a", "op", SpanKind.SERVER, 0, 1000)]
        for i in range(1, n):
            # Mostly nested in the parent's window (now and then sticking out of it).
            parent = spans[rng.randrange(max(0, i - 8), i)]
            start = rng.randrange(parent.start_ns, parent.end_ns + 1)
            end = rng.randrange(start, parent.end_ns + 1) + (rng.randrange(50)
                                                             if rng.random() < 0.05 else 0)
            spans.append(Span(TRACE_ID, f"{i:016x}", parent.span_id, rng.choice("abc"), "op",
                              rng.choice(KINDS), start, end))
        [trace] = assemble(spans)
        root_id = trace.roots[0]
        for call_id in sorted(trace.spans):
            if call_id == root_id:
                continue
            call = trace.spans[call_id]
            saved = what_if_saved_ns(trace, root_id, call)
            assert saved == reference_saving(trace, root_id, call_id)
            checked += saved > 0
            # held up above the caller: less than the caller itself would save
            capped += 0 < what_if_saved_ns(trace, call.parent_id, call) - saved if saved else 0
    assert checked > 50 and capped > 5  # savings, and savings held up above the caller


@settings(max_examples=200, deadline=None)
@given(traces())
def test_depths_follow_service_changes_and_bound_the_path_depth(trace):
    depths = service_depths(trace)
    assert set(depths) == set(trace.spans)
    for parent_id, kid_ids in trace.children.items():
        for kid_id in kid_ids:
            same = trace.spans[kid_id].service == trace.spans[parent_id].service
            assert depths[kid_id] == depths[parent_id] + (0 if same else 1)
    summary = summarize_path(trace)
    assert summary.depth == critical_path_depth(trace, critical_path(trace))
    assert 1 <= summary.depth <= max(depths.values())
    window = summary.segments[-1].end_ns - summary.segments[0].start_ns
    assert sum(summary.service_ns.values()) == window
    assert summary.critical_ids == {s.span_id for s in summary.segments}


@settings(max_examples=200, deadline=None)
@given(span_lists(), st.randoms(use_true_random=False))
def test_assembly_does_not_depend_on_arrival_order(spans, rng):
    shuffled = list(spans)
    rng.shuffle(shuffled)
    assert assemble(shuffled) == assemble(spans)


@settings(max_examples=200, deadline=None)
@given(span_lists())
def test_assembly_makes_a_forest_covering_every_span_once(spans):
    [trace] = assemble(spans)
    reached: list[str] = []
    stack = list(trace.roots)
    while stack:
        span_id = stack.pop()
        reached.append(span_id)
        stack.extend(trace.children.get(span_id, ()))
    assert sorted(reached) == sorted({s.span_id for s in spans})
    assert set(trace.orphans) <= set(trace.roots)
    true_roots = [r for r in trace.roots if r not in trace.orphans]
    assert list(trace.roots) == true_roots + list(trace.orphans)
    assert all(trace.spans[r].parent_id is None for r in true_roots)
    for kid_ids in trace.children.values():
        keys = [(trace.spans[k].start_ns, k) for k in kid_ids]
        assert keys == sorted(keys)


def test_random_big_traces_agree_with_the_literal_walk():
    """Larger trees than hypothesis draws: wide fan-outs and long chains together."""
    rng = random.Random(2024)
    for _ in range(20):
        n = rng.randint(200, 600)
        spans = []
        for i in range(n):
            parent = None if i == 0 else f"{rng.randrange(max(0, i - 20), i):016x}"
            start = rng.randrange(0, 5000)
            spans.append(
                Span(TRACE_ID, f"{i:016x}", parent, rng.choice("abc"), "op", rng.choice(KINDS),
                     start, start + rng.randrange(-5, 3000), follows_from=rng.random() < 0.03)
            )
        [trace] = assemble(spans)
        path = critical_path(trace)
        assert_tiles(trace, trace.roots[0], path)
        assert path == reference_path(trace)


def test_segments_from_the_fast_constructor_are_ordinary_segments():
    # The module itself: the package attribute ``analyzer.critical_path`` means the function.
    module = importlib.import_module("analyzer.critical_path")
    assert module._FAST_SEGMENTS, "Segment changed shape: the walk uses the slow constructor"
    [made] = module._segments(["a"], [1], [2])
    plain = Segment("a", 1, 2)
    assert type(made) is Segment
    assert made == plain and hash(made) == hash(plain) and repr(made) == repr(plain)
    assert dataclasses.astuple(made) == ("a", 1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.start_ns = 0  # type: ignore[misc]
