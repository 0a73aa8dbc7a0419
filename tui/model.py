"""Thin typed views over the documents the TUI shows (``critpath.report/v1`` and
``critpath.trace/v1``, docs/design.md).

Everything here is pure: functions take plain dicts and return frozen values that
the screens render as they are. They run in worker threads, so a big report is
shaped off the event loop and the screens never compute anything themselves.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from analyzer.config import DEFAULT_TIMEOUT_KEYS

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
"""Worst first: findings sort by this rank, unknown severities last."""

USER = "user"
"""The virtual node root SERVER spans are called from (ARCHITECTURE.md §4)."""

WINDOW_SECONDS = {"1m": 60.0, "5m": 300.0, "15m": 900.0}
"""Length of the collector's named windows; ``all`` has no fixed length."""

BASELINES = {"1m": "15m", "5m": "15m", "15m": "all"}
"""The longer window a live window is compared with, to tell what got slower or failing."""

SLOWER = 0.2
"""A p99 more than 20% above the baseline's is called out as slower."""

MORE_ERRORS = 0.01
"""An error ratio more than one percentage point above the baseline's is called out."""

SORT_KEYS = ("p99", "change", "rate", "errors", "depth", "p50", "name")
"""The endpoint table's sort orders, in the order the sort key cycles through them."""


@dataclass(frozen=True, slots=True)
class ServiceShare:
    """One service's part of an endpoint's critical path."""

    name: str
    share: float
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True, slots=True)
class EndpointRow:
    """One user journey, as the overview's table and the endpoint screen show it."""

    key: str
    service: str
    name: str
    traces: int
    rate: float | None
    errors: int
    p50_ms: float
    p99_ms: float
    depth_p50: float
    depth_max: int
    profile: tuple[ServiceShare, ...]
    p99_change: float | None = None
    error_change: float | None = None

    @property
    def error_ratio(self) -> float:
        """Errors per trace, 0 when there were no traces."""
        return self.errors / self.traces if self.traces else 0.0

    @property
    def slower(self) -> bool:
        """p99 grew by more than :data:`SLOWER` against the baseline window."""
        return self.p99_change is not None and self.p99_change > SLOWER

    @property
    def failing_more(self) -> bool:
        """The error ratio rose by more than :data:`MORE_ERRORS` against the baseline window."""
        return self.error_change is not None and self.error_change > MORE_ERRORS

    @property
    def top_service(self) -> ServiceShare | None:
        """The service holding the largest share of the critical path."""
        return self.profile[0] if self.profile else None


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One finding with what the finding screen needs beside the raw document."""

    key: str
    rule: str
    severity: str
    subject: str
    message: str
    evidence: Mapping[str, Any]
    client: str | None
    server: str | None
    endpoint: str | None
    service: str | None
    affected: tuple[str, ...]
    suggestion: str
    order: int = 0

    @property
    def rank(self) -> int:
        """Severity rank, 0 for the worst."""
        return SEVERITY_RANK.get(self.severity, len(SEVERITY_RANK))


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """A service-graph edge and the marks the graph draws on it."""

    client: str
    server: str
    connection_type: str
    requests: int
    failed: int
    p50_ms: float
    p99_ms: float
    timeout_ms: float | None
    critical: bool

    @property
    def is_async(self) -> bool:
        """Queue edges (``messaging_system``) are asynchronous. Request/response (``""``) and
        calls to virtual peers (``database``, ``virtual_node``, as Tempo labels them) are not."""
        return self.connection_type == "messaging_system"


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A service or virtual peer, with its layer (call depth from the users)."""

    name: str
    kind: str
    layer: int
    edges: tuple[GraphEdge, ...]


@dataclass(frozen=True, slots=True)
class GraphView:
    """The service graph, layered by call depth: ``layers[0]`` holds the callers of all."""

    layers: tuple[tuple[GraphNode, ...], ...]

    @property
    def node_count(self) -> int:
        """How many nodes the graph has."""
        return sum(len(layer) for layer in self.layers)


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything the overview shows, built from one report."""

    generated_at: str
    window: str
    traces: int
    spans: int
    endpoints: tuple[EndpointRow, ...]
    findings: tuple[FindingRow, ...]
    graph: GraphView

    def endpoint(self, key: str) -> EndpointRow | None:
        """The endpoint row with ``key`` (``"service name"``), if the report has it."""
        return next((row for row in self.endpoints if row.key == key), None)

    def finding(self, key: str) -> FindingRow | None:
        """The finding with ``key``, if the report still has it."""
        return next((row for row in self.findings if row.key == key), None)


@dataclass(frozen=True, slots=True)
class Exemplar:
    """A trace kept as an example of an endpoint."""

    trace_id: str
    duration_ms: float
    error: bool
    start_ns: int


@dataclass(frozen=True, slots=True)
class EndpointDetail:
    """What the endpoint screen loads beside the report: depth counts and exemplars."""

    key: str
    depths: tuple[tuple[int, int], ...]
    exemplars: tuple[Exemplar, ...]


@dataclass(frozen=True, slots=True)
class SpanRow:
    """One line of the waterfall: a span placed in its trace's timeline.

    Offsets are in nanoseconds from the trace's start; ``segments`` are this span's
    critical-path pieces, in the same offsets.
    """

    span_id: str
    parent_id: str | None
    indent: int
    service: str
    name: str
    kind: str
    status: str
    start: int
    end: int
    segments: tuple[tuple[int, int], ...]
    service_depth: int | None
    timeout_ms: float | None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        """The span's length in milliseconds."""
        return (self.end - self.start) / 1e6

    @property
    def critical_ms(self) -> float:
        """How much of the critical path this span owns, in milliseconds."""
        return sum(end - start for start, end in self.segments) / 1e6

    @property
    def on_critical_path(self) -> bool:
        """True when the span owns at least one critical-path segment."""
        return bool(self.segments)


@dataclass(frozen=True, slots=True)
class TraceView:
    """A trace as a waterfall: span rows in tree order (parents before children)."""

    trace_id: str
    endpoint: str
    duration_ns: int
    depth: int
    rows: tuple[SpanRow, ...]
    extent_ns: int = 0
    """Where the timeline ends: the root's end, or later when asynchronous work outlives it."""

    @property
    def critical_count(self) -> int:
        """How many spans own part of the critical path."""
        return sum(1 for row in self.rows if row.segments)


def window_seconds(window: str) -> float | None:
    """Length of a collector window in seconds (``None`` for ``all``)."""
    return WINDOW_SECONDS.get(window)


def build_overview(
    report: Mapping[str, Any],
    window: str,
    window_s: float | None,
    baseline: Mapping[str, Any] | None = None,
) -> Overview:
    """Shape a ``critpath.report/v1`` document for the overview.

    ``window_s`` is how many seconds the report covers (for request rates); ``None``
    when unknown, and the rate is then not shown. ``baseline`` is the report of a
    longer window: each endpoint's p99 and error ratio are compared with it.
    """
    before = {(doc["service"], doc["name"]): doc for doc in (baseline or {}).get("endpoints", ())}
    endpoints = tuple(
        sorted(
            (
                _endpoint_row(doc, window_s, before.get((doc["service"], doc["name"])))
                for doc in report.get("endpoints", ())
            ),
            key=lambda row: (-row.p99_ms, row.key),
        )
    )
    findings = _finding_rows(report.get("findings", ()), endpoints)
    graph = build_graph(report.get("services", ()), report.get("edges", ()), endpoints, findings)
    return Overview(
        generated_at=str(report.get("generated_at", "")),
        window=window,
        traces=int(report.get("traces", 0)),
        spans=int(report.get("spans", 0)),
        endpoints=endpoints,
        findings=findings,
        graph=graph,
    )


def sort_endpoints(
    rows: Iterable[EndpointRow], key: str, reverse: bool = False
) -> list[EndpointRow]:
    """Endpoints in one of :data:`SORT_KEYS` orders; numbers largest first unless ``reverse``."""
    numeric = {
        "p99": lambda r: r.p99_ms,
        "p50": lambda r: r.p50_ms,
        "rate": lambda r: r.rate if r.rate is not None else float(r.traces),
        "errors": lambda r: r.error_ratio,
        "depth": lambda r: (r.depth_max, r.depth_p50),
        "change": lambda r: r.p99_change if r.p99_change is not None else float("-inf"),
    }
    if key == "name":
        return sorted(rows, key=lambda r: r.key, reverse=reverse)
    pick = numeric[key]
    # Ties are broken by name so a refresh never reshuffles equal rows.
    ordered = sorted(rows, key=lambda r: r.key)
    return sorted(ordered, key=pick, reverse=not reverse)


def matches(text: str, *fields: str | None) -> bool:
    """Case-insensitive substring filter over ``fields`` (an empty filter matches all)."""
    needle = text.strip().lower()
    return not needle or any(needle in (value or "").lower() for value in fields)


def build_graph(
    services: Iterable[Mapping[str, Any]],
    edges: Iterable[Mapping[str, Any]],
    endpoints: Sequence[EndpointRow],
    findings: Sequence[FindingRow] = (),
) -> GraphView:
    """Layer the service graph by call depth (shortest call distance from the users).

    An edge is marked critical when, for some endpoint, both its client and its
    server own part of that endpoint's critical path, or when a critical finding
    says the call is on it (a virtual peer never owns a segment: its client span does).
    """
    kinds = {str(doc["name"]): str(doc.get("kind", "service")) for doc in services}
    # Name → the endpoints whose critical path it is on (the users are on every one).
    on_path: dict[str, set[int]] = {USER: set(range(len(endpoints)))}
    for position, row in enumerate(endpoints):
        on_path.setdefault(row.service, set()).add(position)
        for share in row.profile:
            if share.share > 0:
                on_path.setdefault(share.name, set()).add(position)
    nowhere: set[int] = set()
    flagged = {
        (finding.client, finding.server)
        for finding in findings
        if finding.severity == "critical" and finding.client and finding.server
    }
    outgoing: dict[str, list[GraphEdge]] = {}
    for doc in edges:
        client, server = str(doc["client"]), str(doc["server"])
        kinds.setdefault(client, "virtual" if client == USER else "service")
        kinds.setdefault(server, "service")
        critical = (client, server) in flagged or not on_path.get(client, nowhere).isdisjoint(
            on_path.get(server, nowhere)
        )
        outgoing.setdefault(client, []).append(
            GraphEdge(
                client=client,
                server=server,
                connection_type=str(doc.get("connection_type") or ""),
                requests=int(doc.get("requests", 0)),
                failed=int(doc.get("failed", 0)),
                p50_ms=float(doc.get("p50_ms") or 0.0),
                p99_ms=float(doc.get("p99_ms") or 0.0),
                timeout_ms=_optional_float(doc.get("timeout_ms")),
                critical=critical,
            )
        )
    layer = _layers(kinds, outgoing)
    by_layer: dict[int, list[GraphNode]] = {}
    for name, kind in kinds.items():
        node_edges = tuple(
            sorted(outgoing.get(name, ()), key=lambda e: (layer[e.server], e.server))
        )
        by_layer.setdefault(layer[name], []).append(GraphNode(name, kind, layer[name], node_edges))
    return GraphView(
        tuple(tuple(sorted(by_layer[n], key=lambda node: node.name)) for n in sorted(by_layer))
    )


def _layers(kinds: Mapping[str, str], outgoing: Mapping[str, list[GraphEdge]]) -> dict[str, int]:
    """Longest call depth from the nodes nobody calls, so every edge points to a deeper layer.

    A cycle is broken at its first name (alphabetically): the edges that close it are the
    only ones drawn pointing back.
    """
    indegree = {name: 0 for name in kinds}
    for edges in outgoing.values():
        for edge in edges:
            if edge.server != edge.client:
                indegree[edge.server] += 1
    layer = {name: 0 for name in kinds}
    done: set[str] = set()
    ready = deque(sorted(name for name, count in indegree.items() if count == 0))
    while len(done) < len(kinds):
        if not ready:
            ready.append(min(sorted(kinds.keys() - done), key=lambda name: indegree[name]))
        name = ready.popleft()
        if name in done:
            continue
        done.add(name)
        for edge in outgoing.get(name, ()):
            if edge.server in done or edge.server == name:
                continue
            layer[edge.server] = max(layer[edge.server], layer[name] + 1)
            indegree[edge.server] -= 1
            if indegree[edge.server] == 0:
                ready.append(edge.server)
    return layer


def _endpoint_row(
    doc: Mapping[str, Any], window_s: float | None, before: Mapping[str, Any] | None
) -> EndpointRow:
    path = doc.get("critical_path") or {}
    profile = tuple(
        sorted(
            (
                ServiceShare(
                    name=str(s["name"]),
                    share=float(s.get("share", 0.0)),
                    p50_ms=float(s.get("p50_ms") or 0.0),
                    p99_ms=float(s.get("p99_ms") or 0.0),
                )
                for s in path.get("services", ())
            ),
            key=lambda s: (-s.share, s.name),
        )
    )
    traces = int(doc.get("traces", 0))
    errors = int(doc.get("errors", 0))
    p99 = float(doc.get("p99_ms") or 0.0)
    p99_change = error_change = None
    if before is not None and int(before.get("traces", 0)):
        old_p99 = float(before.get("p99_ms") or 0.0)
        p99_change = p99 / old_p99 - 1 if old_p99 > 0 else None
        old_ratio = int(before.get("errors", 0)) / int(before["traces"])
        error_change = (errors / traces if traces else 0.0) - old_ratio
    return EndpointRow(
        key=f"{doc['service']} {doc['name']}",
        service=str(doc["service"]),
        name=str(doc["name"]),
        traces=traces,
        rate=traces / window_s if window_s else None,
        errors=errors,
        p50_ms=float(doc.get("p50_ms") or 0.0),
        p99_ms=p99,
        depth_p50=float(path.get("depth_p50") or 0.0),
        depth_max=int(path.get("depth_max") or 0),
        profile=profile,
        p99_change=p99_change,
        error_change=error_change,
    )


def _finding_rows(
    docs: Iterable[Mapping[str, Any]], endpoints: Sequence[EndpointRow]
) -> tuple[FindingRow, ...]:
    rows = []
    seen: dict[str, int] = {}
    paths = _PathIndex(endpoints)
    for index, doc in enumerate(docs):
        client, server = doc.get("client"), doc.get("server")
        endpoint, service = doc.get("endpoint"), doc.get("service")
        # Identity, not position: the same finding keeps its key across refreshes.
        key = "|".join(
            (str(doc.get("rule", "")), *(str(v or "") for v in (client, server, endpoint, service)))
        )
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key = f"{key}#{seen[key]}"
        rows.append(
            FindingRow(
                key=key,
                order=index,
                rule=str(doc.get("rule", "")),
                severity=str(doc.get("severity", "info")),
                subject=_subject(client, server, endpoint, service),
                message=str(doc.get("message", "")),
                evidence=dict(doc.get("evidence") or {}),
                client=client,
                server=server,
                endpoint=endpoint,
                service=service,
                affected=paths.affected(endpoint, client, server, service),
                suggestion=suggest(doc),
            )
        )
    # Worst first; the report's order breaks ties.
    return tuple(sorted(rows, key=lambda r: (r.rank, r.order)))


def _subject(
    client: str | None, server: str | None, endpoint: str | None, service: str | None
) -> str:
    if client and server:
        return f"{client} → {server}"
    return endpoint or service or client or server or "—"


class _PathIndex:
    """Which endpoints' critical paths cross each service, indexed once per report.

    A finding's affected endpoints are then a set intersection per finding, not a scan of
    every endpoint's profile: findings × endpoints × services was most of a large
    report's shaping time.
    """

    def __init__(self, endpoints: Sequence[EndpointRow]) -> None:
        self._endpoints = endpoints
        self._owners: set[str] = set()
        """Names owning part of some endpoint's critical path."""
        self._crossing: dict[str, set[int]] = {}
        """Name → positions (in ``endpoints``) of the endpoints whose path it is on."""
        for position, row in enumerate(endpoints):
            self._crossing.setdefault(row.service, set()).add(position)
            for share in row.profile:
                if share.share > 0:
                    self._owners.add(share.name)
                    self._crossing.setdefault(share.name, set()).add(position)

    def affected(
        self,
        endpoint: str | None,
        client: str | None,
        server: str | None,
        service: str | None,
    ) -> tuple[str, ...]:
        """The endpoint a finding names, else the endpoints whose critical path crosses its
        subject, slowest first.

        A call counts when both ends own part of the endpoint's critical path (the
        endpoint's own service counts as on it); a peer that never owns any (a database,
        an uninstrumented service) counts through its client.
        """
        if endpoint:
            return (endpoint,)
        wanted = [
            name
            for name in (client, server, service)
            if name and (name in self._owners or name == client)
        ]
        if not wanted:
            return ()
        hits = set.intersection(*(self._crossing.get(name, set()) for name in wanted))
        rows = sorted((self._endpoints[i] for i in hits), key=lambda r: (-r.p99_ms, r.key))
        return tuple(row.key for row in rows)


def suggest(finding: Mapping[str, Any]) -> str:
    """The change a finding asks for, in one or two sentences."""
    rule = finding.get("rule")
    client = finding.get("client") or "the caller"
    server = finding.get("server") or "the callee"
    if rule == "missing-timeout":
        return (
            f"Give {client}'s calls to {server} a timeout shorter than {client}'s own budget, "
            f"propagate it (e.g. in the x-bank-timeout-ms header), and handle the timeout "
            f"error so a slow {server} cannot hold the request forever."
        )
    if rule == "timeout-inversion":
        return (
            f"Lower the timeout {client} uses for {server} below the timeout of the call "
            f"that reached {client}, so the inner call gives up first and no work is wasted."
        )
    if rule == "deferrable-work":
        return (
            f"Take the call from {client} to {server} off the request path: publish it to a "
            f"queue and let a consumer do it, so users no longer wait for it."
        )
    if rule == "critical-path-depth":
        subject = finding.get("endpoint") or finding.get("service") or "this endpoint"
        return (
            f"Shorten the chain of calls under {subject}: run independent calls in parallel, "
            f"merge hops that only forward, or cache what is read on every request."
        )
    return str(finding.get("message", ""))


def build_endpoint_detail(key: str, doc: Mapping[str, Any]) -> EndpointDetail:
    """Shape an endpoint detail document (depth counts and exemplar traces).

    ``depths`` may be a mapping ``{depth: count}`` or a list of ``[depth, count]``
    pairs; exemplars are ``{"trace_id", "duration_ms", "error", "start_ns"}``.
    """
    raw = doc.get("depths") or {}
    pairs = raw.items() if isinstance(raw, Mapping) else raw
    depths = tuple(sorted((int(depth), int(count)) for depth, count in pairs))
    exemplars = tuple(
        Exemplar(
            trace_id=str(e["trace_id"]),
            duration_ms=float(e.get("duration_ms") or 0.0),
            error=bool(e.get("error")),
            start_ns=int(e.get("start_ns") or 0),
        )
        for e in doc.get("exemplars", ())
    )
    return EndpointDetail(key=key, depths=depths, exemplars=exemplars)


def build_trace_view(
    doc: Mapping[str, Any], timeout_keys: Sequence[str] = DEFAULT_TIMEOUT_KEYS
) -> TraceView:
    """Lay a ``critpath.trace/v1`` document out as a waterfall in tree order.

    Spans whose parent is missing from the document are shown as extra roots.
    """
    spans = doc.get("spans", ())
    ids = {s["span_id"] for s in spans}
    start0 = int(doc.get("start_ns") or min((int(s["start_ns"]) for s in spans), default=0))
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for span in spans:
        parent = span.get("parent_id")
        children.setdefault(parent if parent in ids else None, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: (int(s["start_ns"]), s["span_id"]))
    segments: dict[str, list[tuple[int, int]]] = {}
    for seg in doc.get("critical_path", ()):
        segments.setdefault(seg["span_id"], []).append(
            (int(seg["start_ns"]) - start0, int(seg["end_ns"]) - start0)
        )
    rows: list[SpanRow] = []
    # Iterative depth-first walk: 10,000-span traces are deeper than Python's recursion allows.
    stack = [(span, 0) for span in reversed(children.get(None, []))]
    while stack:
        span, indent = stack.pop()
        attributes = dict(span.get("attributes") or {})
        rows.append(
            SpanRow(
                span_id=str(span["span_id"]),
                parent_id=span.get("parent_id"),
                indent=indent,
                service=str(span.get("service", "")),
                name=str(span.get("name", "")),
                kind=str(span.get("kind", "internal")),
                status=str(span.get("status", "unset")),
                start=int(span["start_ns"]) - start0,
                end=int(span["end_ns"]) - start0,
                segments=tuple(segments.get(span["span_id"], ())),
                service_depth=span.get("depth"),
                timeout_ms=timeout_used(attributes, timeout_keys),
                attributes=attributes,
            )
        )
        stack.extend((child, indent + 1) for child in reversed(children.get(span["span_id"], [])))
    endpoint = doc.get("endpoint") or {}
    return TraceView(
        trace_id=str(doc.get("trace_id", "")),
        endpoint=f"{endpoint.get('service', '?')} {endpoint.get('name', '?')}",
        duration_ns=int(round(float(doc.get("duration_ms") or 0.0) * 1e6))
        or max((row.end for row in rows), default=0),
        depth=int(doc.get("depth") or 0),
        rows=tuple(rows),
        extent_ns=max((row.end for row in rows), default=0),
    )


def timeout_used(
    attributes: Mapping[str, Any], keys: Sequence[str] = DEFAULT_TIMEOUT_KEYS
) -> float | None:
    """The timeout a client span declared, in milliseconds, read from the first key present.

    Header values arrive as one-element arrays (``["2000"]``); gRPC timeouts carry a
    unit suffix (``"250m"`` is 250 ms, ``"2S"`` two seconds).
    """
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        if value is None:
            continue
        parsed = _parse_timeout(str(value), grpc="grpc" in key)
        if parsed is not None:
            return parsed
    return None


GRPC_UNITS_MS = {"H": 3_600_000.0, "M": 60_000.0, "S": 1000.0, "m": 1.0, "u": 1e-3, "n": 1e-6}


def _parse_timeout(text: str, grpc: bool) -> float | None:
    text = text.strip()
    if grpc and text[-1:] in GRPC_UNITS_MS:
        unit = GRPC_UNITS_MS[text[-1]]
        text = text[:-1]
    else:
        unit = 1.0
    try:
        return float(text) * unit
    except ValueError:
        return None


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
