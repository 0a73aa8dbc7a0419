"""The service graph (ARCHITECTURE.md §4): who calls whom, how often, how fast, how badly.

Edges are keyed ``(client, server, connection_type)`` exactly as Grafana Tempo's and
the OpenTelemetry Collector's service graphs key them, so the collector can export
them under the same Prometheus names:

* a CLIENT span and its SERVER child in another service: ``connection_type`` "";
* a PRODUCER span and the CONSUMER span it causes (its child, or a span of the same
  trace linking to it): "messaging_system";
* a CLIENT (or PRODUCER) span with no such partner: an edge to a *virtual peer* named
  by ``peer.service``, else ``server.address``, else ``db.system.name`` /
  ``db.system``, else ``messaging.system``, else ``"virtual_node"``. A peer with a
  ``db.system*`` attribute is a ``database`` (connection type "database"), one with
  ``messaging.system`` is ``messaging`` ("messaging_system"), any other is
  ``virtual`` ("virtual_node");
* a root SERVER span: an edge from the virtual node ``user`` ("virtual_node").

Two deliberate additions, both for tracers that record no span kinds (OpenTracing-era
Jaeger clients, e.g. DeathStarBench's): a span whose parent is in another service and
that no rule above pairs (neither side CLIENT/PRODUCER/CONSUMER) still shows the call
as an edge ``(parent service, span service, "")`` measured on the callee's side only;
and when *every* span of a trace is INTERNAL, the root counts as the SERVER span the
user called. Without them such traces would have no graph at all.

Spans that should have a partner but have none in the trace — a SERVER span whose
parent is missing, a CONSUMER whose producer lives in another trace — are counted as
*unpaired* under ``("", server, type)``. Edges beyond ``max_edges`` are not stored;
their spans are counted as *dropped* under their would-be client (``(client, "", "")``)
so that the count of those keys stays bounded too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from analyzer.config import DEFAULT_TIMEOUT_KEYS
from analyzer.model import Span, SpanKind, StatusCode, Trace
from analyzer.rules.timeouts import declared_timeout
from analyzer.stats import LatencySketch

if TYPE_CHECKING:  # networkx is only needed by scripts that ask for it, see to_networkx
    import networkx

USER = "user"
"""The virtual node that calls every root SERVER span."""

VIRTUAL_NODE = "virtual_node"
"""Name of an uninstrumented peer that no attribute names; also a connection type."""

REQUEST_RESPONSE = ""
MESSAGING = "messaging_system"
DATABASE = "database"

NODE_KINDS = ("service", "database", "messaging", "virtual")
"""Node kinds, strongest first: a name seen as an instrumented service stays one."""

PEER_NAME_KEYS = ("peer.service", "server.address", "db.system.name", "db.system",
                  "messaging.system")
"""Attributes naming a virtual peer, most specific first (span attributes)."""

DEFAULT_MAX_EDGES = 10_000

# Enum members bound once: looking them up on the class costs more than the comparison.
_INTERNAL, _SERVER, _CLIENT = SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT
_PRODUCER, _CONSUMER = SpanKind.PRODUCER, SpanKind.CONSUMER
_CALLEE_KINDS = frozenset({SpanKind.SERVER, SpanKind.INTERNAL})
_CALLER_KINDS = frozenset({SpanKind.CLIENT, SpanKind.PRODUCER})
_ERROR = StatusCode.ERROR

@dataclass(frozen=True, slots=True, order=True)
class EdgeKey:
    """An edge of the service graph, as Prometheus labels it."""

    client: str
    server: str
    connection_type: str = REQUEST_RESPONSE

    def to_list(self) -> list[str]:
        return [self.client, self.server, self.connection_type]


class EdgeStats:
    """Accumulated calls over one edge.

    ``client`` holds the durations the caller saw (its CLIENT / PRODUCER span),
    ``server`` the callee's (its SERVER / CONSUMER span); ``timeouts`` the declared
    timeouts found on the caller's spans.
    """

    __slots__ = ("requests", "failed", "client", "server", "timeouts")

    def __init__(self) -> None:
        self.requests = 0
        self.failed = 0
        self.client = LatencySketch()
        self.server = LatencySketch()
        self.timeouts = LatencySketch()

    def latency(self) -> LatencySketch:
        """The caller's view when there is one (it includes the network), else the callee's."""
        return self.client if self.client.count else self.server

    def merge(self, other: EdgeStats) -> None:
        self.requests += other.requests
        self.failed += other.failed
        self.client.merge(other.client)
        self.server.merge(other.server)
        self.timeouts.merge(other.timeouts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "failed": self.failed,
            "client": self.client.to_dict(), "server": self.server.to_dict(),
            "timeouts": self.timeouts.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EdgeStats:
        stats = cls()
        stats.requests = int(data["requests"])
        stats.failed = int(data["failed"])
        stats.client = LatencySketch.from_dict(data["client"])
        stats.server = LatencySketch.from_dict(data["server"])
        stats.timeouts = LatencySketch.from_dict(data["timeouts"])
        return stats


def declared_timeout_ns(span: Span, keys: Iterable[str] = DEFAULT_TIMEOUT_KEYS) -> int | None:
    """The timeout ``span`` declares through the first of ``keys`` it carries, in ns.

    Parsing is the rules' (:func:`analyzer.rules.timeouts.parse_timeout_ms`: header
    arrays, bare milliseconds, gRPC's ``"150m"``…), so the report's ``timeout_ms`` and
    the timeout findings always read a span the same way. A timeout of 0 declares
    nothing measurable and is left out.
    """
    _, ms = declared_timeout(span.attributes, keys)
    if ms is None or ms <= 0:
        return None
    return round(ms * 1_000_000)


def virtual_peer(span: Span) -> tuple[str, str, str]:
    """``(name, node kind, connection type)`` of the peer an unpaired CLIENT span called."""
    attributes = span.attributes
    name = VIRTUAL_NODE
    for key in PEER_NAME_KEYS:
        value = attributes.get(key)
        if value is not None and isinstance(value, str) and value:
            name = value
            break
    if attributes.get("db.system.name") or attributes.get("db.system"):
        return name, "database", DATABASE
    if attributes.get("messaging.system") or span.kind in (SpanKind.PRODUCER, SpanKind.CONSUMER):
        return name, "messaging", MESSAGING
    return name, "virtual", VIRTUAL_NODE


class GraphAggregate:
    """Mergeable service graph: nodes with kinds, edges with counts and latency sketches.

    >>> from analyzer.model import Span, SpanKind, StatusCode, Trace
    >>> root = Span("t" * 32, "a" * 16, None, "web", "GET /", SpanKind.SERVER, 0, 10)
    >>> graph = GraphAggregate()
    >>> graph.add(Trace("t" * 32, {root.span_id: root}, {}, (root.span_id,)))
    >>> [(k.client, k.server, k.connection_type, s.requests) for k, s in graph.edges.items()]
    [('user', 'web', 'virtual_node', 1)]
    """

    __slots__ = ("nodes", "edges", "unpaired", "dropped", "timeout_keys", "max_edges", "_index")

    def __init__(
        self,
        *,
        timeout_keys: Iterable[str] = DEFAULT_TIMEOUT_KEYS,
        max_edges: int = DEFAULT_MAX_EDGES,
    ) -> None:
        self.nodes: dict[str, str] = {}
        self.edges: dict[EdgeKey, EdgeStats] = {}
        self.unpaired: dict[EdgeKey, int] = {}
        self.dropped: dict[EdgeKey, int] = {}
        self.timeout_keys = tuple(timeout_keys)
        self.max_edges = max_edges
        # The stats of ``edges`` found while folding, by the key's fields as a plain tuple:
        # hashing a tuple is C code, an EdgeKey's hash and equality are Python functions,
        # and building one per edge and trace costs more than counting its calls.
        # ``edges`` only ever grows and keeps its objects, so an entry never goes stale.
        self._index: dict[tuple[str, str, str], EdgeStats] = {}

    # -- building -------------------------------------------------------------------

    def add(self, trace: Trace) -> None:
        """Fold one assembled trace into the graph.

        Calls are paired first into plain ``(client, server, type) -> [(client span,
        server span)]`` lists, then each edge of the trace is folded once: this runs
        for every span the collector receives, so the per-span work stays small.
        """
        spans = trace.spans
        values = spans.values()
        for service in {span.service for span in values}:
            self._node(service, "service")
        kindless = all(span.kind is _INTERNAL for span in values)
        calls: dict[tuple[str, str, str], list[tuple[Span | None, Span | None]]] = {}
        unpaired: list[tuple[str, str, str]] = []
        paired: set[str] = set()  # CLIENT / PRODUCER span ids that found their partner
        for span in values:
            parent_id = span.parent_id
            parent = spans.get(parent_id) if parent_id else None
            kind = span.kind
            if kind is _CONSUMER:
                producer = parent if parent is not None and parent.kind is _PRODUCER \
                    else self._linked_producer(span, spans)
                if producer is None:
                    unpaired.append(("", span.service, MESSAGING))
                else:
                    paired.add(producer.span_id)
                    calls.setdefault((producer.service, span.service, MESSAGING), []).append(
                        (producer, span))
            elif parent is None:
                if parent_id is None and (kind is _SERVER or kindless):
                    calls.setdefault((USER, span.service, VIRTUAL_NODE), []).append((None, span))
                elif kind is _SERVER:  # its caller's span is missing from the trace
                    unpaired.append(("", span.service, REQUEST_RESPONSE))
            elif parent.kind is _CLIENT and kind in _CALLEE_KINDS:
                if parent.service != span.service:
                    paired.add(parent.span_id)
                    calls.setdefault((parent.service, span.service, REQUEST_RESPONSE), []).append(
                        (parent, span))
                elif kind is _SERVER:
                    paired.add(parent.span_id)  # a call into its own service: no edge
            elif parent.service != span.service and parent.kind in _CALLEE_KINDS \
                    and kind in _CALLEE_KINDS:
                calls.setdefault((parent.service, span.service, REQUEST_RESPONSE), []).append(
                    (None, span))
            elif kind is _SERVER:
                unpaired.append(("", span.service, REQUEST_RESPONSE))
        for span in values:
            if span.kind in _CALLER_KINDS and span.span_id not in paired:
                name, node_kind, connection = virtual_peer(span)
                self._node(name, node_kind)
                calls.setdefault((span.service, name, connection), []).append((span, None))
        for key in unpaired:
            self._count(self.unpaired, EdgeKey(*key))
        index = self._index
        for fields, pairs in calls.items():
            stats = index.get(fields)
            if stats is None:
                key = EdgeKey(*fields)
                stats = self._edge(key)
                if stats is None:
                    self._count(self.dropped, EdgeKey(key.client, "", ""), len(pairs))
                    continue
                index[fields] = stats
            self._record(stats, pairs)

    def add_traces(self, traces: Iterable[Trace]) -> None:
        for trace in traces:
            self.add(trace)

    @staticmethod
    def _linked_producer(span: Span, spans: Mapping[str, Span]) -> Span | None:
        for link in span.links:
            target = spans.get(link.span_id)
            if target is not None and link.trace_id == span.trace_id \
                    and target.kind is SpanKind.PRODUCER:
                return target
        return None

    def _node(self, name: str, kind: str) -> None:
        current = self.nodes.get(name)
        if current == kind:
            return  # the usual case: every trace names its services again
        if current is None or NODE_KINDS.index(kind) < NODE_KINDS.index(current):
            self.nodes[name] = kind

    @staticmethod
    def _count(counter: dict[EdgeKey, int], key: EdgeKey, n: int = 1) -> None:
        counter[key] = counter.get(key, 0) + n

    def _edge(self, key: EdgeKey) -> EdgeStats | None:
        stats = self.edges.get(key)
        if stats is None:
            if len(self.edges) >= self.max_edges:
                return None
            stats = self.edges[key] = EdgeStats()
            self._node(key.client, "virtual" if key.client == USER else "service")
        return stats

    def _record(self, stats: EdgeStats, pairs: list[tuple[Span | None, Span | None]]) -> None:
        """Count ``(client span, server span)`` calls into an edge's ``stats`` (either side
        may be absent)."""
        stats.requests += len(pairs)
        client_sketch, server_sketch, keys = stats.client, stats.server, self.timeout_keys
        for client, server in pairs:
            if (client is not None and client.status is _ERROR) or (
                    server is not None and server.status is _ERROR):
                stats.failed += 1
            if client is not None:
                client_sketch.add(client.end_ns - client.start_ns)
                # Most spans declare no timeout: one C-level check before the parsing.
                if not client.attributes.keys().isdisjoint(keys):
                    timeout = declared_timeout_ns(client, keys)
                    if timeout is not None:
                        stats.timeouts.add(timeout)
            if server is not None:
                server_sketch.add(server.end_ns - server.start_ns)

    def merge(self, other: GraphAggregate) -> None:
        """Fold ``other`` in; edges past ``max_edges`` count as dropped, as in :meth:`add`."""
        for name, kind in other.nodes.items():
            self._node(name, kind)
        # sorted: which edges overflow the limit must not depend on dict order
        for key in sorted(other.edges):
            stats = self._edge(key)
            if stats is None:
                self._count(self.dropped, EdgeKey(key.client, "", ""), other.edges[key].requests)
            else:
                stats.merge(other.edges[key])
        for key, n in other.unpaired.items():
            self._count(self.unpaired, key, n)
        for key, n in other.dropped.items():
            self._count(self.dropped, key, n)

    # -- reading --------------------------------------------------------------------

    def layers(self) -> dict[str, int]:
        """Call depth of every node: ``user`` and nodes nobody calls are 0, their callees 1…

        A breadth-first walk along edges, so in a cycle each node keeps the depth at
        which it was first reached; nodes only reachable from a cycle get a depth too.
        """
        callees: dict[str, set[str]] = {name: set() for name in self.nodes}
        called: set[str] = set()
        for key in self.edges:
            callees.setdefault(key.client, set()).add(key.server)
            callees.setdefault(key.server, set())
            if key.client != key.server:
                called.add(key.server)
        depth: dict[str, int] = {}
        queue = deque(sorted(name for name in callees if name not in called))
        for name in queue:
            depth[name] = 0
        while True:
            while queue:
                name = queue.popleft()
                for callee in sorted(callees[name]):
                    if callee not in depth:
                        depth[callee] = depth[name] + 1
                        queue.append(callee)
            rest = sorted(name for name in callees if name not in depth)
            if not rest:
                return depth
            depth[rest[0]] = 0  # a cycle nobody enters from outside: start it at its first name
            queue.append(rest[0])

    def sorted_nodes(self) -> list[tuple[str, str]]:
        """``(name, kind)`` by call depth (callers before callees), then name."""
        layers = self.layers()
        return sorted(self.nodes.items(), key=lambda item: (layers.get(item[0], 0), item[0]))

    def sorted_edges(self) -> list[tuple[EdgeKey, EdgeStats]]:
        """Edges by their client's call depth, then client, server and connection type."""
        layers = self.layers()
        return sorted(self.edges.items(), key=lambda item: (layers.get(item[0].client, 0), item[0]))

    def to_networkx(self) -> networkx.MultiDiGraph:
        """The graph as a :class:`networkx.MultiDiGraph` for scripts' own graph algorithms.

        Nodes carry ``kind``; edges are keyed by connection type and carry
        ``requests`` and ``failed``. networkx is imported here, not at module level,
        because it loads ``importlib.metadata`` (and with it ``socket``), which the
        pure core must not pull in just by being imported.
        """
        import networkx

        graph = networkx.MultiDiGraph()
        for name, kind in self.nodes.items():
            graph.add_node(name, kind=kind)
        for key, stats in self.edges.items():
            graph.add_edge(key.client, key.server, key=key.connection_type,
                           requests=stats.requests, failed=stats.failed)
        return graph

    # -- snapshots ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": dict(sorted(self.nodes.items())),
            "edges": [[*key.to_list(), stats.to_dict()]
                      for key, stats in sorted(self.edges.items())],
            "unpaired": [[*key.to_list(), n] for key, n in sorted(self.unpaired.items())],
            "dropped": [[*key.to_list(), n] for key, n in sorted(self.dropped.items())],
            "max_edges": self.max_edges,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *,
                  timeout_keys: Iterable[str] = DEFAULT_TIMEOUT_KEYS) -> GraphAggregate:
        graph = cls(timeout_keys=timeout_keys,
                    max_edges=int(data.get("max_edges", DEFAULT_MAX_EDGES)))
        graph.nodes = {str(name): str(kind) for name, kind in data["nodes"].items()}
        graph.edges = {EdgeKey(c, s, t): EdgeStats.from_dict(st) for c, s, t, st in data["edges"]}
        graph.unpaired = {EdgeKey(c, s, t): int(n) for c, s, t, n in data["unpaired"]}
        graph.dropped = {EdgeKey(c, s, t): int(n) for c, s, t, n in data["dropped"]}
        return graph
