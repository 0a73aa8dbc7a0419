"""A slow, obviously-faithful statement of Jaeger's critical-path walk, used as a test oracle.

It follows the structure of jaeger's Go port (``criticalpath.go``, ``sanitize.go``,
``find_lfc.go``): sanitize the tree first, then loop, each time scanning *all* of the
current span's children for the last finishing one. Quadratic, unmerged, and written
independently of ``analyzer.critical_path`` so that agreement means something. Sections
are merged at the end only to compare with critpath's merged output.
"""

from __future__ import annotations

from collections.abc import Collection

from analyzer.model import Segment, SpanKind, Trace


def sanitized_windows(
    trace: Trace, root_id: str, exclude: Collection[str] = ()
) -> tuple[dict[str, tuple[int, int]], dict[str, list[str]], dict[str, str]]:
    """Clamped windows, blocking children and parents of the spans reachable from the root.

    Async children (CONSUMER under PRODUCER, FOLLOWS_FROM) and excluded spans are left out
    with their subtrees; children wholly outside their parent's clamped window are dropped.
    """
    spans = trace.spans
    root = spans[root_id]
    windows = {root_id: (root.start_ns, max(root.end_ns, root.start_ns))}
    kids: dict[str, list[str]] = {}
    parents: dict[str, str] = {}
    queue = [root_id]
    for span_id in queue:
        parent = spans[span_id]
        p_start, p_end = windows[span_id]
        kids[span_id] = []
        for kid_id in trace.children.get(span_id, ()):
            kid = spans[kid_id]
            if kid_id in exclude or kid.follows_from:
                continue
            if parent.kind == SpanKind.PRODUCER and kid.kind == SpanKind.CONSUMER:
                continue
            start, end = kid.start_ns, max(kid.end_ns, kid.start_ns)
            if start >= p_start:
                if start >= p_end:
                    continue  # starts after the parent ended
                end = min(end, p_end)
            else:
                if end <= p_start:
                    continue  # ended before the parent started
                start, end = p_start, min(end, p_end)
            windows[kid_id] = (start, end)
            kids[span_id].append(kid_id)
            parents[kid_id] = span_id
            queue.append(kid_id)
    return windows, kids, parents


def reference_path(
    trace: Trace,
    root_id: str | None = None,
    exclude: Collection[str] = (),
    *,
    jaeger_ui_ties: bool = False,
) -> list[Segment]:
    """The critical path by the literal, quadratic walk.

    ``jaeger_ui_ties`` applies Jaeger UI's rule on the way back (a child must end strictly
    before the cursor) instead of the Go port's and critpath's (at or before).
    """
    root_id = trace.roots[0] if root_id is None else root_id
    windows, kids, parents = sanitized_windows(trace, root_id, exclude)
    sections: list[tuple[str, int, int]] = []
    span_id, returning_at = root_id, None
    while True:
        start, end = windows[span_id]
        high = end if returning_at is None else returning_at
        last = None
        for kid_id in kids[span_id]:  # trace order: the first of equal ends wins
            kid_start, kid_end = windows[kid_id]
            if returning_at is None or (
                kid_start < returning_at
                and (kid_end < returning_at if jaeger_ui_ties else kid_end <= returning_at)
            ):
                if last is None or kid_end > windows[last][1]:
                    last = kid_id
        if last is not None:
            sections.append((span_id, windows[last][1], high))
            span_id, returning_at = last, None
            continue
        sections.append((span_id, start, high))
        if span_id == root_id:
            break
        span_id, returning_at = parents[span_id], start

    merged: list[list] = []
    for owner, low, high in reversed(sections):
        if low == high:
            continue
        if merged and merged[-1][0] == owner and merged[-1][2] == low:
            merged[-1][2] = high
        else:
            merged.append([owner, low, high])
    if not merged:  # a zero-length root: critpath names the root anyway
        start, _ = windows[root_id]
        return [Segment(root_id, start, start)]
    return [Segment(*m) for m in merged]


def reference_saving(trace: Trace, root_id: str, call_id: str) -> int:
    """The what-if saving of queuing ``call_id`` by a literal forward replay of the model
    (docs/critical-path.md, "What if a call were queued").

    Nothing is shared with ``analyzer.critical_path.what_if_saved_ns`` but the clamped
    windows: each frame's chain is read off the literal walk's path, and the frame is
    replayed forwards from where its link now ends. Each item of the chain after the link
    (the frame's own stretches and the children it awaited) keeps its duration and
    starts once the item before it is done and every other child that had started before
    the link ended, and had ended by the item's original start, is done too; the frame
    ends when its chain is done and no such child still runs.
    """
    if call_id == root_id:
        return 0
    windows, _, parents = sanitized_windows(trace, root_id)
    if call_id not in windows:
        return 0
    path = reference_path(trace, root_id)

    def child_of(frame: str, span_id: str) -> str | None:
        """The child of ``frame`` above ``span_id`` (``None``: the frame itself)."""
        while span_id != frame:
            if parents[span_id] == frame:
                return span_id
            span_id = parents[span_id]
        return None

    subtree = {s.span_id for s in path if s.span_id == call_id or _below(parents, s.span_id, call_id)}
    if not subtree:
        return 0  # nothing beneath the call owns a segment: the root never waited for it
    link, new_end = call_id, windows[call_id][0]  # queued: the call returns at once
    while link != root_id:
        frame = parents[link]
        link_end = windows[link][1]
        frame_end = windows[frame][1]
        items: list[tuple[int, int]] = []  # the frame's chain after the link, in time order
        last_kid = None
        for segment in path:
            if segment.start_ns < link_end or segment.end_ns > frame_end:
                continue
            if not (segment.span_id == frame or _below(parents, segment.span_id, frame)):
                continue
            kid = child_of(frame, segment.span_id)
            if kid is None:
                items.append((segment.start_ns, segment.end_ns))
                last_kid = None
            elif kid != last_kid:
                items.append(windows[kid])
                last_kid = kid
        others = [windows[k] for k, p in parents.items()
                  if p == frame and k != link and windows[k][0] < link_end]
        cursor = new_end
        for start, end in items:
            held = max((e for s, e in others if e <= start), default=cursor)
            cursor = max(cursor, held) + (end - start)
        link, new_end = frame, max([cursor] + [e for s, e in others])
    return windows[root_id][1] - new_end


def _below(parents: dict[str, str], span_id: str, ancestor: str) -> bool:
    while span_id in parents:
        span_id = parents[span_id]
        if span_id == ancestor:
            return True
    return False
