"""The critical path, specified case by case: each drawing is the trace, each list the
exact path (ARCHITECTURE.md §3; differences from Jaeger UI in docs/critical-path.md).

Reading a drawing: one column is one nanosecond, indentation is parenthood, a lone ``|``
is a zero-length span (see ``timeline.py``).
"""

from __future__ import annotations

import pytest

from analyzer.assemble import assemble
from analyzer.critical_path import critical_path, critical_paths
from tests.critical_path.reference import reference_path
from tests.critical_path.timeline import segments, spans

# (name, drawing, expected path of the primary root)
CASES = [
    (
        'a root alone owns its whole window',
        """
        time    0    5    10
        root    |=========|
        """,
        [('root', 0, 10)],
    ),
    (
        "sequential children, with the parent's own work in the gaps",
        """
        time    0    5    10
        root    |=========|
          a      |==|
          b          |===|
        """,
        [('root', 0, 1), ('a', 1, 4), ('root', 4, 5), ('b', 5, 9), ('root', 9, 10)],
    ),
    (
        'back-to-back children: one ending exactly at the cursor counts (ties included)',
        """
        time    0    5    10
        root    |=========|
          a      |==|
          b         |===|
        """,
        [('root', 0, 1), ('a', 1, 4), ('b', 4, 8), ('root', 8, 10)],
    ),
    (
        'overlapping children: the last to finish wins; one still running at its start does not',
        """
        time    0    5    10
        root    |=========|
          a      |====|
          b        |====|
        """,
        [('root', 0, 3), ('b', 3, 8), ('root', 8, 10)],
    ),
    (
        'overlapping children: the next is the one that ended before the winner started',
        """
        time    0    5    10
        root    |=========|
          a      |=|
          c       |====|
          b         |=====|
        """,
        [('root', 0, 1), ('a', 1, 3), ('root', 3, 4), ('b', 4, 10)],
    ),
    (
        'nested children: the walk descends into a child and comes back up',
        """
        time    0    5    10   15   20
        root    |===================|
          a      |=============|
            c     |==|
            d         |=====|
          b                      |=|
        """,
        [
            ('root', 0, 1), ('a', 1, 2), ('c', 2, 5), ('a', 5, 6), ('d', 6, 12),
            ('a', 12, 15), ('root', 15, 17), ('b', 17, 19), ('root', 19, 20),
        ],
    ),
    (
        "a child outliving its parent is clamped to the parent's end",
        """
        time    0    5    10   15
        root    |=========|
          a           |=======|
        """,
        [('root', 0, 6), ('a', 6, 10)],
    ),
    (
        "a child starting before its parent (clock skew) is clamped to the parent's start",
        """
        time    0    5    10
        root      |=======|
          a     |=====|
        """,
        [('a', 2, 6), ('root', 6, 10)],
    ),
    (
        'a child covering its parent is clamped on both sides',
        """
        time    0    5    10   15
        root      |=====|
          a     |===========|
        """,
        [('a', 2, 8)],
    ),
    (
        'children wholly outside their parent are dropped with their subtrees',
        """
        time    0    5    10   15
        root      |======|
          a     |=|
          b               |===|
            d              |=|
          z              |
        """,
        [('root', 2, 9)],
    ),
    (
        "a grandchild is clamped to its parent's clamped window",
        """
        time    0    5    10   15
        root    |=========|
          a          |========|
            c           |======|
        """,
        [('root', 0, 5), ('a', 5, 8), ('c', 8, 10)],
    ),
    (
        'a consumer under a producer is asynchronous: the producer owns only its send',
        """
        time    0    5    10
        root    |=========|
          p      |==|                   kind=producer
            c      |=====|              kind=consumer svc=worker
        """,
        [('root', 0, 1), ('p', 1, 4), ('root', 4, 10)],
    ),
    (
        'a consumer under a span that is not a producer is an ordinary child',
        """
        time    0    5    10
        root    |=========|
          c        |====|               kind=consumer
        """,
        [('root', 0, 3), ('c', 3, 8), ('root', 8, 10)],
    ),
    (
        'a producer is a synchronous call of its parent',
        """
        time    0    5    10
        root    |=========|             kind=server
          p        |====|               kind=producer
        """,
        [('root', 0, 3), ('p', 3, 8), ('root', 8, 10)],
    ),
    (
        "a FOLLOWS_FROM child and its subtree are never on the parent's path",
        """
        time    0    5    10
        root    |=========|
          f       |======|              follows
            g       |===|
          a      |=|
        """,
        [('root', 0, 1), ('a', 1, 3), ('root', 3, 10)],
    ),
    (
        'ties: of children ending together, the one that started first wins',
        """
        time    0    5    10
        root    |=========|
          a       |====|
          b         |==|
        """,
        [('root', 0, 2), ('a', 2, 7), ('root', 7, 10)],
    ),
    (
        'ties: identical windows go to the smaller span id',
        """
        time    0    5    10
        root    |=========|
          b       |====|
          a       |====|
        """,
        [('root', 0, 2), ('a', 2, 7), ('root', 7, 10)],
    ),
    (
        'a zero-length child owns nothing',
        """
        time    0    5    10
        root    |=========|
          z        |
        """,
        [('root', 0, 10)],
    ),
    (
        'a zero-length child at the cursor does not hide a real child ending there',
        """
        time    0    5    10
        root    |=========|
          a      |==|
          z         |
          b         |===|
        """,
        [('root', 0, 1), ('a', 1, 4), ('b', 4, 8), ('root', 8, 10)],
    ),
    (
        'a span ending before it starts (clock skew) becomes zero-length',
        """
        time    0    5    10
        root    |=========|
          s          |                  end=2
        """,
        [('root', 0, 10)],
    ),
    (
        'duplicates: the longest copy of a span is kept',
        """
        time    0    5    10
        root    |=========|
          a       |==|
          a       |====|
        """,
        [('root', 0, 2), ('a', 2, 7), ('root', 7, 10)],
    ),
    (
        'an orphan (parent missing) is a root of its own, not on the primary path',
        """
        time    0    5    10
        root    |=========|
          o       |=====|               parent=gone
        """,
        [('root', 0, 10)],
    ),
    (
        'a self-parented span is an orphan root',
        """
        time    0    5    10
        root    |=========|
          s       |=====|               parent=self
        """,
        [('root', 0, 10)],
    ),
    (
        'a span related only by a link is another root: it never joins the path',
        """
        time    0    5    10
        root    |=========|
        other     |=====|               parent=-
        """,
        [('root', 0, 10)],
    ),
]


@pytest.mark.parametrize(("drawing", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_primary_root_path(drawing, expected):
    [trace] = assemble(spans(drawing))
    assert critical_path(trace) == segments(*expected)


def test_the_root_span_id_selects_a_subtree_path():
    """
    time    0    5    10
    root    |=========|
      a      |=======|
        c      |==|
    """
    [trace] = assemble(spans(test_the_root_span_id_selects_a_subtree_path.__doc__))
    assert critical_path(trace, "a") == segments(("a", 1, 3), ("c", 3, 6), ("a", 6, 9))


def test_multiple_roots_each_have_a_path_and_the_earliest_is_primary():
    """
    time    0    5    10
    late       |======|
    early   |=====|
      a       |==|
    """
    drawing = test_multiple_roots_each_have_a_path_and_the_earliest_is_primary.__doc__
    [trace] = assemble(spans(drawing))
    assert trace.roots == ("early", "late")
    assert critical_path(trace) == segments(("early", 0, 2), ("a", 2, 5), ("early", 5, 6))
    assert critical_paths(trace) == {
        "early": segments(("early", 0, 2), ("a", 2, 5), ("early", 5, 6)),
        "late": segments(("late", 3, 10)),
    }


def test_orphans_come_after_true_roots_and_get_their_own_paths():
    """
    time    0    5    10
    o2      |=|                 parent=gone
    root     |=========|
    o1         |=====|          parent=lost
      c         |==|
    """
    [trace] = assemble(spans(test_orphans_come_after_true_roots_and_get_their_own_paths.__doc__))
    assert trace.roots == ("root", "o2", "o1")
    assert trace.orphans == ("o2", "o1")
    assert critical_paths(trace) == {
        "root": segments(("root", 1, 11)),
        "o2": segments(("o2", 0, 2)),
        "o1": segments(("o1", 3, 4), ("c", 4, 7), ("o1", 7, 9)),
    }


def test_a_zero_length_root_has_one_zero_length_segment():
    """
    time    0    5
    root       |
      a        |
    """
    [trace] = assemble(spans(test_a_zero_length_root_has_one_zero_length_segment.__doc__))
    assert critical_path(trace) == segments(("root", 3, 3))


def test_a_skewed_root_is_clamped_to_zero_length():
    """
    time    0    5
    root       |    end=1
    """
    [trace] = assemble(spans(test_a_skewed_root_is_clamped_to_zero_length.__doc__))
    assert critical_path(trace) == segments(("root", 3, 3))


def test_unknown_root_and_excluded_root_are_errors():
    [trace] = assemble(spans("root |==|"))
    with pytest.raises(ValueError, match="not in the trace"):
        critical_path(trace, "nope")
    with pytest.raises(ValueError, match="cannot be excluded"):
        critical_path(trace, exclude={"root"})


def test_back_to_back_children_are_where_critpath_and_jaeger_ui_differ():
    """
    time    0    5    10
    root    |=========|
      a      |==|
      b         |===|
    """
    drawing = test_back_to_back_children_are_where_critpath_and_jaeger_ui_differ.__doc__
    [trace] = assemble(spans(drawing))
    ours = segments(("root", 0, 1), ("a", 1, 4), ("b", 4, 8), ("root", 8, 10))
    assert critical_path(trace) == ours
    # Jaeger UI takes only children ending strictly before the cursor: a's time goes to root.
    jaeger_ui = segments(("root", 0, 4), ("b", 4, 8), ("root", 8, 10))
    assert reference_path(trace, jaeger_ui_ties=True) == jaeger_ui
