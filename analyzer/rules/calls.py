"""Per-trace observation of calls, folded into mergeable per-call statistics.

A *call* is a CLIENT span: one service asking another (or a database, a queue, an
uninstrumented peer) for something. :func:`observe_calls` looks at every call of one
trace and records what the rules need to know about it — did it fail, did its caller
still succeed, is it a read or a write, did the caller start anything after it, was it
on the critical path, which timeout did it declare, which timeout did its own caller
give it — as a :class:`CallObservation`.

:class:`CallAggregate` folds observations into :class:`CallStats` per
:class:`CallKey` ``(endpoint, client service, server, operation)``: counters, latency
sketches and extremes only, never lists of traces, so the live collector can fold traces
one at a time, merge windows and snapshot them with :meth:`CallAggregate.to_dict`.
It does so in one pass per trace (:func:`_fold_calls`) that derives the same facts
without building an observation per call; ``tests/rules/test_fold.py`` holds it to
counting :func:`observe_calls`' observations, which stay the readable definition.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from typing import Any, Protocol

from analyzer.config import DEFAULT_TIMEOUT_KEYS
from analyzer.critical_path import what_if_saved_ns
from analyzer.model import Endpoint, Segment, Span, SpanKind, StatusCode, Trace
from analyzer.rules.timeouts import declared_timeout, is_observed_timeout
from analyzer.stats import LatencySketch, nearest_rank

__all__ = [
    "TraceView", "CallKey", "CallObservation", "CallStats", "EndpointDepths", "CallAggregate",
    "RetryGroup", "observe_calls", "retry_groups", "call_kind", "call_failed", "server_of",
    "requested_operation", "what_if_saved_ns",
]


class TraceView(Protocol):
    """What the rules read of one analysed trace (``analyzer.aggregate.TraceContext``)."""

    @property
    def trace(self) -> Trace: ...
    @property
    def root(self) -> Span: ...
    @property
    def endpoint(self) -> Endpoint: ...
    @property
    def segments(self) -> Sequence[Segment]: ...
    @property
    def depth(self) -> int: ...
    @property
    def critical_ids(self) -> AbstractSet[str]: ...
    @property
    def error(self) -> bool: ...


@dataclass(frozen=True, slots=True, order=True)
class CallKey:
    """Which calls are counted together: one operation of one server, per endpoint and client."""

    endpoint_service: str
    endpoint_name: str
    client: str
    server: str
    operation: str

    @property
    def endpoint(self) -> str:
        """The endpoint as the report and config name it: ``"service name"``."""
        return str(Endpoint(self.endpoint_service, self.endpoint_name))

    def to_list(self) -> list[str]:
        return [self.endpoint_service, self.endpoint_name, self.client, self.server, self.operation]


# Not frozen: one is built per call the collector sees, and a frozen dataclass's
# ``__init__`` (one ``object.__setattr__`` per field, eighteen here) costs about twice a
# plain one. Nothing keeps an observation beyond folding its trace.
@dataclass(slots=True)
class CallObservation:
    """One call in one trace, as the rules see it (treat it as read-only).

    ``kind`` is ``"read"``, ``"write"`` or ``"unknown"``; ``request`` is true for HTTP and
    RPC calls (and calls answered by an instrumented server), the ones a caller can bound
    with a declared timeout, unlike a local database driver's calls. ``caller_failed`` is
    ``None`` when the call has no caller in its own service (an orphan client span). ``followed``
    is true when the caller's service started any span after the call ended (something
    that may use its result). ``target`` is the server operation the call asks for, as
    retries are matched (see :func:`requested_operation`). ``inbound_ms`` is the timeout of the call that invoked the
    caller (its own budget). ``saved_ns`` is the what-if saving (see
    :func:`what_if_saved_ns`), computed only for writes that are on the critical path and
    followed by nothing; 0 for other writes, ``None`` for reads and unknown calls.
    """

    key: CallKey
    trace_id: str
    span_id: str
    parent_id: str | None
    client_name: str
    target: tuple[str, str | None]
    start_ns: int
    end_ns: int
    failed: bool
    caller_failed: bool | None
    kind: str
    request: bool
    on_critical: bool
    followed: bool
    declared: bool
    declared_ms: float | None
    inbound_ms: float | None
    timed_out: bool
    saved_ns: int | None

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)


# -- classifying one call -----------------------------------------------------------------

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_READ_SQL = frozenset({"SELECT", "SHOW", "DESCRIBE", "EXPLAIN", "WITH"})
_WRITE_SQL = frozenset({"INSERT", "UPDATE", "DELETE", "UPSERT", "MERGE", "REPLACE", "CREATE",
                        "DROP", "ALTER", "TRUNCATE", "SET", "PUT", "DEL", "INCR", "HSET"})
# RPC method names that read as queries: a tolerated GetBalance is a soft dependency, not
# work to queue, even though an RPC is otherwise treated as a send (issue 3).
_READ_RPC_PREFIXES = ("get", "list", "read", "fetch", "query", "search", "find", "lookup",
                      "describe", "check", "watch")


def _first(value: object) -> str:
    if isinstance(value, tuple):
        value = value[0] if value else ""
    return str(value).strip()


_METHOD_KEYS = ("http.request.method", "http.method")
_MESSAGING_OPERATION_KEYS = ("messaging.operation.type", "messaging.operation")
_MESSAGING_SYSTEM_KEYS = ("messaging.system",)
_RPC_SYSTEM_KEYS = ("rpc.system",)
_RPC_METHOD_KEYS = ("rpc.method",)
_STATEMENT_KEYS = ("db.operation.name", "db.operation", "db.query.text", "db.statement")


def _lookup(sources: tuple[Mapping[str, object], ...], keys: tuple[str, ...]) -> object | None:
    """The first of ``keys`` present; for each key the client span before the server's."""
    for key in keys:
        for attrs in sources:
            value = attrs.get(key)
            if value is not None:
                return value
    return None


# Every key call_kind reads to pick its rule, in the order of its rules: the first one
# present (in the client span, else the server span) decides which rule applies.
_KIND_KEYS = (*_METHOD_KEYS, *_MESSAGING_OPERATION_KEYS, *_MESSAGING_SYSTEM_KEYS,
              *_RPC_SYSTEM_KEYS, *_STATEMENT_KEYS)
_KIND_RANK = {key: rank for rank, key in enumerate(_KIND_KEYS)}
# The usual methods as sent, classified once (any other value is classified in full).
_METHOD_KIND = {method: "read" if method in _READ_METHODS else "write"
                for method in ("GET", "HEAD", "OPTIONS", "TRACE", "POST", "PUT", "PATCH",
                               "DELETE", "CONNECT")}


def call_kind(span: Span, server: Span | None = None) -> str:
    """``"read"``, ``"write"`` or ``"unknown"``: what a call does to its server.

    HTTP by method (GET, HEAD, OPTIONS and TRACE read); messaging sends write; an RPC
    writes unless its method name reads as a query (``Get…``, ``List…``…); database
    calls by their operation or statement's first word. The server span's attributes
    are consulted when the client span lacks them.
    """
    attrs = span.attributes
    # The first of _KIND_KEYS present (client span first) decides the rule: this runs for
    # every call the collector sees, so the usual HTTP call is one lookup, and any other
    # span's few attributes are ranked rather than all ten keys looked up in both spans.
    key = "http.request.method"
    value = attrs.get(key)
    if value is None:
        rank_of = _KIND_RANK.get
        best = len(_KIND_KEYS)
        for name in attrs:
            rank = rank_of(name)
            if rank is not None and rank < best and attrs[name] is not None:
                best = rank
        other = server.attributes if server is not None else None
        if other:
            for name in other:
                rank = rank_of(name)
                if rank is not None and rank < best and other[name] is not None:
                    best = rank
        if best == len(_KIND_KEYS):
            return "unknown"
        key = _KIND_KEYS[best]
        value = attrs.get(key)
        if value is None:
            value = other.get(key)  # type: ignore[union-attr]  # found there, so not None
    else:
        other = None  # not consulted: only the messaging and RPC rules read further keys
    if key in _METHOD_KEYS:
        kind = _METHOD_KIND.get(value) if value.__class__ is str else None  # type: ignore[call-overload]
        if kind is None:
            kind = "read" if _first(value).upper() in _READ_METHODS else "write"
        return kind
    sources = (attrs, other) if other else (attrs,)
    if key in _MESSAGING_OPERATION_KEYS or key in _MESSAGING_SYSTEM_KEYS:
        operation = value if key in _MESSAGING_OPERATION_KEYS else None
        receives = _first(operation or "").lower() in {"receive", "process", "settle"}
        return "read" if receives else "write"
    if key in _RPC_SYSTEM_KEYS:
        rpc_method = _first(_lookup(sources, _RPC_METHOD_KEYS) or "").lower()
        return "read" if rpc_method.startswith(_READ_RPC_PREFIXES) else "write"
    return _statement_kind(value if value.__class__ is str else _first(value))


@lru_cache(maxsize=1024)
def _statement_kind(statement: str) -> str:
    """What a database operation or statement does, by its first word (statements repeat,
    hence the cache)."""
    words = statement.split(None, 1)
    verb = words[0].upper() if words else ""
    if verb in _READ_SQL or verb.startswith("GET") or verb.startswith("FIND"):
        return "read"
    if verb in _WRITE_SQL:
        return "write"
    return "unknown"


# 4xx answers (but timeouts and throttling) and their gRPC counterparts are the server's
# verdict on the request: the caller reads them ("unknown card", "insufficient funds").
# Instrumentation marks such client spans ERROR, yet the dependency did not fail.
_ANSWER_HTTP_EXCEPT = frozenset({408, 429})
_ANSWER_GRPC = frozenset({3, 5, 6, 7, 9, 11, 16})  # INVALID_ARGUMENT … UNAUTHENTICATED


def _status_code(span: Span, server: Span | None, keys: tuple[str, ...]) -> int | None:
    for source in (span, server):
        if source is None:
            continue
        for key in keys:
            value = source.attributes.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and value.isdigit():
                return int(value)
    return None


def call_failed(span: Span, server: Span | None = None) -> bool:
    """True when the call failed: its span or its server's is ERROR, and the error is
    not an answer the caller can use (an HTTP 4xx other than 408/429, or a gRPC status
    such as NOT_FOUND or FAILED_PRECONDITION)."""
    if not (span.is_error or (server is not None and server.is_error)):
        return False
    http_status = _status_code(span, server, ("http.response.status_code", "http.status_code"))
    if http_status is not None and 400 <= http_status < 500:
        return http_status in _ANSWER_HTTP_EXCEPT
    grpc_status = _status_code(span, server, ("rpc.grpc.status_code",))
    return grpc_status not in _ANSWER_GRPC


# What names an operation beyond a span name, in order: HTTP client spans are often named by
# their method alone ("POST"), and so are server spans whose framework knows no route.
# The full URL comes last: it names one resource, not the operation, yet attempts of one
# request share it.
_ROUTE_KEYS = ("http.route", "url.template", "url.path", "http.target", "url.full", "http.url")
_ROUTE_KEY_SET = frozenset(_ROUTE_KEYS)


def requested_operation(span: Span, server: Span | None = None) -> tuple[str, str | None]:
    """The server operation a call asks for, as visible retries are matched: a name and
    a route (``None`` when no span records one).

    Both come from the server span when the server is instrumented (its name, ``POST
    /entries``, is the operation it served), else from the client span: the route is the
    first of ``http.route``, ``url.template``, ``url.path``, ``http.target``, ``url.full``
    and ``http.url`` that span records.
    Two calls named ``POST`` by an HTTP client, one to ``/entries`` and one to
    ``/holds``, are two operations, not two attempts of one.
    """
    named = span if server is None else server
    attrs = named.attributes
    if not attrs.keys().isdisjoint(_ROUTE_KEY_SET):
        for key in _ROUTE_KEYS:
            value = attrs.get(key)
            if value is not None:
                return named.name, _first(value)
    return named.name, None


def _is_request(span: Span, server: Span | None) -> bool:
    attrs = span.attributes
    return server is not None or "rpc.system" in attrs or "http.request.method" in attrs \
        or "http.method" in attrs


def server_of(trace: Trace, span: Span) -> tuple[str, Span | None]:
    """The server a client span calls (ARCHITECTURE.md §4) and its SERVER span, if any.

    A SERVER child in another service names it (for kindless tracers, any child in
    another service of an INTERNAL span); otherwise the virtual peer is named by
    ``peer.service``, ``server.address``, ``db.system`` / ``db.system.name`` or
    ``messaging.system``, else ``"virtual_node"``.
    """
    kid_ids = trace.children.get(span.span_id)
    if kid_ids:
        spans, service = trace.spans, span.service
        for kid_id in kid_ids:
            child = spans[kid_id]
            if child.service != service and (
                child.kind is SpanKind.SERVER
                or (child.kind is SpanKind.INTERNAL and span.kind is SpanKind.INTERNAL)
            ):
                return child.service, child
    attrs = span.attributes
    for key in ("peer.service", "server.address", "db.system.name", "db.system",
                "messaging.system"):
        if key in attrs:
            return _first(attrs[key]), None
    return "virtual_node", None


# -- observing a trace ----------------------------------------------------------------------


def _subtree(trace: Trace, span_id: str) -> list[str]:
    """``span_id`` and its descendants, depth first."""
    children = trace.children
    found: list[str] = []
    stack = [span_id]
    while stack:
        current = stack.pop()
        found.append(current)
        kid_ids = children.get(current)
        if kid_ids:
            stack.extend(kid_ids)
    return found


def _with_ancestors(trace: Trace, span_ids: Iterable[str]) -> set[str]:
    """``span_ids`` and every ancestor of theirs."""
    spans = trace.spans
    marked: set[str] = set()
    for span_id in span_ids:
        current: str | None = span_id
        while current is not None and current not in marked:
            marked.add(current)
            span = spans.get(current)
            current = span.parent_id if span is not None else None
    return marked


def _descends(trace: Trace, span_id: str, ancestor_id: str) -> bool:
    """True when ``span_id`` is ``ancestor_id`` or lies beneath it."""
    current: str | None = span_id
    while current is not None:
        if current == ancestor_id:
            return True
        span = trace.spans.get(current)
        current = span.parent_id if span is not None else None
    return False


def _followed(trace: Trace, local_starts: list[tuple[int, str]], call: Span) -> bool:
    """Whether the caller's service started a span, outside ``call``'s subtree, after it.

    ``local_starts`` are the ``(start, span id)`` of the caller's local spans, sorted.
    """
    call_id = call.span_id
    for j in range(bisect_left(local_starts, (call.end_ns, "")), len(local_starts)):
        if not _descends(trace, local_starts[j][1], call_id):
            return True
    return False


def _local_root(trace: Trace, span: Span) -> Span | None:
    """The entry span of ``span``'s service in this request (usually its SERVER span).

    ``None`` when ``span`` has no ancestor in its own service: its caller is unknown.
    """
    entry: Span | None = None
    current = trace.spans.get(span.parent_id) if span.parent_id else None
    while current is not None and current.service == span.service:
        entry = current
        current = trace.spans.get(current.parent_id) if current.parent_id else None
    return entry


def _local_spans(trace: Trace, entry: Span) -> list[Span]:
    """Every span of ``entry``'s service reachable from it without leaving the service."""
    spans, children, service = trace.spans, trace.children, entry.service
    found: list[Span] = []
    stack = [entry]
    while stack:
        span = stack.pop()
        found.append(span)
        kid_ids = children.get(span.span_id)
        if kid_ids:
            for kid_id in kid_ids:
                kid = spans[kid_id]
                if kid.service == service:
                    stack.append(kid)
    return found


def _inbound_ms(trace: Trace, entry: Span | None, keys: Sequence[str]) -> float | None:
    """The timeout the caller's own caller gave it (its budget), when one was declared."""
    if entry is None:
        return None
    invoker = trace.spans.get(entry.parent_id) if entry.parent_id else None
    if invoker is not None and invoker.kind is SpanKind.CLIENT:
        _, ms = declared_timeout(invoker.attributes, keys)
        if ms is not None:
            return ms
    # The same header recorded by the server's instrumentation (or a proxy's) also
    # tells the budget when the invoking client span is missing or silent.
    _, ms = declared_timeout(entry.attributes, keys)
    return ms


def observe_calls(
    ctx: TraceView, timeout_keys: Sequence[str] = DEFAULT_TIMEOUT_KEYS
) -> list[CallObservation]:
    """Every call under the endpoint root of ``ctx``, ordered by start time.

    A call is a CLIENT span. In a trace whose spans all lack a kind (OpenTracing-era
    tracers, e.g. DeathStarBench's Jaeger traces) a span with a child in another service
    is taken as the caller's side of a call instead, as the service graph does.
    """
    trace = ctx.trace
    spans = trace.spans
    kindless = all(s.kind is SpanKind.INTERNAL for s in spans.values())
    root_id = ctx.root.span_id
    endpoint = ctx.endpoint
    # A call is on the critical path when anything in its subtree owns a segment: mark
    # every ancestor of the owners once, instead of collecting each call's subtree.
    critical_below = _with_ancestors(trace, ctx.critical_ids)
    # Per entry span, its local spans' (start, id) sorted once: "did the caller start
    # anything after this call?" is then a bisection, not a scan per call. The caller's
    # own budget is also read once per entry.
    entries: dict[str, list[tuple[int, str]]] = {}
    inbound: dict[str, float | None] = {}
    observations: list[CallObservation] = []
    # A trace's calls share few keys (each database statement of a service…): each key
    # is built once per trace, a frozen dataclass being costly to build.
    keys: dict[tuple[str, str, str], CallKey] = {}
    for span_id in _subtree(trace, root_id):
        span = spans[span_id]
        if span.kind is not SpanKind.CLIENT and not kindless:
            continue
        server, server_span = server_of(trace, span)
        if span.kind is not SpanKind.CLIENT and server_span is None:
            continue  # a kindless span that calls no other service
        operation = server_span.name if server_span is not None else span.name
        entry = _local_root(trace, span)
        followed = False
        if entry is not None:
            starts = entries.get(entry.span_id)
            if starts is None:
                starts = entries[entry.span_id] = sorted(
                    (s.start_ns, s.span_id) for s in _local_spans(trace, entry))
                inbound[entry.span_id] = _inbound_ms(trace, entry, timeout_keys)
            followed = _followed(trace, starts, span)
        kind = call_kind(span, server_span)
        on_critical = span_id in critical_below
        saved: int | None = None
        if kind == "write":
            saved = (what_if_saved_ns(trace, root_id, span, on_path=critical_below)
                     if on_critical and not followed else 0)
        declared, declared_ms = declared_timeout(span.attributes, timeout_keys)
        key_fields = (span.service, server, operation)
        key = keys.get(key_fields)
        if key is None:
            key = keys[key_fields] = CallKey(endpoint.service, endpoint.name, *key_fields)
        observations.append(CallObservation(
            key=key,
            trace_id=trace.trace_id,
            span_id=span_id,
            parent_id=span.parent_id,
            client_name=span.name,
            target=requested_operation(span, server_span),
            start_ns=span.start_ns,
            end_ns=span.end_ns,
            failed=call_failed(span, server_span),
            caller_failed=None if entry is None else entry.is_error,
            kind=kind,
            request=_is_request(span, server_span),
            on_critical=on_critical,
            followed=followed,
            declared=declared,
            declared_ms=declared_ms,
            inbound_ms=None if entry is None else inbound[entry.span_id],
            timed_out=is_observed_timeout(span),
            saved_ns=saved,
        ))
    observations.sort(key=lambda o: (o.start_ns, o.span_id))
    return observations


@dataclass(frozen=True, slots=True)
class RetryGroup:
    """Sibling calls to the same server operation by the same caller span: visible retries.

    ``key`` is the first attempt's; its operation may be less precise than the attempts'
    own (a client span's ``POST`` for calls to an uninstrumented server)."""

    key: CallKey
    attempts: int
    total_ns: int
    budget_ms: float | None


def retry_groups(observations: Iterable[CallObservation]) -> list[RetryGroup]:
    """Visible retries: runs of two or more sibling calls to the same server operation
    (same parent span, server and :func:`requested_operation`), one after the other, where
    every attempt but the last failed.

    Requiring the failures keeps a loop of successful calls (an N+1 pattern) from
    looking like retries. The total runs from the first attempt's start to the last
    one's end (back-off included): what the caller spent before it had an answer.
    """
    groups: dict[tuple[str, str, str, str | None], list[CallObservation]] = {}
    for obs in observations:
        if obs.parent_id is not None:
            groups.setdefault((obs.parent_id, obs.key.server, *obs.target), []).append(obs)
    found = []
    for calls in groups.values():
        if len(calls) < 2:
            continue  # most calls are alone: no run of attempts to find
        calls.sort(key=lambda o: (o.start_ns, o.span_id))
        run = [calls[0]]
        for obs in calls[1:] + [None]:
            previous = run[-1]
            if obs is not None and previous.failed and obs.start_ns >= previous.end_ns:
                run.append(obs)
                continue
            if len(run) >= 2:
                total = run[-1].end_ns - run[0].start_ns
                found.append(RetryGroup(run[0].key, len(run), max(0, total), run[0].inbound_ms))
            if obs is not None:
                run = [obs]
    return sorted(found, key=lambda g: (g.key, g.attempts, g.total_ns))


# -- statistics -------------------------------------------------------------------------------


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


class CallStats:
    """What was seen of one :class:`CallKey` across traces (a mergeable accumulator).

    Counters: ``calls``, ``requests`` (HTTP/RPC calls), ``errors`` (the call failed),
    ``tolerated`` (failed while its caller succeeded), ``on_critical``, ``followed`` (the
    caller started something after it), ``reads`` / ``writes``, ``declared`` (a timeout was declared), ``timeouts``
    (observed), ``inbound_known`` / ``inverted`` (declared ≥ the caller's own budget),
    ``retried`` / ``retries_over_budget``. Sketches: ``latency`` (call duration),
    ``timeout_latency`` (duration of calls that timed out), ``savings`` (what-if, writes
    only), ``retry_total``. Extremes: declared and inverted timeouts, ``max_attempts``,
    and the trace of the longest call (``longest_trace_id``).
    """

    __slots__ = (
        "calls", "requests", "errors", "tolerated", "on_critical", "followed", "reads", "writes",
        "declared", "declared_min_ms", "declared_max_ms", "timeouts", "inbound_known",
        "inverted", "inverted_declared_ms", "inverted_inbound_ms", "retried", "max_attempts",
        "retries_over_budget", "retry_budget_ms", "latency", "timeout_latency", "savings",
        "retry_total", "longest_trace_id",
    )

    _COUNTERS = ("calls", "requests", "errors", "tolerated", "on_critical", "followed", "reads",
                 "writes", "declared", "timeouts", "inbound_known", "inverted", "retried",
                 "retries_over_budget")
    _SKETCHES = ("latency", "timeout_latency", "savings", "retry_total")
    _MINIMA = ("declared_min_ms", "inverted_inbound_ms", "retry_budget_ms")
    _MAXIMA = ("declared_max_ms", "inverted_declared_ms", "max_attempts")

    def __init__(self) -> None:
        for name in self._COUNTERS:
            setattr(self, name, 0)
        for name in self._SKETCHES:
            setattr(self, name, LatencySketch())
        for name in self._MINIMA + self._MAXIMA:
            setattr(self, name, None)
        self.longest_trace_id: str | None = None

    def add(self, obs: CallObservation) -> None:
        """Count one observed call."""
        self._note_longest(obs.duration_ns, obs.trace_id)
        self.calls += 1
        self.requests += obs.request
        self.latency.add(obs.duration_ns)
        if obs.failed:
            self.errors += 1
            if obs.caller_failed is False:
                self.tolerated += 1
        self.on_critical += obs.on_critical
        self.followed += obs.followed
        self.reads += obs.kind == "read"
        self.writes += obs.kind == "write"
        if obs.declared:
            self.declared += 1
        if obs.declared_ms is not None:
            self.declared_min_ms = _min(self.declared_min_ms, obs.declared_ms)
            self.declared_max_ms = _max(self.declared_max_ms, obs.declared_ms)
        if obs.timed_out:
            self.timeouts += 1
            self.timeout_latency.add(obs.duration_ns)
        if obs.declared_ms is not None and obs.inbound_ms is not None:
            self.inbound_known += 1
            if obs.declared_ms >= obs.inbound_ms:
                self.inverted += 1
                self.inverted_declared_ms = _max(self.inverted_declared_ms, obs.declared_ms)
                self.inverted_inbound_ms = _min(self.inverted_inbound_ms, obs.inbound_ms)
        if obs.saved_ns is not None:
            self.savings.add(obs.saved_ns)

    def add_retries(self, group: RetryGroup) -> None:
        """Count one caller span that repeated this call ``group.attempts`` times."""
        self.count_retries(group.attempts, group.total_ns, group.budget_ms)

    def count_retries(self, attempts: int, total_ns: int, budget_ms: float | None) -> None:
        """:meth:`add_retries` without a :class:`RetryGroup`: ``attempts`` in ``total_ns``."""
        self.retried += 1
        self.max_attempts = _max(self.max_attempts, attempts)
        self.retry_total.add(total_ns)
        if budget_ms is not None and total_ns > budget_ms * 1e6:
            self.retries_over_budget += 1
            self.retry_budget_ms = _min(self.retry_budget_ms, budget_ms)

    def _note_longest(self, duration_ns: int, trace_id: str | None) -> None:
        # Ties go to the smallest trace id so the result never depends on fold order.
        best = self.latency.max
        if trace_id is None:
            return
        current = self.longest_trace_id
        if best is None or duration_ns > best or (
            duration_ns == best and (current is None or trace_id < current)
        ):
            self.longest_trace_id = trace_id

    def merge(self, other: CallStats) -> None:
        """Fold ``other`` in; the result equals having added both sides' observations."""
        if other.latency.max is not None:
            self._note_longest(other.latency.max, other.longest_trace_id)
        for name in self._COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in self._SKETCHES:
            getattr(self, name).merge(getattr(other, name))
        for name in self._MINIMA:
            setattr(self, name, _min(getattr(self, name), getattr(other, name)))
        for name in self._MAXIMA:
            setattr(self, name, _max(getattr(self, name), getattr(other, name)))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in self._COUNTERS}
        data.update({name: getattr(self, name).to_dict() for name in self._SKETCHES})
        data.update({name: getattr(self, name) for name in self._MINIMA + self._MAXIMA})
        data["longest_trace_id"] = self.longest_trace_id
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallStats:
        stats = cls()
        for name in cls._COUNTERS:
            setattr(stats, name, int(data[name]))
        for name in cls._SKETCHES:
            setattr(stats, name, LatencySketch.from_dict(data[name]))
        for name in cls._MINIMA + cls._MAXIMA:
            setattr(stats, name, data.get(name))
        stats.longest_trace_id = data.get("longest_trace_id")
        return stats

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CallStats):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable accumulator


class EndpointDepths:
    """Critical-path depths seen for one endpoint: ``traces`` and ``depth -> traces``."""

    __slots__ = ("traces", "depths")

    def __init__(self) -> None:
        self.traces = 0
        self.depths: dict[int, int] = {}

    def add(self, depth: int) -> None:
        self.traces += 1
        self.depths[depth] = self.depths.get(depth, 0) + 1

    def merge(self, other: EndpointDepths) -> None:
        self.traces += other.traces
        for depth, n in other.depths.items():
            self.depths[depth] = self.depths.get(depth, 0) + n

    @property
    def depth_max(self) -> int:
        return max(self.depths, default=0)

    @property
    def depth_p50(self) -> int:
        """The median depth (nearest rank, as :class:`LatencySketch` defines quantiles)."""
        rank = nearest_rank(0.5, self.traces)
        seen = 0
        for depth in sorted(self.depths):
            seen += self.depths[depth]
            if seen > rank:
                return depth
        return 0

    def over(self, budget: int) -> int:
        """How many traces went deeper than ``budget``."""
        return sum(n for depth, n in self.depths.items() if depth > budget)

    def to_dict(self) -> dict[str, Any]:
        return {"traces": self.traces, "depths": [[d, n] for d, n in sorted(self.depths.items())]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EndpointDepths:
        depths = cls()
        depths.traces = int(data["traces"])
        depths.depths = {int(d): int(n) for d, n in data["depths"]}
        return depths


class CallAggregate:
    """The rules' statistics over any number of traces: per-call and per-endpoint depth.

    ``timeout_keys`` are the attribute keys that declare a timeout
    (``AnalysisConfig.timeout_keys``); they are read while folding, so they are fixed
    per aggregate and kept in its snapshot.
    """

    __slots__ = ("timeout_keys", "calls", "endpoints", "_index")

    def __init__(self, timeout_keys: Sequence[str] = DEFAULT_TIMEOUT_KEYS) -> None:
        self.timeout_keys: tuple[str, ...] = tuple(timeout_keys)
        self.calls: dict[CallKey, CallStats] = {}
        self.endpoints: dict[Endpoint, EndpointDepths] = {}
        # The statistics of ``calls`` found while folding, by the key's fields as a plain
        # tuple: hashing a tuple is C code, a CallKey's hash and equality are Python
        # functions, and building one costs more than the rest of counting a call.
        # ``calls`` only ever grows and keeps its objects, so an entry never goes stale.
        self._index: dict[tuple[str, str, str, str, str], CallStats] = {}

    def add(self, ctx: TraceView) -> None:
        """Fold one analysed trace in.

        The result is what folding each of :func:`observe_calls`'s observations with
        :meth:`CallStats.add` and each of :func:`retry_groups`' groups with
        :meth:`CallStats.add_retries` gives (``tests/rules`` checks that), computed in
        one pass without an object per call: this runs for every trace the collector sees.
        """
        depths = self.endpoints.get(ctx.endpoint)
        if depths is None:
            depths = self.endpoints[ctx.endpoint] = EndpointDepths()
        depths.add(ctx.depth)
        _fold_calls(self, ctx)

    def _stats(self, key: CallKey) -> CallStats:
        stats = self.calls.get(key)
        if stats is None:
            stats = self.calls[key] = CallStats()
        return stats

    def merge(self, other: CallAggregate) -> None:
        """Fold another aggregate (another window, another collector) in."""
        for key, stats in other.calls.items():
            self._stats(key).merge(stats)
        for endpoint, depths in other.endpoints.items():
            mine = self.endpoints.get(endpoint)
            if mine is None:
                mine = self.endpoints[endpoint] = EndpointDepths()
            mine.merge(depths)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot, in a deterministic order."""
        return {
            "timeout_keys": list(self.timeout_keys),
            "calls": [{"key": key.to_list(), "stats": self.calls[key].to_dict()}
                      for key in sorted(self.calls)],
            "endpoints": [{"service": e.service, "name": e.name, **self.endpoints[e].to_dict()}
                          for e in sorted(self.endpoints, key=lambda e: (e.service, e.name))],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallAggregate:
        aggregate = cls(tuple(data.get("timeout_keys", DEFAULT_TIMEOUT_KEYS)))
        for item in data.get("calls", []):
            aggregate.calls[CallKey(*item["key"])] = CallStats.from_dict(item["stats"])
        for item in data.get("endpoints", []):
            endpoint = Endpoint(item["service"], item["name"])
            aggregate.endpoints[endpoint] = EndpointDepths.from_dict(item)
        return aggregate

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CallAggregate):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable accumulator


# -- the fold -----------------------------------------------------------------------------------

_CLIENT, _SERVER, _INTERNAL = SpanKind.CLIENT, SpanKind.SERVER, SpanKind.INTERNAL
_ERROR = StatusCode.ERROR
_PEER_KEYS = ("peer.service", "server.address", "db.system.name", "db.system", "messaging.system")
_TIMED_OUT_KEYS = frozenset({"error.type", "rpc.grpc.status_code"})
_start_of = attrgetter("start_ns")


class _Caller:
    """What the calls of one entry span share (see :func:`_fold_calls`): its local spans,
    the latest start among them (and who started then) and the runner-up start, and the
    entry's own budget; the local spans by start time only when a call needs them."""

    __slots__ = ("local", "latest", "latest_span", "runner_up", "inbound_ms", "starts")

    def __init__(self, trace: Trace, entry: Span, timeout_keys: Sequence[str]) -> None:
        # _local_spans and the latest starts in one walk (same order: ties resolve alike).
        spans, children, service = trace.spans, trace.children, entry.service
        local: list[Span] = []
        latest = runner_up = latest_span = None
        stack = [entry]
        while stack:
            span = stack.pop()
            local.append(span)
            start = span.start_ns
            if latest is None or start > latest:
                runner_up, latest, latest_span = latest, start, span
            elif runner_up is None or start > runner_up:
                runner_up = start
            kid_ids = children.get(span.span_id)
            if kid_ids:
                for kid_id in kid_ids:
                    kid = spans[kid_id]
                    if kid.service == service:
                        stack.append(kid)
        self.local = local
        self.latest, self.latest_span, self.runner_up = latest, latest_span, runner_up
        self.inbound_ms = _inbound_ms(trace, entry, timeout_keys)
        self.starts: list[int] | None = None

    def followed(self, trace: Trace, entry: Span, call: Span, nested: bool) -> bool:
        """Whether a local span outside ``call``'s subtree started at or after its end
        (``nested``: the call has children in its own service)."""
        end = call.end_ns
        if not nested:
            # Then the call is the only local span in its own subtree: the latest start of
            # the others decides.
            if self.latest_span is not call:
                return self.latest >= end  # type: ignore[operator]  # set with latest_span
            return self.runner_up is not None and self.runner_up >= end
        starts = self.starts
        if starts is None:
            self.local.sort(key=_start_of)
            starts = self.starts = [s.start_ns for s in self.local]
        spans, local, call_id = trace.spans, self.local, call.span_id
        for j in range(bisect_left(starts, end), len(starts)):
            current: Span | None = local[j]
            while current is not None and current is not entry and current.span_id != call_id:
                up = current.parent_id
                current = spans.get(up) if up else None
            if current is None or current is entry:
                return True
        return False


def _fold_calls(aggregate: CallAggregate, ctx: TraceView) -> None:
    """Fold the calls of one trace into ``aggregate.calls`` (see :meth:`CallAggregate.add`).

    Each fact is derived as :func:`observe_calls` derives it, inline, and counted straight
    into the call's :class:`CallStats` as :meth:`CallStats.add` counts it. New keys enter
    ``aggregate.calls`` in the order :func:`observe_calls` would first name them (by the
    start of their first call), so everything iterating the statistics sees the same order.
    """
    trace = ctx.trace
    spans = trace.spans
    children = trace.children
    root_id = ctx.root.span_id
    trace_id = trace.trace_id
    endpoint = ctx.endpoint
    timeout_keys = aggregate.timeout_keys
    known = aggregate.calls
    kindless = all(s.kind is _INTERNAL for s in spans.values())
    critical_below = _above(spans, ctx.critical_ids)
    callers: dict[str, _Caller] = {}
    tops: dict[str, Span] = {}  # parent id -> the entry span of its same-service calls
    index = aggregate._index
    endpoint_service, endpoint_name = endpoint.service, endpoint.name
    # Keys first seen in this trace: fields -> [start, span id, key, stats] of their earliest call.
    pending: dict[tuple[str, str, str, str, str], list[Any]] = {}
    # Sibling calls to one server operation, for retries:
    # (parent, server, requested_operation) -> calls.
    siblings: dict[tuple[str, str, str, str | None], Any] = {}
    roots = trace.roots
    # With one root every span lies beneath it (Trace's invariant: any other span without
    # its parent would be a root), so the spans need no walk to be found.
    beneath = spans.values() if len(roots) == 1 and roots[0] == root_id \
        else [spans[span_id] for span_id in _subtree(trace, root_id)]
    for span in beneath:
        kind = span.kind
        if kind is not _CLIENT and not kindless:
            continue
        span_id = span.span_id
        service = span.service
        server_span = None
        nested = False  # has children in its own service
        kid_ids = children.get(span_id)
        if kid_ids:
            for kid_id in kid_ids:
                child = spans[kid_id]
                if child.service == service:
                    nested = True
                elif server_span is None and (
                    child.kind is _SERVER or (child.kind is _INTERNAL and kind is _INTERNAL)
                ):
                    server_span = child
        attrs = span.attributes
        if server_span is None:
            if kind is not _CLIENT:
                continue  # a kindless span that calls no other service
            server = "virtual_node"
            for peer_key in _PEER_KEYS:
                if peer_key in attrs:
                    server = attrs[peer_key]
                    server = server.strip() if server.__class__ is str else _first(server)
                    break
            operation = span.name
        else:
            server = server_span.service
            operation = server_span.name

        # The caller: the entry span of this service (see _local_root) and what it did next.
        parent_id = span.parent_id
        entry = spans.get(parent_id) if parent_id else None
        if entry is not None:
            if entry.service != service:
                entry = None  # called from another service: no caller of its own here
            else:
                # The topmost span of the parent's run of same-service ancestors: calls
                # share parents, so each parent's is found once.
                top = tops.get(parent_id)
                if top is None:
                    top = current = entry
                    while current is not None and current.service == service:
                        top = current
                        up = current.parent_id
                        current = spans.get(up) if up else None
                    tops[parent_id] = top
                entry = top
        followed = False
        inbound_ms = None
        start, end = span.start_ns, span.end_ns
        if entry is not None:
            caller = callers.get(entry.span_id)
            if caller is None:
                caller = callers[entry.span_id] = _Caller(trace, entry, timeout_keys)
            inbound_ms = caller.inbound_ms
            followed = caller.followed(trace, entry, span, nested)

        kind_name = call_kind(span, server_span)
        on_critical = span_id in critical_below
        declared, declared_ms = (False, None) if attrs.keys().isdisjoint(timeout_keys) \
            else declared_timeout(attrs, timeout_keys)
        failed = (span.status is _ERROR or (server_span is not None
                                              and server_span.status is _ERROR)) \
            and call_failed(span, server_span)

        fields = (endpoint_service, endpoint_name, service, server, operation)
        stats = index.get(fields)
        if stats is None:
            key = CallKey(*fields)
            stats = known.get(key)
            if stats is None:
                stats = CallStats()
                pending[fields] = [start, span_id, key, stats]
            index[fields] = stats
        elif pending and fields in pending:
            first = pending[fields]
            if (start, span_id) < (first[0], first[1]):
                first[0], first[1] = start, span_id

        # As CallStats.add counts a CallObservation.
        duration = end - start if end > start else 0
        latency = stats.latency
        best = latency.max
        if best is None or duration > best or (duration == best and (
                stats.longest_trace_id is None or trace_id < stats.longest_trace_id)):
            stats.longest_trace_id = trace_id
        stats.calls += 1
        if server_span is not None or "rpc.system" in attrs or "http.request.method" in attrs \
                or "http.method" in attrs:
            stats.requests += 1
        latency.add(duration)
        if failed:
            stats.errors += 1
            if entry is not None and entry.status is not _ERROR:
                stats.tolerated += 1
        if on_critical:
            stats.on_critical += 1
        if followed:
            stats.followed += 1
        if kind_name == "read":
            stats.reads += 1
        elif kind_name == "write":
            stats.writes += 1
            stats.savings.add(
                what_if_saved_ns(trace, root_id, span, on_path=critical_below)
                if on_critical and not followed else 0)
        if declared:
            stats.declared += 1
        if declared_ms is not None:
            stats.declared_min_ms = _min(stats.declared_min_ms, declared_ms)
            stats.declared_max_ms = _max(stats.declared_max_ms, declared_ms)
            if inbound_ms is not None:
                stats.inbound_known += 1
                if declared_ms >= inbound_ms:
                    stats.inverted += 1
                    stats.inverted_declared_ms = _max(stats.inverted_declared_ms, declared_ms)
                    stats.inverted_inbound_ms = _min(stats.inverted_inbound_ms, inbound_ms)
        if (span.events or not attrs.keys().isdisjoint(_TIMED_OUT_KEYS)) \
                and is_observed_timeout(span):
            stats.timeouts += 1
            stats.timeout_latency.add(duration)

        if parent_id is not None:
            call = (start, span_id, end, failed, stats, inbound_ms)
            # requested_operation, inline: most calls carry no route, so one C-level test
            # per call usually settles it (``operation`` is the naming span's name).
            named = span if server_span is None else server_span
            group = (parent_id, server, operation, None) \
                if named.attributes.keys().isdisjoint(_ROUTE_KEY_SET) \
                else (parent_id, server, *requested_operation(span, server_span))
            seen = siblings.get(group)
            if seen is None:
                siblings[group] = call
            elif seen.__class__ is tuple:
                siblings[group] = [seen, call]
            else:
                seen.append(call)

    if pending:
        for _, _, key, stats in sorted(pending.values(), key=_first_two):
            known[key] = stats
    for calls in siblings.values():
        if calls.__class__ is list:
            _count_retries(calls)


def _above(spans: Mapping[str, Span], span_ids: AbstractSet[str]) -> set[str]:
    """:func:`_with_ancestors` of ``span_ids``, for the fold: the ids are marked at once
    (C code), then each walks up only to the first marked ancestor, which on a critical
    path is usually its parent (most path owners' parents own a segment too)."""
    marked = set(span_ids)
    for span_id in span_ids:
        span = spans.get(span_id)
        current = span.parent_id if span is not None else None
        while current is not None and current not in marked:
            marked.add(current)
            span = spans.get(current)
            current = span.parent_id if span is not None else None
    return marked


def _first_two(item: list[Any]) -> tuple[int, str]:
    return item[0], item[1]


def _count_retries(calls: list[tuple[int, str, int, bool, CallStats, float | None]]) -> None:
    """Count the visible retries among sibling calls, as :func:`retry_groups` finds them.

    ``calls`` are ``(start, span id, end, failed, stats, inbound ms)`` of two or more calls
    under one parent span to one server operation; each run is counted on its first call.
    """
    calls.sort(key=_first_two)
    run_start = 0
    count = len(calls)
    for i in range(1, count + 1):
        if i < count:
            previous, call = calls[i - 1], calls[i]
            if previous[3] and call[0] >= previous[2]:
                continue  # the previous attempt failed and this one came after it
        if i - run_start >= 2:
            first = calls[run_start]
            first[4].count_retries(i - run_start, max(0, calls[i - 1][2] - first[0]), first[5])
        run_start = i
