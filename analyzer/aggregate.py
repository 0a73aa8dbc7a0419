"""Folding traces into everything the report needs, computing each critical path once.

:func:`trace_context` derives, for one assembled trace, the facts every consumer reads
(its endpoint, critical path, depths…) as a frozen :class:`TraceContext`.
:class:`Aggregate` hands that context to each of its sub-aggregates — the service
graph, the endpoint profiles and the rules' call statistics — so the critical path,
the expensive part, is never computed twice for the same trace.

Every part is mergeable and snapshot-able (``to_dict`` / ``from_dict``), which is
what lets the collector keep windows, persist them and merge several collectors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from analyzer.config import AnalysisConfig
from analyzer.critical_path import PathLists, path_segments, service_depths, summarize_root
from analyzer.graph import GraphAggregate
from analyzer.model import Endpoint, Segment, Span, Trace
from analyzer.profile import EndpointAggregate
from analyzer.rules import CallAggregate

SNAPSHOT_VERSION = 1
"""Bumped whenever ``Aggregate.to_dict``'s layout changes incompatibly."""


@dataclass(frozen=True, slots=True)
class TraceContext:
    """One trace with its critical-path facts, computed once and shared read-only.

    ``segments`` tile the primary root's window; ``depths`` maps every span id to its
    service depth; ``critical_ids`` are the span ids owning at least one segment;
    ``service_ns`` is the critical-path time per service (summing to ``duration_ns``);
    ``error`` is true when the root span failed (what the user saw).

    The critical path is held as ``path`` (owner, start and end tuples, see
    :data:`~analyzer.critical_path.PathLists`); ``segments`` builds its ``Segment``
    objects on each access. Nothing that folds a trace reads them (exemplar documents
    do), and building them for every trace cost as much as the walk that found them.
    ``depths`` is likewise computed from ``trace`` on first access (then kept): only
    trace documents read it.
    """

    trace: Trace
    root: Span
    endpoint: Endpoint
    path: PathLists
    depth: int
    critical_ids: frozenset[str]
    duration_ns: int
    error: bool
    service_ns: Mapping[str, int]
    _depths: Mapping[str, int] | None = field(default=None, repr=False, compare=False)

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The primary root's critical path, time-ordered (a new tuple on each access)."""
        return path_segments(self.path)

    @property
    def depths(self) -> Mapping[str, int]:
        """Span id → service depth, for every span of the trace (computed once, on demand)."""
        depths = self._depths
        if depths is None:
            depths = service_depths(self.trace)
            # A cache of a pure function of ``trace``: racing readers store equal maps.
            object.__setattr__(self, "_depths", depths)
        return depths


ENDPOINT_CACHE_LIMIT = 4096
"""Most endpoints an ``endpoints`` cache of :func:`trace_context` holds (then it starts over)."""


def trace_context(
    trace: Trace, endpoints: dict[tuple[str, str], Endpoint] | None = None
) -> TraceContext | None:
    """The :class:`TraceContext` of ``trace``'s primary root (``None`` for an empty trace).

    ``endpoints`` is the caller's cache of :class:`Endpoint` objects by ``(service,
    name)``, kept to at most :data:`ENDPOINT_CACHE_LIMIT` entries. Reusing one object
    per endpoint saves building it per trace, and lets every dict keyed by endpoints
    match it by identity instead of calling the dataclass's ``__eq__``.
    """
    root = trace.root
    if root is None:
        return None
    path, depth, critical_ids, service_ns = summarize_root(trace, root.span_id)
    if endpoints is None:
        endpoint = Endpoint(root.service, root.name)
    else:
        fields = (root.service, root.name)
        endpoint = endpoints.get(fields)  # type: ignore[assignment]
        if endpoint is None:
            if len(endpoints) >= ENDPOINT_CACHE_LIMIT:
                endpoints.clear()  # high-cardinality root names: bounded, not a leak
            endpoint = endpoints[fields] = Endpoint(*fields)
    return TraceContext(
        trace, root, endpoint, path, depth, critical_ids,
        root.duration_ns, root.is_error, service_ns,
    )


class Aggregate:
    """Everything the report is built from, folded one trace at a time.

    ``graph`` is the service graph, ``endpoints`` the endpoint profiles, ``calls`` the
    rules' call statistics (:func:`analyzer.rules.evaluate` judges them); ``traces``
    and ``spans`` count what was folded (``skipped`` counts traces without any span
    to root them, which a well-formed input never has).
    """

    __slots__ = ("config", "traces", "spans", "skipped", "graph", "endpoints", "calls",
                 "_endpoint_cache")

    def __init__(self, config: AnalysisConfig | None = None) -> None:
        self.config = config or AnalysisConfig()
        self.traces = 0
        self.spans = 0
        self.skipped = 0
        self.graph = GraphAggregate(timeout_keys=self.config.timeout_keys)
        self.endpoints = EndpointAggregate()
        self.calls = CallAggregate(self.config.timeout_keys)
        self._endpoint_cache: dict[tuple[str, str], Endpoint] = {}  # see trace_context

    def add_trace(self, trace: Trace) -> TraceContext | None:
        """Fold one assembled trace in; returns its context (for exemplars), if it has a root."""
        ctx = trace_context(trace, self._endpoint_cache)
        if ctx is None:
            self.skipped += 1
            return None
        self.add_context(ctx)
        return ctx

    def add_context(self, ctx: TraceContext) -> None:
        """Fold a trace whose context the caller already computed."""
        self.traces += 1
        self.spans += len(ctx.trace.spans)
        self.graph.add(ctx.trace)
        self.endpoints.add(ctx)
        self.calls.add(ctx)

    def add_traces(self, traces: Iterable[Trace]) -> None:
        for trace in traces:
            self.add_trace(trace)

    def merge(self, other: Aggregate) -> None:
        """Fold ``other`` in: the result is what folding both inputs' traces would give."""
        self.traces += other.traces
        self.spans += other.spans
        self.skipped += other.skipped
        self.graph.merge(other.graph)
        self.endpoints.merge(other.endpoints)
        self.calls.merge(other.calls)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot (for the collector's store); the config is not included."""
        return {
            "version": SNAPSHOT_VERSION,
            "traces": self.traces, "spans": self.spans, "skipped": self.skipped,
            "graph": self.graph.to_dict(),
            "endpoints": self.endpoints.to_dict(),
            "calls": self.calls.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], config: AnalysisConfig | None = None) -> Aggregate:
        """Rebuild an aggregate from :meth:`to_dict` output, under ``config``.

        Raises ``ValueError`` for a snapshot of another layout version.
        """
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(
                f"aggregate snapshot version {data.get('version')!r} is not {SNAPSHOT_VERSION}"
            )
        aggregate = cls(config)
        aggregate.traces = int(data["traces"])
        aggregate.spans = int(data["spans"])
        aggregate.skipped = int(data.get("skipped", 0))
        aggregate.graph = GraphAggregate.from_dict(
            data["graph"], timeout_keys=aggregate.config.timeout_keys
        )
        aggregate.endpoints = EndpointAggregate.from_dict(data["endpoints"])
        aggregate.calls = CallAggregate.from_dict(data["calls"])
        return aggregate
