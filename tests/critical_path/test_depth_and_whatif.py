"""Critical-path depth (ARCHITECTURE.md §3) and the "what if this call were queued" path
(``exclude``, ``what_if_saved_ns``) behind the deferrable-work rule (§5)."""

from __future__ import annotations

import pytest

from analyzer.assemble import assemble
from analyzer.critical_path import (
    critical_path,
    critical_path_depth,
    service_depths,
    summarize_path,
    what_if_saved_ns,
)
from analyzer.model import Span, SpanKind
from tests.critical_path.timeline import segments, spans

WHAT_IF = """
    time    0    5    10
    root    |=========|
      a      |==|
      b       |=====|
        c      |===|
    """

# (name, excluded span ids, expected path)
UNCHANGED = [("root", 0, 2), ("b", 2, 3), ("c", 3, 7), ("b", 7, 8), ("root", 8, 10)]
EXCLUDE_CASES = [
    ("nothing excluded", set(), UNCHANGED),
    (
        "the critical child: the next one that fits takes over",
        {"b"},
        [("root", 0, 1), ("a", 1, 4), ("root", 4, 10)],
    ),
    (
        "a grandchild: its parent owns its window",
        {"c"},
        [("root", 0, 2), ("b", 2, 8), ("root", 8, 10)],
    ),
    ("a span of no tree: nothing changes", {"nope"}, UNCHANGED),
    (
        "a whole subtree, named twice",
        {"b", "c"},
        [("root", 0, 1), ("a", 1, 4), ("root", 4, 10)],
    ),
]


@pytest.mark.parametrize(
    ("exclude", "expected"), [c[1:] for c in EXCLUDE_CASES], ids=[c[0] for c in EXCLUDE_CASES]
)
def test_exclude(exclude, expected):
    [trace] = assemble(spans(WHAT_IF))
    assert critical_path(trace, exclude=frozenset(exclude)) == segments(*expected)


SAVINGS = """
    time    0    5    10
    root    |=========|
      read   |=|
      write    |====|
        db      |==|
    other    |========|             parent=-
      slow    |======|
      call     |===|
    """


@pytest.mark.parametrize(
    ("call", "root", "saved"),
    [
        # write ends last; without it the root would stop waiting at read's end (3).
        ("write", None, 5),
        # write still runs without db; write itself only waited for db 4..7.
        ("db", None, 3),
        # read is on the path 1..3; without it nothing else fills that time.
        ("read", None, 2),
        # call is hidden behind its slower sibling: queuing it saves nothing.
        ("call", "other", 0),
        # a root cannot be queued; spans outside the root's tree save it nothing, nor
        # does a span of another trace.
        ("root", None, 0),
        ("call", None, 0),
        ("nope", None, 0),
    ],
)
def test_what_if_savings(call, root, saved):
    [trace] = assemble(spans(SAVINGS))
    root_id = root or trace.roots[0]
    span = trace.spans.get(call) or Span(
        trace.trace_id, "nope", "elsewhere", "svc", "nope", SpanKind.CLIENT, 3, 7
    )
    assert what_if_saved_ns(trace, root_id, span) == saved


def test_what_if_of_a_root_with_a_caller_is_an_error():
    [trace] = assemble(spans(SAVINGS))
    with pytest.raises(ValueError, match="cannot be excluded"):
        what_if_saved_ns(trace, "write", trace.spans["write"])


def test_what_if_savings_do_not_count_time_a_sibling_takes_over():
    """
    time    0    5    10
    root    |=========|
      read   |=|
      cache  |===|
      audit    |====|
    """
    [trace] = assemble(spans(test_what_if_savings_do_not_count_time_a_sibling_takes_over.__doc__))
    assert critical_path(trace) == segments(
        ("root", 0, 1), ("read", 1, 3), ("audit", 3, 8), ("root", 8, 10)
    )
    # Queued, audit frees 3..8, but cache was running until 5: the root saves 5..8 only.
    assert critical_path(trace, exclude={"audit"}) == segments(
        ("root", 0, 1), ("cache", 1, 5), ("root", 5, 10)
    )
    assert what_if_saved_ns(trace, "root", trace.spans["audit"]) == 3


# The saving climbs from the call's caller up to the root: each frame ends earlier by its
# awaited child's saving, unless other work it also awaits holds it (docs/critical-path.md).
# (name, drawing, queued call, expected saving of the root)
CLIMB_CASES = [
    (
        "nothing else holds the root: the caller's whole saving reaches it",
        """
        time     0    5    10   15   20
        gateway  |===================|
          a      |===================|
            w              |=======|
          b      |=====|
        """,
        "w", 8,  # a answers at 12 instead of 20; b was done at 6
    ),
    (
        "a concurrent sibling holds the root: only the time past it is saved",
        """
        time     0    5    10   15   20
        gateway  |===================|
          a      |===================|
            w              |=======|
          b      |===============|
        """,
        "w", 4,  # a answers at 12, but the gateway still waits for b until 16
    ),
    (
        "each level caps the saving with what else it awaits",
        """
        time     0    5    10   15   20
        gateway  |===================|
          a      |===================|
            c     |=================|
              w        |==========|
            d    |==========|
          b      |=============|
        """,
        # c answers at 8 (saves 11); a still waits for d until 11, then does its last
        # 1: done at 12 (saves 8); the gateway still waits for b until 14 (saves 6).
        "w", 6,
    ),
    (
        "work after the link moves earlier with it until a child that was running holds it",
        """
        time     0    5    10   15   20
        gateway  |===================|
          a      |=========|
            w         |===|
          c                 |====|
          b      |============|
        """,
        # a answers at 6 (saves 4); 10..11, c and 16..20 follow it 4 earlier, but b runs
        # until 13: the gateway's own work after c cannot start before 13 (saves 3).
        "w", 3,
    ),
    (
        "a call sticking out of its caller's window saves the part inside it",
        """
        time     0    5    10   15   20
        gateway  |===================|
          a      |===================|   end=25
            w              |===========|   end=25
        """,
        "w", 10,  # the walk clamps a and w to the gateway's window: w holds a 10..20
    ),
    (
        "hidden behind a slower sibling in its caller: nothing to save",
        """
        time     0    5    10   15   20
        gateway  |===================|
          a      |===================|
            w       |=====|
            x      |=============|
        """,
        "w", 0,
    ),
]


@pytest.mark.parametrize(
    ("drawing", "call", "saved"), [c[1:] for c in CLIMB_CASES], ids=[c[0] for c in CLIMB_CASES]
)
def test_what_if_savings_climb_to_the_root(drawing, call, saved):
    [trace] = assemble(spans(drawing))
    assert what_if_saved_ns(trace, "gateway", trace.spans[call]) == saved


# (name, drawing, depth of the primary path, deepest service depth in the trace)
DEPTH_CASES = [
    (
        "nested spans of one service stay at depth 1",
        """
        time    0    5    10
        root    |=========|             svc=web
          a      |=======|              svc=web
            b     |=====|               svc=web
        """,
        1, 1,
    ),
    (
        "each service change on the path adds one",
        """
        time    0    5    10
        root    |=========|             svc=web
          api    |=======|              svc=api
            auth  |=====|               svc=auth
        """,
        3, 3,
    ),
    (
        "a deep service off the path does not count",
        """
        time    0    5    10
        root    |=========|             svc=web
          api    |=======|              svc=api
            auth  |=|                   svc=auth
            local  |====|               svc=api
        """,
        2, 3,
    ),
    (
        "calling back into an earlier service is one more hop, not a return",
        """
        time    0    5    10
        root    |=========|             svc=web
          api    |=======|              svc=api
            back  |=====|               svc=web
        """,
        3, 3,
    ),
    (
        "an asynchronous consumer in another service is off the path",
        """
        time    0    5    10
        root    |=========|             svc=web
          send   |=|                    svc=web kind=producer
            work    |====|              svc=worker kind=consumer
        """,
        1, 2,
    ),
]


@pytest.mark.parametrize(
    ("drawing", "path_depth", "deepest"),
    [c[1:] for c in DEPTH_CASES],
    ids=[c[0] for c in DEPTH_CASES],
)
def test_critical_path_depth(drawing, path_depth, deepest):
    [trace] = assemble(spans(drawing))
    path = critical_path(trace)
    assert critical_path_depth(trace, path) == path_depth
    assert critical_path_depth(trace, path, service_depths(trace)) == path_depth
    assert max(service_depths(trace).values()) == deepest
    assert summarize_path(trace).depth == path_depth


def test_the_depth_of_an_empty_path_is_zero():
    [trace] = assemble(spans("root |==|"))
    assert critical_path_depth(trace, []) == 0


def test_each_root_starts_at_depth_one():
    """
    time    0    5    10
    root    |=========|     svc=web
      api    |===|          svc=api
    orphan     |===|        svc=db parent=gone
      x         |=|         svc=web
    """
    [trace] = assemble(spans(test_each_root_starts_at_depth_one.__doc__))
    assert service_depths(trace) == {"root": 1, "api": 2, "orphan": 1, "x": 2}
    summary = summarize_path(trace, "orphan")
    assert summary.root_id == "orphan" and summary.depth == 2
