"""Critical path and critical-path depth of an assembled trace (ARCHITECTURE.md §3).

The critical path of a root span is the chain of work that determined its end-to-end
latency, as segments ``(span_id, start_ns, end_ns)`` that tile the root's window exactly.
It is computed with the backward walk Jaeger UI uses:

1. start at the root with the cursor at its end;
2. at the current span, take the synchronous child that finishes last at or before the
   cursor (ties included); the gap between that child's end and the cursor belongs to the
   current span; descend into the child with the cursor at the child's end;
3. when the current span has no such child left, the rest of its window down to its start
   belongs to it; return to its parent with the cursor at the span's start.

Before a child is considered it is clamped to its parent's (clamped) window, and dropped
when it lies wholly outside it. Asynchronous children are never on their parent's path:
CONSUMER spans under a PRODUCER and FOLLOWS_FROM children (with their whole subtrees);
spans related only by links are not children at all.

Every deliberate difference from Jaeger UI is listed, with its reason, in
``docs/critical-path.md``.

The walk is iterative (deep traces cannot hit Python's recursion limit), visits each span
at most once, and costs ``O(n log n)`` for sorting each visited span's children by end time.
Inputs are never modified: clamped windows live in the walk's own frames.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import repeat
from operator import itemgetter

from analyzer.model import Segment, Span, SpanKind, Trace

__all__ = [
    "PathLists",
    "PathSummary",
    "critical_path",
    "critical_path_depth",
    "critical_paths",
    "path_segments",
    "service_depths",
    "summarize_path",
    "summarize_root",
    "what_if_saved_ns",
]

_CONSUMER = SpanKind.CONSUMER
_PRODUCER = SpanKind.PRODUCER
_end_of = itemgetter(0)


def critical_path(
    trace: Trace, root_id: str | None = None, *, exclude: Collection[str] = frozenset()
) -> list[Segment]:
    """The critical path of one root span of ``trace``, as time-ordered segments.

    Parameters
    ----------
    trace
        An assembled trace (see :func:`analyzer.assemble.assemble`).
    root_id
        The span whose window is tiled: by default the trace's primary root. Any span of
        the trace may be named (an orphan root, or a server span to see its own path).
    exclude
        Span ids whose whole subtree is ignored, as if that work had been queued instead
        of awaited: the "what if" behind the deferrable-work rule. Ids outside the root's
        tree are ignored.

    Returns
    -------
    list[Segment]
        Segments ordered by time that tile ``[root.start_ns, root.end_ns]`` exactly,
        adjacent segments of the same span merged. A zero-length root gives the single
        zero-length segment of the root, so every path names at least its root.

    Raises
    ------
    ValueError
        If the trace has no spans, ``root_id`` is not one of its spans, or the root
        itself is excluded.

    Examples
    --------
    >>> from analyzer.assemble import assemble
    >>> from analyzer.model import Span, SpanKind
    >>> def span(sid, parent, start, end):
    ...     return Span("t" * 32, sid, parent, "svc", sid, SpanKind.SERVER, start, end)
    >>> #  root |==========|
    >>> #  a      |===|
    >>> #  b        |====|
    >>> [trace] = assemble([span("root", None, 0, 10), span("a", "root", 1, 4),
    ...                     span("b", "root", 2, 6)])
    >>> [(s.span_id, s.start_ns, s.end_ns) for s in critical_path(trace)]
    [('root', 0, 2), ('b', 2, 6), ('root', 6, 10)]
    """
    owners, lows, highs, _ = _walk(trace, root_id, exclude)
    return _segments(owners, lows, highs)


def _walk(
    trace: Trace, root_id: str | None, exclude: Collection[str]
) -> tuple[list[str], list[int], list[int], int]:
    """:func:`critical_path` as three lists (owner, start, end of each segment, in time
    order), for callers that read the path without needing ``Segment`` objects, and the
    path's depth below the root (the largest service depth of an owner, the root's being
    1): the walk descends along tree edges, so it counts the service changes on the way,
    cheaper than a depth map of the whole trace."""
    spans = trace.spans
    if root_id is None:
        if not trace.roots:
            raise ValueError(f"trace {trace.trace_id}: no spans, so no critical path")
        root_id = trace.roots[0]
    root = spans.get(root_id)
    if root is None:
        raise ValueError(f"trace {trace.trace_id}: span {root_id} is not in the trace")
    if root_id in exclude:
        raise ValueError(
            f"trace {trace.trace_id}: the root {root_id} cannot be excluded from its own path"
        )

    start, end = root.start_ns, max(root.end_ns, root.start_ns)
    if start == end:
        return [root_id], [start], [end], 1

    children = trace.children
    # Sections are found backwards in time, as three flat lists (owner, start, end) rather
    # than objects: deep traces produce two sections per span, and fewer allocations mean
    # less garbage-collector work. A new section extends the previous one when the owner
    # is the same (it ends where the previous one starts: the cursor only moves back).
    owners: list[str] = []
    lows: list[int] = []
    highs: list[int] = []
    # The walk's current frame lives in locals: the span, its clamped start, its candidate
    # children (see _candidates) and the position of the next candidate to consider.
    # Descending pushes the frame on ``stack``; finishing a span pops its parent's frame.
    owner, owner_start = root_id, start
    owner_service, owner_depth, depth = root.service, 1, 0
    kids = _candidates(root, start, end, children, spans, exclude)
    i = 0
    stack: list[tuple] = []
    last_owner = None
    cursor = end
    while True:
        n = len(kids)
        # Children ending after the cursor can never qualify again (the cursor only moves
        # back), so the scan resumes where it stopped: linear over all children overall.
        while i < n:
            kid_end = kids[i]
            if kid_end <= cursor:
                kid_start = kids[i + 1]
                if kid_start < cursor:
                    break
            i += 3
        low = kid_end if i < n else owner_start
        if low < cursor:
            if owner == last_owner:
                lows[-1] = low
            else:
                owners.append(owner)
                lows.append(low)
                highs.append(cursor)
                last_owner = owner
                if owner_depth > depth:
                    depth = owner_depth
            cursor = low
        if i < n:
            kid_id = kids[i + 2]
            # A frame whose candidates are used up keeps none: on a deep chain every
            # frame is alive at once, and what it does not hold the collector never scans.
            if i + 3 < n:
                stack.append((owner, owner_start, owner_service, owner_depth, kids, i + 3))
            else:
                stack.append((owner, owner_start, owner_service, owner_depth, (), 0))
            kid = spans[kid_id]
            if kid.service != owner_service:
                owner_service = kid.service
                owner_depth += 1
            owner, owner_start = kid_id, kid_start
            i = 0
            grandkids = children.get(kid_id)
            if not grandkids:
                kids = ()  # a leaf: most spans of a wide trace
            elif len(grandkids) > 1 or exclude:
                kids = _candidates(kid, kid_start, kid_end, children, spans, exclude)
            else:
                # One child, as on every level of a deep chain: _candidates inline, as a
                # function call here costs as much as the rest of the step.
                grandkid_id = grandkids[0]
                grandkid = spans[grandkid_id]
                low, high = grandkid.start_ns, grandkid.end_ns
                if grandkid.follows_from or (
                        grandkid.kind is _CONSUMER and kid.kind is _PRODUCER):
                    kids = ()
                elif low < kid_start:
                    kids = () if high <= kid_start else (
                        high if high < kid_end else kid_end, kid_start, grandkid_id)
                elif low >= kid_end:
                    kids = ()
                else:
                    if high > kid_end:
                        high = kid_end
                    elif high < low:
                        high = low
                    kids = (high, low, grandkid_id)
        elif stack:
            owner, owner_start, owner_service, owner_depth, kids, i = stack.pop()
        else:
            break
    owners.reverse()
    lows.reverse()
    highs.reverse()
    return owners, lows, highs, depth


def _segments(owners: list[str], lows: list[int], highs: list[int]) -> list[Segment]:
    """``Segment(owner, low, high)`` for each position of the three lists.

    A deep trace yields two segments per span, and the frozen dataclass's generated
    ``__init__`` (three ``object.__setattr__`` calls through a global) costs more than the
    rest of the walk per segment. So, when ``Segment`` is the plain three-slot frozen
    dataclass this module was written against, segments are allocated and their slots
    filled by C-level ``map`` loops through the slot descriptors, which is what that
    ``__init__`` does, minus the per-call overhead; the objects are indistinguishable.
    Should ``Segment`` ever change shape or gain a ``__post_init__``, the ordinary
    constructor is used.
    """
    if not _FAST_SEGMENTS:
        return list(map(Segment, owners, lows, highs))
    segments = list(map(object.__new__, repeat(Segment, len(owners))))
    deque(map(Segment.span_id.__set__, segments, owners), maxlen=0)
    deque(map(Segment.start_ns.__set__, segments, lows), maxlen=0)
    deque(map(Segment.end_ns.__set__, segments, highs), maxlen=0)
    return segments


_FAST_SEGMENTS = (
    getattr(Segment, "__slots__", None) == ("span_id", "start_ns", "end_ns")
    and tuple(f.name for f in fields(Segment)) == Segment.__slots__
    and not hasattr(Segment, "__post_init__")
)


def _candidates(
    parent: Span,
    start: int,
    end: int,
    children: Mapping[str, tuple[str, ...]],
    spans: Mapping[str, Span],
    exclude: Collection[str],
) -> Sequence[int | str]:
    """The synchronous children of ``parent`` clamped to its window ``[start, end]``.

    Returns a flat sequence of ``end, start, span_id`` triples, latest end first; among
    equal ends the children keep the trace's order (start time, then span id), so a tie
    goes to the child that started first. Flat, because on a deep trace every frame's
    candidates stay alive at once, and one list per span is cheaper than a tuple per child.
    """
    kid_ids = children.get(parent.span_id)
    if not kid_ids:
        return ()
    from_producer = parent.kind is _PRODUCER
    found = []
    for kid_id in kid_ids:
        kid = spans[kid_id]
        if kid.follows_from or (from_producer and kid.kind is _CONSUMER):
            continue
        if exclude and kid_id in exclude:
            continue
        kid_start, kid_end = kid.start_ns, kid.end_ns
        if kid_start < start:
            # Started before its parent (clock skew between hosts): keep the overlap.
            if kid_end <= start:
                continue
            kid_start = start
        elif kid_start >= end:
            continue
        if kid_end > end:
            kid_end = end
        elif kid_end < kid_start:
            kid_end = kid_start
        found.append((kid_end, kid_start, kid_id))
    if len(found) == 1:
        return found[0]
    found.sort(key=_end_of, reverse=True)  # stable even in reverse: ties keep trace order
    return [field for triple in found for field in triple]


def critical_paths(trace: Trace) -> dict[str, list[Segment]]:
    """The critical path of every root of ``trace`` (true roots, then orphans).

    Examples
    --------
    >>> from analyzer.assemble import assemble
    >>> from analyzer.model import Span, SpanKind
    >>> spans = [Span("t" * 32, "r", None, "svc", "r", SpanKind.SERVER, 0, 4),
    ...          Span("t" * 32, "o", "lost", "svc", "o", SpanKind.SERVER, 1, 3)]
    >>> {k: [(s.span_id, s.start_ns, s.end_ns) for s in v]
    ...  for k, v in critical_paths(assemble(spans)[0]).items()}
    {'r': [('r', 0, 4)], 'o': [('o', 1, 3)]}
    """
    return {root_id: critical_path(trace, root_id) for root_id in trace.roots}


def service_depths(trace: Trace) -> dict[str, int]:
    """Each span's *service depth*: 1 for a root, +1 whenever the service changes.

    The depth of a span is the number of distinct service hops from its root: a child in
    the same service as its parent has its parent's depth, a child in another service one
    more. Virtual peers (databases, queues) have no spans, so they never count.

    Examples
    --------
    >>> from analyzer.assemble import assemble
    >>> from analyzer.model import Span, SpanKind
    >>> def span(sid, parent, service):
    ...     return Span("t" * 32, sid, parent, service, sid, SpanKind.SERVER, 0, 1)
    >>> [trace] = assemble([span("a", None, "web"), span("b", "a", "web"),
    ...                     span("c", "b", "api"), span("d", "c", "db-proxy")])
    >>> service_depths(trace)
    {'a': 1, 'b': 1, 'c': 2, 'd': 3}
    """
    spans = trace.spans
    children = trace.children
    depths: dict[str, int] = {}
    for root_id in trace.roots:
        depths[root_id] = 1
        stack = [root_id]
        while stack:
            parent_id = stack.pop()
            kid_ids = children.get(parent_id)
            if not kid_ids:
                continue
            depth = depths[parent_id]
            service = spans[parent_id].service
            for kid_id in kid_ids:
                depths[kid_id] = depth if spans[kid_id].service == service else depth + 1
            stack.extend(kid_ids)
    return depths


def critical_path_depth(
    trace: Trace, segments: Collection[Segment], depths: Mapping[str, int] | None = None
) -> int:
    """The critical-path depth: the largest service depth among the segments' owners.

    Parameters
    ----------
    trace
        The trace the segments were computed from.
    segments
        A critical path of ``trace`` (see :func:`critical_path`).
    depths
        Precomputed :func:`service_depths` of ``trace``, to save recomputing them.

    Returns
    -------
    int
        0 for an empty path, otherwise at least 1.

    Examples
    --------
    >>> from analyzer.assemble import assemble
    >>> from analyzer.model import Span, SpanKind
    >>> def span(sid, parent, service, start, end):
    ...     return Span("t" * 32, sid, parent, service, sid, SpanKind.SERVER, start, end)
    >>> [trace] = assemble([span("a", None, "web", 0, 10), span("b", "a", "api", 1, 9),
    ...                     span("c", "b", "auth", 2, 3)])
    >>> critical_path_depth(trace, critical_path(trace))
    3
    """
    if not segments:
        return 0
    if depths is None:
        depths = service_depths(trace)
    return max(depths.get(segment.span_id, 1) for segment in segments)


@dataclass(frozen=True, slots=True)
class PathSummary:
    """One root's critical path with the facts derived from it, computed once.

    Shaped for ``TraceContext`` (docs/design.md): ``segments``, ``depth``, ``depths``
    (span id → service depth, for every span of the trace), ``critical_ids`` (span ids
    owning a segment) and ``service_ns`` (critical-path nanoseconds per service; their
    sum is the root's duration).

    The path is kept as ``path``, three tuples (owner, start, end of each segment in time
    order), and ``segments`` builds the ``Segment`` objects when asked: folding a trace
    never reads them, and building them cost as much as the walk that found them.
    """

    root_id: str
    path: PathLists
    depth: int
    depths: Mapping[str, int]
    critical_ids: frozenset[str]
    service_ns: Mapping[str, int]

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The critical path as :func:`critical_path` returns it (a new tuple each time)."""
        return path_segments(self.path)


PathLists = tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]
"""A critical path as three tuples: the owner, start and end of each segment, in time order."""


def path_segments(path: PathLists) -> tuple[Segment, ...]:
    """The ``Segment`` objects of a path kept as :data:`PathLists`."""
    return tuple(_segments(*path))


def summarize_path(trace: Trace, root_id: str | None = None) -> PathSummary:
    """Critical path, depth, owners and per-service critical time of one root of ``trace``.

    Examples
    --------
    >>> from analyzer.assemble import assemble
    >>> from analyzer.model import Span, SpanKind
    >>> def span(sid, parent, service, start, end):
    ...     return Span("t" * 32, sid, parent, service, sid, SpanKind.SERVER, start, end)
    >>> [trace] = assemble([span("a", None, "web", 0, 10), span("b", "a", "api", 2, 5)])
    >>> summary = summarize_path(trace)
    >>> summary.depth, sorted(summary.critical_ids), dict(summary.service_ns)
    (2, ['a', 'b'], {'web': 7, 'api': 3})
    """
    if root_id is None:
        if not trace.roots:
            raise ValueError(f"trace {trace.trace_id}: no spans, so no critical path")
        root_id = trace.roots[0]
    depths = service_depths(trace)
    path, depth, critical_ids, service_ns = summarize_root(trace, root_id, depths)
    return PathSummary(
        root_id=root_id,
        path=path,
        depth=depth,
        depths=depths,
        critical_ids=critical_ids,
        service_ns=service_ns,
    )


def summarize_root(
    trace: Trace, root_id: str, depths: Mapping[str, int] | None = None
) -> tuple[PathLists, int, frozenset[str], dict[str, int]]:
    """:func:`summarize_path`'s ``path``, ``depth``, ``critical_ids`` and ``service_ns``
    as a plain tuple, for the fold (which builds its own frozen context once).

    Without ``depths`` (:func:`service_depths` of ``trace``), ``root_id`` must be one of
    ``trace.roots`` (depth 1): the depth is then counted by the walk itself, as the fold
    reads no other span's depth and the full map cost a third of the walk.
    """
    owners_in_order, lows, highs, depth = _walk(trace, root_id, ())
    spans = trace.spans
    # One pass over the path for the per-service time, as this runs for every trace the
    # collector sees; over the walk's own lists, not the segments' attributes.
    service_ns: dict[str, int] = {}
    for span_id, low, high in zip(owners_in_order, lows, highs):
        service = spans[span_id].service
        service_ns[service] = service_ns.get(service, 0) + high - low
    owners = frozenset(owners_in_order)
    if depths is not None:  # what critical_path_depth computes
        depth = max(depths.get(span_id, 1) for span_id in owners)
    return (tuple(owners_in_order), tuple(lows), tuple(highs)), depth, owners, service_ns


def what_if_saved_ns(
    trace: Trace, root_id: str, call: Span, *, on_path: Collection[str] | None = None
) -> int:
    """Endpoint latency saved if ``call`` were queued instead of awaited: how much earlier
    the root ``root_id`` would end (docs/critical-path.md, "What if a call were queued").

    The model reads each span on the way from the call up to the root as a *frame*: its
    critical path is a chain of its own stretches and the children it awaited, one after
    the other. Queued, the call returns at once (at its start), so its caller could go on
    that much sooner; the rest of the caller's chain moves earlier with it, and the caller
    ends earlier by as much, unless something that does not wait for the call holds it:
    another child that had started before the call ended keeps its times, and the chain
    cannot go on past the point where that child used to be awaited before it is done.
    Each ancestor then sees its child end earlier by the child's saving, capped the same
    way, up to the root. The saving is the root's, never more than the call's own time.

    0 when the call is not on the root's critical path (nothing in its subtree owns a
    segment: an asynchronous call, one hidden behind a slower sibling, one outside the
    root's tree): the root does not wait for it, so queuing it saves nothing.

    ``on_path`` is, when the caller already knows it, the set of span ids on the path or
    above it (every owner of a segment and all their ancestors); it is derived from the
    critical path otherwise.

    Raises ``ValueError`` when ``call`` is ``root_id`` itself and has a caller (a root
    cannot be excluded from its own path).

    Examples
    --------
    >>> from analyzer.assemble import assemble
    >>> from analyzer.model import Span, SpanKind
    >>> def span(sid, parent, start, end):
    ...     return Span("t" * 32, sid, parent, "svc", sid, SpanKind.SERVER, start, end)
    >>> #  root  |==========|
    >>> #  read    |==|
    >>> #  audit      |=====|
    >>> #  cache   |====|
    >>> [trace] = assemble([span("root", None, 0, 10), span("read", "root", 1, 3),
    ...                     span("audit", "root", 3, 8), span("cache", "root", 1, 5)])
    >>> what_if_saved_ns(trace, "root", trace.spans["audit"])  # cache holds the root until 5
    3
    >>> #  gateway |==========|       the gateway also awaits b until 8:
    >>> #  a       |==========|       a ends at 6 instead of 10, the gateway at 8
    >>> #    write      |====|
    >>> #  b       |========|
    >>> [trace] = assemble([span("gateway", None, 0, 10), span("a", "gateway", 0, 10),
    ...                     span("write", "a", 5, 9), span("b", "gateway", 0, 8)])
    >>> what_if_saved_ns(trace, "gateway", trace.spans["write"])
    2
    """
    spans = trace.spans
    parent = spans.get(call.parent_id) if call.parent_id else None
    if parent is None:
        return 0
    if min(call.end_ns, parent.end_ns) <= max(call.start_ns, parent.start_ns):
        return 0
    if call.span_id == root_id:
        raise ValueError(
            f"trace {trace.trace_id}: the root {root_id} cannot be excluded from its own path"
        )
    if on_path is None:
        on_path = _with_ancestors(spans, (s.span_id for s in critical_path(trace, root_id)))
    if call.span_id not in on_path:
        return 0
    # The frames from the call up to the root, and their windows as the walk clamps them
    # (each to its parent's clamped window, as _candidates does), computed top down.
    frames = [call, parent]
    while frames[-1].span_id != root_id:
        up = frames[-1].parent_id
        span = spans.get(up) if up else None
        if span is None:
            return 0  # outside the root's tree
        frames.append(span)
    count = len(frames)
    lows = [0] * count
    highs = [0] * count
    root = frames[-1]
    low, high = root.start_ns, root.end_ns if root.end_ns > root.start_ns else root.start_ns
    for level in range(count - 1, -1, -1):  # comparisons, not max/min: this runs per write
        current = frames[level]
        if current.start_ns > low:
            low = current.start_ns
        if current.end_ns < high:
            high = current.end_ns
        if high < low:
            high = low
        lows[level], highs[level] = low, high
    # Queued, the call returns at its start: its whole window is saved in its caller's
    # frame, then capped frame by frame.
    saved = highs[0] - lows[0]
    children = trace.children
    for level in range(1, count):
        kid_ids = children[frames[level].span_id]
        if len(kid_ids) < 2:
            continue  # the link alone (a client span and its server): nothing else holds it
        frame = frames[level]
        link_id = frames[level - 1].span_id
        end = highs[level - 1]  # where the link used to end
        low, high = lows[level], highs[level]
        held = low  # the latest end, by `end`, of a child the frame also awaited
        late = None  # ends after `end` of children started before it
        after = None  # windows of the frame's path children that started at or after `end`
        producer = frame.kind is _PRODUCER
        for kid_id in kid_ids:  # each child clamped as _candidates clamps it
            if kid_id == link_id:
                continue
            kid = spans[kid_id]
            if kid.follows_from or (producer and kid.kind is _CONSUMER):
                continue
            kid_start, kid_end = kid.start_ns, kid.end_ns
            if kid_start < low:
                if kid_end <= low:
                    continue
                kid_start = low
            elif kid_start >= high:
                continue
            if kid_end > high:
                kid_end = high
            elif kid_end < kid_start:
                kid_end = kid_start
            if kid_start < end:  # running before the link ended: it keeps its times
                if kid_end <= end:
                    if kid_end > held:
                        held = kid_end
                elif late is None:
                    late = [kid_end]
                else:
                    late.append(kid_end)
            elif kid_id in on_path:  # the chain after the link: it moves with the link
                if after is None:
                    after = [kid_start, kid_end]
                else:
                    after += (kid_start, kid_end)
        if end - held < saved:
            saved = end - held
        if late is not None:
            # A child that ends after the link ended, during a later child of the chain,
            # holds what follows that child: the chain can move only until that child's
            # end reaches it. (Such a child always ends inside a path child's window, or
            # at its end; the frame's end bounds it otherwise.)
            for kid_end in late:
                bound = high
                if after is not None:
                    for i in range(0, len(after), 2):
                        if after[i] >= kid_end:
                            if after[i] < bound:
                                bound = after[i]
                        elif after[i + 1] >= kid_end and after[i + 1] < bound:
                            bound = after[i + 1]
                if bound - kid_end < saved:
                    saved = bound - kid_end
        if saved <= 0:
            return 0
    return saved if saved > 0 else 0


def _with_ancestors(spans: Mapping[str, Span], span_ids: Iterable[str]) -> set[str]:
    """``span_ids`` and every ancestor of theirs."""
    marked: set[str] = set()
    for span_id in span_ids:
        current: str | None = span_id
        while current is not None and current not in marked:
            marked.add(current)
            span = spans.get(current)
            current = span.parent_id if span is not None else None
    return marked
