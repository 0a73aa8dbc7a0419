"""Jaeger JSON (the Jaeger UI's download and the query service's ``/api/traces``) → spans.

Shape: ``{"data": [{"traceID", "spans": [...], "processes": {"p1": {"serviceName",
"tags"}}}], ...}``; times in microseconds; parentage in ``references`` (CHILD_OF or
FOLLOWS_FROM), or in the older ``parentSpanID``. OpenTelemetry concepts travel as tags:
``span.kind``, ``otel.status_code``, ``error``; exception events as logs whose ``event``
field is ``exception``.
"""

from __future__ import annotations

from analyzer.decode._common import (
    EMPTY_ATTRS,
    INVALID_ID,
    KIND_BY_NAME,
    NO_DURATION,
    NO_START_TIME,
    SKIPPING_ISSUES,
    UNKNOWN_PROCESS,
    UNKNOWN_SERVICE,
    DecodeError,
    Decoded,
    ShapeError,
    exception_event,
    freeze,
    hex_id,
    issue_counts,
    make_span,
    micros,
    parent_hex_id,
    require_object,
    span_place,
)
from analyzer.model import AttrValue, Link, SpanKind, StatusCode

FORMAT = "jaeger-json"

# Tags that become span fields rather than attributes.
_CONSUMED_TAGS = frozenset({"span.kind", "otel.status_code", "error"})


def _tag_value(tag: dict) -> AttrValue | None:
    value = tag.get("value")
    kind = str(tag.get("type", "string")).lower()
    if kind == "bool":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if kind in ("int64", "float64"):
        try:
            return int(value) if kind == "int64" else float(value)
        except (TypeError, ValueError):
            raise ShapeError(f'tag "{tag.get("key")}" of type {kind} has the value '
                             f"{value!r}") from None
    if value is None:
        return None
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def _tags(items, keep: frozenset[str] | None, what: str) -> dict[str, AttrValue]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise ShapeError(f'"{what}" must be an array, got {type(items).__name__}')
    out: dict[str, AttrValue] = {}
    for tag in items:
        require_object(tag, f'each of "{what}"')
        key = tag.get("key")
        if isinstance(key, str) and (keep is None or key in keep):
            value = _tag_value(tag)
            if value is not None:
                out[key] = value
    return out


def _status(tags: dict[str, AttrValue]) -> StatusCode:
    code = tags.get("otel.status_code")
    if isinstance(code, str) and code.upper() in ("ERROR", "OK"):
        return StatusCode.ERROR if code.upper() == "ERROR" else StatusCode.OK
    error = tags.get("error")
    if error is True or (isinstance(error, str) and error.lower() == "true"):
        return StatusCode.ERROR
    return StatusCode.UNSET


def _events(logs, keep: frozenset[str] | None) -> tuple:
    """Logs that record exceptions (or every log when keeping all attributes).

    OpenTelemetry's Jaeger translation writes an event as a log whose ``event`` field is
    the event name; OpenTracing wrote errors as ``event: error`` with ``error.kind``,
    which is read as an exception of that type.
    """
    if not logs:
        return ()
    if not isinstance(logs, list):
        raise ShapeError(f'"logs" must be an array, got {type(logs).__name__}')
    out = []
    for log in logs:
        require_object(log, "each log")
        fields = _tags(log.get("fields"), None, "fields")
        name = str(fields.pop("event", "log"))
        if name == "error" and "error.kind" in fields:
            name = "exception"
            fields.setdefault("exception.type", fields["error.kind"])
            if "message" in fields:
                fields.setdefault("exception.message", fields["message"])
        time_ns = micros(log.get("timestamp", 0), "logs[].timestamp") * 1000
        event = exception_event(name, time_ns, fields, keep is None)
        if event is not None:
            out.append(event)
    return tuple(out)


def _span(raw: dict, services: dict[str, str], keep: frozenset[str] | None,
          counts: dict[str, int]):
    """One Jaeger span as a Span; or None, counting in ``counts`` why it is skipped."""
    trace_id = hex_id(raw.get("traceID"), 32, pad=True)
    span_id = hex_id(raw.get("spanID"), 16, pad=True)
    if trace_id is None or span_id is None:
        counts[INVALID_ID] += 1
        return None
    references = raw.get("references") or []
    if not isinstance(references, list):
        raise ShapeError(f'"references" must be an array, got {type(references).__name__}')
    parent_id: str | None | bool = None
    follows_from = False
    links = []
    # The parent is the first CHILD_OF reference, else the first FOLLOWS_FROM one (as the
    # Jaeger UI does); the other references are links.
    for ref in references:
        require_object(ref, "each reference")
    ordered = sorted(references, key=lambda ref: ref.get("refType") != "CHILD_OF")
    for ref in ordered:
        ref_trace = hex_id(ref.get("traceID"), 32, pad=True)
        ref_span = hex_id(ref.get("spanID"), 16, pad=True)
        if ref_trace is None or ref_span is None:
            continue
        if parent_id is None and ref_trace == trace_id:
            parent_id = ref_span
            follows_from = ref.get("refType") == "FOLLOWS_FROM"
        else:
            links.append(Link(ref_trace, ref_span))
    if parent_id is None and not references:
        parent_id = parent_hex_id(raw.get("parentSpanID"), pad=True)
        if parent_id is False:
            counts[INVALID_ID] += 1
            return None
    # Jaeger always writes both (a zero duration as 0): a span without them cannot be
    # placed in time, and reading it as a zero-length span at 1970 would skew the trace.
    if raw.get("startTime") is None:
        counts[NO_START_TIME] += 1
        return None
    start = micros(raw["startTime"], "startTime") * 1000
    if raw.get("duration") is None:
        counts[NO_DURATION] += 1
        return None
    end = start + micros(raw["duration"], "duration") * 1000
    tags = _tags(raw.get("tags"), None, "tags")
    kind = KIND_BY_NAME.get(str(tags.get("span.kind", "")).lower(), SpanKind.INTERNAL)
    status = _status(tags)
    kept = {k: v for k, v in tags.items()
            if k not in _CONSUMED_TAGS and (keep is None or k in keep)}
    process = raw.get("process")
    if isinstance(process, dict):
        service = process.get("serviceName") or UNKNOWN_SERVICE
    else:
        process_id = raw.get("processID")
        service = services.get(process_id) if isinstance(process_id, str) else None
        if service is None:
            counts[UNKNOWN_PROCESS] += 1
            service = UNKNOWN_SERVICE
    return make_span(trace_id, span_id, parent_id, str(service), str(raw.get("operationName", "")),
                     kind, start, end, status, freeze(kept) if kept else EMPTY_ATTRS,
                     tuple(links), _events(raw.get("logs"), keep), follows_from)


def _services(processes) -> dict[str, str]:
    if processes is None:
        return {}
    require_object(processes, '"processes"')
    return {pid: str(p.get("serviceName") or UNKNOWN_SERVICE)
            for pid, p in processes.items() if isinstance(p, dict)}


def is_jaeger(document) -> bool:
    """True for ``{"data": [traces]}`` and for a single trace object with ``spans``."""
    if not isinstance(document, dict):
        return False
    return isinstance(document.get("data"), list) or (
        isinstance(document.get("spans"), list) and "processes" in document)


def decode_jaeger(document: dict, source: str, keep: frozenset[str] | None) -> Decoded:
    """Decode a parsed Jaeger JSON document (``warnings`` and ``errors`` are ignored)."""
    traces = document["data"] if isinstance(document.get("data"), list) else [document]
    spans: list = []
    counts = dict.fromkeys((INVALID_ID, NO_START_TIME, NO_DURATION, UNKNOWN_PROCESS), 0)
    for t, trace in enumerate(traces):
        place = f"data[{t}]"
        try:
            require_object(trace, "a trace")
            services = _services(trace.get("processes"))
            raw_spans = trace.get("spans")
            raw_spans = [] if raw_spans is None else raw_spans
            if not isinstance(raw_spans, list):
                raise ShapeError(f'"spans" must be an array, got {type(raw_spans).__name__}')
        except ShapeError as exc:
            raise DecodeError(f"{source}: not a valid Jaeger JSON trace: {place}: {exc}") from None
        for n, raw in enumerate(raw_spans):
            try:
                require_object(raw, "a span")
                span = _span(raw, services, keep, counts)
            except (ShapeError, TypeError, ValueError, AttributeError) as exc:
                where = span_place(f"{place}.spans[{n}]",
                                   raw.get("spanID") if isinstance(raw, dict) else None)
                raise DecodeError(f"{source}: not a valid Jaeger JSON trace: {where}: "
                                  f"{exc}") from None
            if span is not None:
                spans.append(span)
    invalid = sum(n for issue, n in counts.items() if issue in SKIPPING_ISSUES)
    return Decoded(spans, FORMAT, invalid, issue_counts(counts))
