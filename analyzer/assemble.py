"""Trace assembly: group decoded spans into :class:`~analyzer.model.Trace` forests.

Real span streams are messy, and every later stage (critical path, graph, rules) wants a
clean forest, so this module settles each kind of mess once, in one place:

* **duplicates** (an exporter retried a batch, two agents reported the same span): one span
  per id is kept, the others are counted in ``Trace.duplicates``;
* **orphans** (the parent was never received, sampled away or is still in flight): the span
  becomes an extra root and is listed in ``Trace.orphans``;
* **self-parents and parent cycles** (buggy instrumentation, colliding ids): the cycle is
  broken at its earliest span, which becomes an orphan root, so every span belongs to
  exactly one tree;
* **clock skew inside a span** (``end < start``): the end is clamped to the start, making a
  zero-length span rather than a negative one.

Skew *between* spans (a child starting before its parent) is left as recorded: the critical
path clamps children to their parent's window, and other consumers may want the raw times.

The work is linear apart from sorting (``O(n log n)``), and the input spans are never
changed: a skewed span is replaced by a corrected copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from operator import attrgetter

from analyzer.model import Span, Trace

__all__ = ["assemble"]

# Children, roots and traces are ordered by start time, then span id, so that the result
# never depends on the order in which spans happened to arrive.
_by_start = attrgetter("start_ns", "span_id")


def assemble(spans: Iterable[Span]) -> list[Trace]:
    """Group ``spans`` by trace id and build each trace's parent/child forest.

    Parameters
    ----------
    spans
        Decoded spans of any number of traces, in any order.

    Returns
    -------
    list[Trace]
        One trace per trace id, ordered by the start of its primary root (then trace id).
        In each trace, ``children`` lists every span's children ordered by start time
        (then span id); ``roots`` lists the true roots (no parent) and then the orphans,
        each group ordered the same way; ``orphans`` repeats the latter group.

    Notes
    -----
    When a span id occurs more than once in a trace, the longest copy is kept (the
    first of equally long ones). A duplicate is usually an identical retransmission,
    where the choice does not matter; when the copies differ, the longest is the most
    complete record of the operation, and choosing by content rather than arrival order
    makes the result independent of how spans were batched.

    Examples
    --------
    >>> from analyzer.model import Span, SpanKind
    >>> def span(sid, parent, start, end):
    ...     return Span("t" * 32, sid, parent, "svc", sid, SpanKind.SERVER, start, end)
    >>> [trace] = assemble([span("b", "a", 2, 5), span("a", None, 0, 10),
    ...                     span("c", "gone", 1, 3), span("b", "a", 2, 5)])
    >>> trace.roots, trace.orphans, trace.children["a"], trace.duplicates
    (('a', 'c'), ('c',), ('b',), 1)
    """
    by_trace: dict[str, dict[str, Span]] = {}
    duplicates: dict[str, int] = {}
    for span in spans:
        if span.end_ns < span.start_ns:
            span = replace(span, end_ns=span.start_ns)
        group = by_trace.get(span.trace_id)
        if group is None:
            by_trace[span.trace_id] = {span.span_id: span}
            continue
        kept = group.get(span.span_id)
        if kept is None:
            group[span.span_id] = span
            continue
        duplicates[span.trace_id] = duplicates.get(span.trace_id, 0) + 1
        if span.end_ns - span.start_ns > kept.end_ns - kept.start_ns:
            group[span.span_id] = span

    traces = [_build(trace_id, group, duplicates.get(trace_id, 0)) for trace_id, group in by_trace.items()]
    traces.sort(key=_trace_order)
    return traces


def _trace_order(trace: Trace) -> tuple[int, str]:
    root = trace.root
    return (root.start_ns if root is not None else 0, trace.trace_id)


def _build(trace_id: str, spans: dict[str, Span], duplicates: int) -> Trace:
    """Build one trace's forest from its deduplicated spans."""
    ordered = sorted(spans.values(), key=_by_start)

    # parent[id] is the parent the forest will use: None for true roots and for spans
    # that must become orphan roots (missing parent, self-parent, cycle).
    parent: dict[str, str | None] = {}
    true_roots: list[str] = []
    orphan_set: set[str] = set()
    for span in ordered:
        pid = span.parent_id
        sid = span.span_id
        if pid is None:
            true_roots.append(sid)
            parent[sid] = None
        elif pid == sid or pid not in spans:
            orphan_set.add(sid)
            parent[sid] = None
        else:
            parent[sid] = pid

    _break_cycles(spans, ordered, parent, orphan_set)

    children: dict[str, list[str]] = {}
    for span in ordered:  # already in (start, id) order, so each child list is sorted
        pid = parent[span.span_id]
        if pid is not None:
            kids = children.get(pid)
            if kids is None:
                children[pid] = [span.span_id]
            else:
                kids.append(span.span_id)

    orphans = tuple(span.span_id for span in ordered if span.span_id in orphan_set)
    return Trace(
        trace_id=trace_id,
        spans={span.span_id: span for span in ordered},
        children={pid: tuple(kids) for pid, kids in children.items()},
        roots=(*true_roots, *orphans),
        orphans=orphans,
        duplicates=duplicates,
    )


def _break_cycles(
    spans: dict[str, Span], ordered: list[Span], parent: dict[str, str | None], orphan_set: set[str]
) -> None:
    """Cut every parent cycle, turning its earliest span into an orphan root (in place).

    Each span has at most one parent, so the spans not reachable from a root form
    components with exactly one cycle each. Walking parent pointers from every span,
    marking spans as on the current walk or finished, finds each cycle once: linear time.
    """
    on_walk, done = 1, 2
    state: dict[str, int] = {}
    for span in ordered:
        if span.span_id in state:
            continue
        walk: list[str] = []
        sid: str | None = span.span_id
        while sid is not None and sid not in state:
            state[sid] = on_walk
            walk.append(sid)
            sid = parent[sid]
        if sid is not None and state[sid] == on_walk:
            cycle = walk[walk.index(sid):]
            # The earliest member (then smallest id) is a deterministic place to cut,
            # and the likeliest true top of the cycle's tree.
            cut = min(cycle, key=lambda s: (spans[s].start_ns, s))
            parent[cut] = None
            orphan_set.add(cut)
        for s in walk:
            state[s] = done

