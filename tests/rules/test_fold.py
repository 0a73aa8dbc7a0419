"""``CallAggregate.add`` folds a trace in one pass, without an observation per call; its
result must be exactly what counting :func:`observe_calls`' observations and
:func:`retry_groups`' groups gives (the readable definition), key order included. And
``call_kind``, tuned for speed, must still apply its rules in their written order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.aggregate import trace_context
from analyzer.assemble import assemble
from analyzer.model import Event, Span, SpanKind, StatusCode
from analyzer.rules import CallAggregate, EndpointDepths, observe_calls
from analyzer.rules.calls import call_kind, retry_groups

MS = 1_000_000
SERVICES = ("gateway", "ledger", "audit")
TIMEOUT = "http.request.header.x-bank-timeout-ms"
ATTRIBUTES = (
    {},
    {"http.request.method": "GET"},
    {"http.request.method": "POST", TIMEOUT: ("2000",)},
    {"http.method": "put", TIMEOUT: "1500"},
    {"http.request.method": "DELETE", TIMEOUT: ("soon",), "http.response.status_code": 404},
    {"http.request.method": "GET", "http.response.status_code": 503, TIMEOUT: "2S"},
    {"db.system": "postgresql", "db.statement": "SELECT * FROM t"},
    {"db.system": "postgresql", "db.statement": "  insert into t values (1)"},
    {"db.system.name": "redis", "db.operation.name": "HSET"},
    {"db.statement": "VACUUM"},
    {"messaging.system": "kafka"},
    {"messaging.system": "kafka", "messaging.operation.type": "receive"},
    {"rpc.system": "grpc", "rpc.method": "GetBalance", "rpc.grpc.status_code": 5},
    {"rpc.system": "grpc", "rpc.method": "Transfer", "rpc.grpc.status_code": 4},
    {"rpc.system": "grpc", "rpc.grpc.request.metadata.grpc-timeout": "150m"},
    {"peer.service": "bank-core", "error.type": "httpx.ReadTimeout"},
    {"server.address": " cache ", TIMEOUT: 900},
    {"http.request.method": "POST", TIMEOUT: ("20",)},  # budgets retries can overrun
    {"http.request.method": "GET", TIMEOUT: "10ms", "error.type": "500"},
    # routes tell operations apart where span names do not (retries)
    {"http.request.method": "POST", "url.template": "/entries", TIMEOUT: ("20",)},
    {"http.request.method": "POST", "url.template": "/holds", TIMEOUT: ("20",)},
    {"http.request.method": "POST", "http.route": "/entries"},
    {"http.request.method": "POST", "url.path": "/holds"},
)
KINDS = (SpanKind.CLIENT, SpanKind.CLIENT, SpanKind.CLIENT, SpanKind.INTERNAL,
         SpanKind.PRODUCER, SpanKind.SERVER)

# One call: a span (usually CLIENT) under an earlier span, in that span's service or not,
# and (usually) the callee's span in another service beneath it.
call_strategy = st.tuples(
    st.integers(0, 12),                   # parent: one of the earlier spans (wide fan-out)
    st.sampled_from((None, *SERVICES)),   # the caller's service (None: the parent's)
    st.sampled_from(KINDS),
    st.sampled_from(("call", "retry")),   # repeated names make retries
    st.integers(-2, 30),                  # start, ms after the parent's
    st.integers(0, 30),                   # duration, ms
    st.booleans(),                        # error
    st.integers(0, len(ATTRIBUTES) - 1),  # the caller's attributes
    st.sampled_from((None, *SERVICES)),   # the callee's service (None: no callee span)
    st.sampled_from((SpanKind.SERVER, SpanKind.SERVER, SpanKind.CONSUMER, SpanKind.INTERNAL)),
    st.integers(0, len(ATTRIBUTES) - 1),  # the callee's attributes
    st.booleans(),                        # a timeout exception event on the caller
    st.sampled_from((None, None, 0, 1)),  # a retry: the previous call again, this many ms later
)


def build(index: int, drawn, kindless: bool) -> list[Span]:
    trace_id = f"{index + 1:032x}"
    ids = iter(f"{index:08x}{n:08x}" for n in range(1, 1000))
    spans = [Span(trace_id, f"{index:08x}{0:08x}", None, "gateway", "POST /transfers",
                  SpanKind.SERVER, 0, 200 * MS)]
    previous: Span | None = None
    for (parent, service, kind, name, start, duration, error, attrs, callee, callee_kind,
         callee_attrs, event, retry) in drawn:
        parent_span = spans[parent % len(spans)]
        service = service or parent_span.service
        begin = parent_span.start_ns + start * MS
        attributes = ATTRIBUTES[attrs]
        if retry is not None and previous is not None:  # the same call again, after it
            parent_span = next(s for s in spans if s.span_id == previous.parent_id)
            service, name, attributes = previous.service, previous.name, previous.attributes
            kind, begin = previous.kind, previous.end_ns + retry * MS
        status = StatusCode.ERROR if error else StatusCode.UNSET
        caller = Span(
            trace_id, next(ids), parent_span.span_id, service, name, kind, begin,
            begin + duration * MS, status, attributes,
            events=(Event("exception", begin, {"exception.type": "TimeoutError"}),) if event else (),
        )
        spans.append(caller)
        previous = caller
        if callee is not None:
            spans.append(Span(trace_id, next(ids), caller.span_id, callee, f"{name} /{callee}",
                              callee_kind, begin + MS // 2, begin + duration * MS, status,
                              ATTRIBUTES[callee_attrs]))
    if kindless:  # an OpenTracing-era tracer: no kinds at all
        spans = [Span(s.trace_id, s.span_id, s.parent_id, s.service, s.name, SpanKind.INTERNAL,
                      s.start_ns, s.end_ns, s.status, s.attributes, events=s.events)
                 for s in spans]
    return spans


def reference(contexts) -> CallAggregate:
    """The fold as defined: one observation at a time, then the retries."""
    aggregate = CallAggregate()
    for ctx in contexts:
        aggregate.endpoints.setdefault(ctx.endpoint, EndpointDepths()).add(ctx.depth)
        observations = observe_calls(ctx, aggregate.timeout_keys)
        for obs in observations:
            aggregate._stats(obs.key).add(obs)
        for group in retry_groups(observations):
            aggregate._stats(group.key).add_retries(group)
    return aggregate


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(call_strategy, min_size=1, max_size=15), st.booleans()),
                min_size=1, max_size=6))
def test_one_pass_fold_equals_counting_each_observation(generated):
    spans = [s for i, (drawn, kindless) in enumerate(generated) for s in build(i, drawn, kindless)]
    contexts = [trace_context(trace) for trace in assemble(spans)]
    folded = CallAggregate()
    for ctx in contexts:
        folded.add(ctx)
    expected = reference(contexts)
    assert folded.to_dict() == expected.to_dict()
    assert list(folded.calls) == list(expected.calls)  # the order evaluate() sees


# -- call_kind finds its rule by ranking the attributes present; the rules' definition ------

def _lookup(sources, keys):
    for key in keys:
        for attrs in sources:
            if attrs.get(key) is not None:
                return attrs[key]
    return None


def _first(value) -> str:
    if isinstance(value, tuple):
        value = value[0] if value else ""
    return str(value).strip()


def reference_kind(client: dict, server: dict | None) -> str:
    """call_kind as its docstring defines it: one rule after the other."""
    sources = (client, server) if server is not None else (client,)
    method = _lookup(sources, ("http.request.method", "http.method"))
    if method is not None:
        return "read" if _first(method).upper() in {"GET", "HEAD", "OPTIONS", "TRACE"} \
            else "write"
    operation = _lookup(sources, ("messaging.operation.type", "messaging.operation"))
    if operation is not None or _lookup(sources, ("messaging.system",)) is not None:
        return "read" if _first(operation or "").lower() in {"receive", "process", "settle"} \
            else "write"
    if _lookup(sources, ("rpc.system",)) is not None:
        rpc_method = _first(_lookup(sources, ("rpc.method",)) or "").lower()
        return "read" if rpc_method.startswith(("get", "list", "read", "fetch", "query",
                                                "search", "find", "lookup", "describe",
                                                "check", "watch")) else "write"
    statement = _lookup(sources, ("db.operation.name", "db.operation", "db.query.text",
                                  "db.statement"))
    if statement is not None:
        words = _first(statement).split()
        verb = words[0].upper() if words else ""
        if verb in {"SELECT", "SHOW", "DESCRIBE", "EXPLAIN", "WITH"} or verb.startswith(
                ("GET", "FIND")):
            return "read"
        if verb in {"INSERT", "UPDATE", "DELETE", "UPSERT", "MERGE", "REPLACE", "CREATE",
                    "DROP", "ALTER", "TRUNCATE", "SET", "PUT", "DEL", "INCR", "HSET"}:
            return "write"
    return "unknown"


KIND_VALUES = st.one_of(
    st.sampled_from(["GET", "get ", "POST", "", " select 1", "INSERT", "receive", "GetUser",
                     "Transfer", "FIND x", "  ", "send", "WITH a", "vacuum"]),
    st.tuples(st.sampled_from(["GET", "insert", "process"])),
    st.just(()), st.integers(0, 3), st.booleans(),
)
KIND_ATTRS = st.dictionaries(
    st.sampled_from(["http.request.method", "http.method", "messaging.operation.type",
                     "messaging.operation", "messaging.system", "rpc.system", "rpc.method",
                     "db.operation.name", "db.operation", "db.query.text", "db.statement",
                     "db.system", "server.address"]),
    KIND_VALUES, max_size=5)


@settings(max_examples=500, deadline=None)
@given(KIND_ATTRS, st.one_of(st.none(), KIND_ATTRS))
def test_call_kind_applies_the_first_rule_whose_key_is_present(client, server):
    def span(attrs, service):
        return Span("t" * 32, service[0] * 16, None, service, "op", SpanKind.CLIENT, 0, 1,
                    attributes=attrs)

    expected = reference_kind(client, server)
    assert call_kind(span(client, "caller"), None if server is None else
                     span(server, "server")) == expected
