"""Trace assembly: grouping, forest building and the repair of messy span streams."""

from __future__ import annotations

import doctest
import importlib
import random

from analyzer.assemble import assemble
from analyzer.critical_path import critical_path, service_depths
from analyzer.model import Span, SpanKind
from tests.critical_path.timeline import spans

OTHER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_docstring_examples_hold():
    # By module name: the package attributes ``analyzer.assemble`` and
    # ``analyzer.critical_path`` are the public functions, not the modules.
    for name in ("analyzer.assemble", "analyzer.critical_path"):
        module = importlib.import_module(name)
        failed, tried = doctest.testmod(module)
        assert tried > 0 and failed == 0, module.__name__


def test_spans_are_grouped_by_trace_and_traces_ordered_by_root_start():
    later = spans(
        """
        time    0    5    10
        root      |===|
          a        |=|
        """,
        trace_id=OTHER_TRACE,
    )
    earlier = spans(
        """
        time    0    5    10
        root    |======|
        """
    )
    mixed = [later[1], earlier[0], later[0]]
    first, second = assemble(mixed)
    assert first.trace_id == earlier[0].trace_id and second.trace_id == OTHER_TRACE
    assert set(second.spans) == {"root", "a"} and second.children == {"root": ("a",)}
    assert assemble([]) == []


def test_children_are_ordered_by_start_then_span_id():
    [trace] = assemble(
        spans(
            """
            time    0    5    10
            root    |=========|
              d           |=|
              c      |=|
              b        |===|
              a        |=|
            """
        )
    )
    assert trace.children["root"] == ("c", "a", "b", "d")
    assert [s.span_id for s in trace.child_spans("root")] == ["c", "a", "b", "d"]


def test_duplicates_are_counted_and_the_longest_copy_kept_whatever_the_order():
    drawing = """
        time    0    5    10
        root    |=========|
          a       |=|
          a       |====|
          a       |=|
        """
    for ordering in (spans(drawing), list(reversed(spans(drawing)))):
        [trace] = assemble(ordering)
        assert trace.duplicates == 2
        assert (trace.spans["a"].start_ns, trace.spans["a"].end_ns) == (2, 7)
        assert trace.children["root"] == ("a",)


def test_orphans_become_roots_after_the_true_roots():
    [trace] = assemble(
        spans(
            """
            time    0    5    10
            o1      |=|             parent=gone
            root     |========|
              a       |=|
            o2         |=====|      parent=lost
              c         |=|
            """
        )
    )
    assert trace.roots == ("root", "o1", "o2")
    assert trace.orphans == ("o1", "o2")
    assert trace.root.span_id == "root"
    assert trace.children == {"root": ("a",), "o2": ("c",)}


def test_a_trace_of_orphans_only_has_the_earliest_orphan_as_primary_root():
    [trace] = assemble(
        spans(
            """
            time    0    5    10
            b          |===|        parent=x
            a        |=|            parent=y
            """
        )
    )
    assert trace.roots == ("a", "b") == trace.orphans
    assert trace.root.span_id == "a"


def test_a_self_parent_is_cut_into_an_orphan_root():
    [trace] = assemble(
        spans(
            """
            time    0    5    10
            root    |=========|
            s         |===|         parent=self
              c        |=|
            """
        )
    )
    assert trace.roots == ("root", "s") and trace.orphans == ("s",)
    assert trace.children == {"s": ("c",)}


def test_a_parent_cycle_is_cut_at_its_earliest_span():
    # a -> b -> c -> a, with d hanging off the cycle: no root reaches any of them.
    [trace] = assemble(
        spans(
            """
            time    0    5    10
            root    |=========|
            b          |====|       parent=a
            a         |======|      parent=c
            c           |==|        parent=b
            d            |=|        parent=c
            """
        )
    )
    assert trace.roots == ("root", "a") and trace.orphans == ("a",)
    assert trace.children == {"a": ("b",), "b": ("c",), "c": ("d",)}
    assert critical_path(trace, "a")[0].start_ns == 2
    assert service_depths(trace) == {"root": 1, "a": 1, "b": 1, "c": 1, "d": 1}


def test_skewed_spans_get_a_corrected_copy_and_the_input_is_untouched():
    [skewed] = spans(
        """
        time    0    5
        root       |    end=1
        """
    )
    [trace] = assemble([skewed])
    assert (trace.spans["root"].start_ns, trace.spans["root"].end_ns) == (3, 3)
    assert (skewed.start_ns, skewed.end_ns) == (3, 1)


def test_every_span_lands_in_exactly_one_tree_of_a_random_messy_stream():
    rng = random.Random(7)
    ids = [f"{i:016x}" for i in range(300)]
    stream = []
    for sid in ids:
        parent = rng.choice([None, "ffffffffffffffff", sid, *rng.sample(ids, 3)])
        start = rng.randrange(1000)
        end = start + rng.randrange(-5, 50)
        stream.append(Span("a" * 32, sid, parent, "svc", "op", SpanKind.SERVER, start, end))
    stream += rng.sample(stream, 40)  # duplicates
    rng.shuffle(stream)
    [trace] = assemble(stream)
    assert trace.duplicates == 40 and len(trace.spans) == 300
    seen: list[str] = []
    stack = list(trace.roots)
    while stack:
        sid = stack.pop()
        seen.append(sid)
        stack.extend(trace.children.get(sid, ()))
    assert sorted(seen) == sorted(ids)


def test_assembly_and_path_of_a_100000_span_chain_need_no_recursion():
    n = 100_000
    chain = [
        Span(
            "c" * 32, f"{i:016x}", f"{i - 1:016x}" if i else None, f"svc{i % 3}", "op",
            SpanKind.SERVER, i, 2 * n - i,
        )
        for i in range(n)
    ]
    [trace] = assemble(reversed(chain))
    path = critical_path(trace)
    assert len(path) == 2 * n - 1
    assert (path[0].start_ns, path[-1].end_ns) == (0, 2 * n)
    assert path[n - 1].span_id == f"{n - 1:016x}"
    assert max(service_depths(trace).values()) == n
