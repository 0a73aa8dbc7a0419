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

_start_of = attrgetter("start_ns")
_id_of = attrgetter("span_id")


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

    traces = [
        _build(trace_id, group, duplicates.get(trace_id, 0)) for trace_id, group in by_trace.items()
    ]
    traces.sort(key=_trace_order)
    return traces


def _trace_order(trace: Trace) -> tuple[int, str]:
    root = trace.root
    return (root.start_ns if root is not None else 0, trace.trace_id)


def _build(trace_id: str, spans: dict[str, Span], duplicates: int) -> Trace:
    """Build one trace's forest from its deduplicated spans."""
    # Sorting on the start alone is several times faster than on a (start, id) key: most
    # starts differ, and comparing integers is cheaper than comparing tuples. Linking
    # notices equal starts on the way; only then are those runs ordered by id as well.
    ordered = sorted(spans.values(), key=_start_of)
    linked = _link(ordered, spans, check_ties=True)
    if linked is None:
        ordered = _order_ties(ordered)
        linked = _link(ordered, spans, check_ties=False)
    by_id, children, roots, orphans, forward = linked

    # Spans that no root reaches can only hang off parent cycles, and a cycle needs at
    # least one parent that comes after its child in the order; when every parent came
    # first (the common case) there is nothing to look for.
    if not forward and _count_reachable(roots + orphans, children) < len(spans):
        _cut_cycles(spans, ordered, children, roots + orphans, orphans)

    return Trace(
        trace_id=trace_id,
        spans=by_id,
        children={pid: tuple(kids) for pid, kids in children.items()},
        roots=(*roots, *orphans),
        orphans=tuple(orphans),
        duplicates=duplicates,
    )


def _link(ordered: list[Span], spans: dict[str, Span], check_ties: bool) -> tuple[
        dict[str, Span], dict[str, list[str]], list[str], list[str], bool] | None:
    """Roots, orphans and child lists of ``ordered`` (spans in (start, id) order).

    Returns ``(by_id, children, roots, orphans, forward)``, where ``by_id`` holds the
    spans in order and ``forward`` says every parent came before its children; or None
    when ``check_ties`` finds two equal starts (the order by id is then still to do).
    """
    by_id: dict[str, Span] = {}  # filled in order: "already seen" = "earlier in the order"
    roots: list[str] = []
    orphans: list[str] = []
    children: dict[str, list[str]] = {}
    forward = True
    previous = None
    for span in ordered:  # in (start, id) order, so every child list comes out sorted
        if check_ties:
            start = span.start_ns
            if start == previous:
                return None
            previous = start
        sid = span.span_id
        pid = span.parent_id
        if pid is None:
            roots.append(sid)
        elif pid in by_id or (pid != sid and pid in spans):
            # A parent placed after its child (clock skew, or a cycle) is the only way
            # a parent cycle can form; remember it so the common case skips the check.
            if forward and pid not in by_id:
                forward = False
            kids = children.get(pid)
            if kids is None:
                children[pid] = [sid]
            else:
                kids.append(sid)
        else:
            orphans.append(sid)
        by_id[sid] = span
    return by_id, children, roots, orphans, forward


def _order_ties(ordered: list[Span]) -> list[Span]:
    """``ordered`` (sorted by start) with each run of equal starts sorted by span id.

    Children, roots and orphans are listed in (start, id) order so that the result
    never depends on the order in which spans arrived.
    """
    ordered = list(ordered)
    run = 0
    previous = ordered[0].start_ns if ordered else 0
    for k in range(1, len(ordered)):
        start = ordered[k].start_ns
        if start != previous:
            if k - run > 1:
                ordered[run:k] = sorted(ordered[run:k], key=_id_of)
            run, previous = k, start
    if len(ordered) - run > 1:
        ordered[run:] = sorted(ordered[run:], key=_id_of)
    return ordered


def _count_reachable(roots: list[str], children: dict[str, list[str]]) -> int:
    count = 0
    stack = list(roots)
    while stack:
        kids = children.get(stack.pop())
        count += 1
        if kids:
            stack.extend(kids)
    return count


def _cut_cycles(
    spans: dict[str, Span],
    ordered: list[Span],
    children: dict[str, list[str]],
    roots: list[str],
    orphans: list[str],
) -> None:
    """Cut every parent cycle at its earliest span, which becomes an orphan root.

    Updates ``children`` and ``orphans`` in place. Each span has at most one parent, so
    the spans no root reaches form components with exactly one cycle each, and cutting
    the cycle makes the cut span the root of its whole component. Walking parent
    pointers from an unreached span therefore always ends on its component's cycle.
    """
    reached: set[str] = set()
    stack = list(roots)
    while stack:
        sid = stack.pop()
        reached.add(sid)
        stack.extend(children.get(sid, ()))
    for span in ordered:
        if span.span_id in reached:
            continue
        walk: dict[str, int] = {}  # span id -> position on this walk
        sid = span.span_id
        while sid not in walk:
            walk[sid] = len(walk)
            sid = spans[sid].parent_id  # present and not itself: else it would be a root
        cycle = list(walk)[walk[sid]:]
        # The earliest member (then smallest id) is a deterministic place to cut, and
        # the likeliest true top of the component.
        cut = min(cycle, key=lambda s: (spans[s].start_ns, s))
        children[spans[cut].parent_id].remove(cut)
        orphans.append(cut)
        stack = [cut]
        while stack:
            sid = stack.pop()
            reached.add(sid)
            stack.extend(children.get(sid, ()))
    orphans.sort(key=lambda s: (spans[s].start_ns, s))
