"""OTLP/JSON (one ``ExportTraceServiceRequest`` per document, or JSON lines) → spans.

The OTLP specification's JSON mapping differs from protobuf's canonical one, which is why
``json_format`` is not used: trace and span ids are hex (not base64), enums are integers,
keys are lowerCamelCase (snake_case is accepted too), 64-bit integers may be strings or
numbers, and unknown fields are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from analyzer.decode._common import (
    EMPTY_ATTRS,
    INVALID_ID,
    KIND_BY_NUMBER,
    STATUS_BY_NUMBER,
    UNKNOWN_KIND,
    UNKNOWN_SERVICE,
    UNKNOWN_STATUS,
    DecodeError,
    Decoded,
    ShapeError,
    exception_event,
    freeze,
    hex_id,
    issue_counts,
    make_span,
    parent_hex_id,
    require_object,
    span_place,
)
from analyzer.model import AttrValue, Link, SpanKind, StatusCode

FORMAT = "otlp-json"
FORMAT_LINES = "otlp-jsonl"

# Enum names are accepted too: protobuf JSON parsers accept them, so some writers use them.
_KIND_NAMES = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2,
               "SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def _field(obj: dict, camel: str, snake: str, default=None):
    value = obj.get(camel)
    if value is None:
        value = obj.get(snake, default)
        if value is None:
            return default
    return value


def _list(obj: dict, camel: str, snake: str) -> list:
    value = _field(obj, camel, snake, [])
    if not isinstance(value, list):
        raise ShapeError(f'"{camel}" must be an array, got {type(value).__name__}')
    return value


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ShapeError(f"{what} must be an integer or a decimal string, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ShapeError(f"{what} must be an integer or a decimal string, got {value!r}") from None


def _enum(value, names: dict[str, int], what: str) -> int:
    if isinstance(value, str) and value in names:
        return names[value]
    return _int(value, what) if value is not None else 0


def any_value(value) -> AttrValue | None:
    """An OTLP/JSON ``AnyValue`` object as a Python value (None when it holds nothing)."""
    if not isinstance(value, dict):
        return None
    for key, item in value.items():
        if key in ("stringValue", "string_value"):
            return str(item)
        if key in ("boolValue", "bool_value"):
            return bool(item)
        if key in ("intValue", "int_value"):
            return _int(item, "intValue")
        if key in ("doubleValue", "double_value"):
            return float(item)  # also reads "NaN" and "Infinity", as the JSON mapping writes them
        if key in ("arrayValue", "array_value"):
            values = _list(require_object(item, "arrayValue"), "values", "values")
            return tuple(v for v in map(any_value, values) if v is not None)
        if key in ("kvlistValue", "kvlist_value"):
            values = _list(require_object(item, "kvlistValue"), "values", "values")
            return tuple((require_object(kv, "kvlistValue entry").get("key", ""),
                          any_value(kv.get("value")))
                         for kv in values)
        if key in ("bytesValue", "bytes_value"):
            return str(item)  # already base64 text, the form protobuf bytes decode to
    return None


def attributes(items: list, keep: frozenset[str] | None) -> dict[str, AttrValue]:
    """Kept ``KeyValue`` objects as a dict; values that hold nothing are dropped."""
    out: dict[str, AttrValue] = {}
    for item in items:
        key = require_object(item, "attribute").get("key")
        if not isinstance(key, str) or (keep is not None and key not in keep):
            continue
        value = any_value(item.get("value"))
        if value is not None:
            out[key] = value
    return out


def _service(resource_spans: dict) -> str:
    resource = require_object(resource_spans.get("resource") or {}, '"resource"')
    name = attributes(_list(resource, "attributes", "attributes"), frozenset({"service.name"}))
    service = name.get("service.name")
    return service if isinstance(service, str) and service else UNKNOWN_SERVICE


def _span(raw: dict, service: str, keep: frozenset[str] | None, counts: dict[str, int]):
    """One OTLP/JSON span as a Span, or None when an id is invalid; what was wrong with
    it is counted in ``counts``."""
    trace_id = hex_id(_field(raw, "traceId", "trace_id"), 32)
    span_id = hex_id(_field(raw, "spanId", "span_id"), 16)
    parent_id = parent_hex_id(_field(raw, "parentSpanId", "parent_span_id"))
    if trace_id is None or span_id is None or parent_id is False:
        counts[INVALID_ID] += 1
        return None
    # Enums are open in OTLP: numbers outside them read as the default (INTERNAL, as for
    # UNSPECIFIED; UNSET) and are counted.
    number = _enum(raw.get("kind"), _KIND_NAMES, '"kind"')
    if 0 <= number < 6:
        kind = KIND_BY_NUMBER[number]
    else:
        kind = SpanKind.INTERNAL
        counts[UNKNOWN_KIND] += 1
    status = StatusCode.UNSET
    raw_status = raw.get("status")
    if raw_status:
        number = _enum(require_object(raw_status, '"status"').get("code"), _STATUS_NAMES,
                       '"status.code"')
        if 0 <= number < 3:
            status = STATUS_BY_NUMBER[number]
        else:
            counts[UNKNOWN_STATUS] += 1
    kept = attributes(_list(raw, "attributes", "attributes"), keep)
    links = []
    for link in _list(raw, "links", "links"):
        link = require_object(link, "link")
        link_trace = hex_id(_field(link, "traceId", "trace_id"), 32)
        link_span = hex_id(_field(link, "spanId", "span_id"), 16)
        if link_trace and link_span:
            links.append(Link(link_trace, link_span))
    events = []
    for event in _list(raw, "events", "events"):
        event = require_object(event, "event")
        name = event.get("name", "")
        if keep is not None and name != "exception":
            continue
        kept_event = exception_event(
            name, _int(_field(event, "timeUnixNano", "time_unix_nano", 0), '"timeUnixNano"'),
            attributes(_list(event, "attributes", "attributes"), None), keep is None)
        if kept_event is not None:
            events.append(kept_event)
    start = _int(_field(raw, "startTimeUnixNano", "start_time_unix_nano", 0), '"startTimeUnixNano"')
    end = _int(_field(raw, "endTimeUnixNano", "end_time_unix_nano", 0), '"endTimeUnixNano"')
    name = raw.get("name", "")
    return make_span(trace_id, span_id, parent_id, service, str(name), kind,
                     start, end, status, freeze(kept) if kept else EMPTY_ATTRS,
                     tuple(links), tuple(events), False)


def _request_spans(request, keep: frozenset[str] | None, where: str,
                   counts: dict[str, int]) -> Iterator:
    """Yield the spans of one request (None for each invalid one); raise ShapeError with place."""
    require_object(request, f"{where}: an OTLP/JSON request")
    for r, resource_spans in enumerate(_list(request, "resourceSpans", "resource_spans")):
        place = f"{where}resourceSpans[{r}]"
        try:
            resource_spans = require_object(resource_spans, "a resourceSpans entry")
            service = _service(resource_spans)
            scopes = _field(resource_spans, "scopeSpans", "scope_spans")
            if scopes is None:  # written by SDKs before OTLP 0.15
                scopes = _field(resource_spans, "instrumentationLibrarySpans",
                                "instrumentation_library_spans", [])
            if not isinstance(scopes, list):
                raise ShapeError('"scopeSpans" must be an array')
        except ShapeError as exc:
            raise ShapeError(f"{place}: {exc}") from None
        for s, scope_spans in enumerate(scopes):
            try:
                spans = _list(require_object(scope_spans, "a scopeSpans entry"), "spans", "spans")
            except ShapeError as exc:
                raise ShapeError(f"{place}.scopeSpans[{s}]: {exc}") from None
            for n, raw in enumerate(spans):
                try:
                    yield _span(require_object(raw, "a span"), service, keep, counts)
                except (ShapeError, TypeError, ValueError, AttributeError) as exc:
                    span_id = _field(raw, "spanId", "span_id") if isinstance(raw, dict) else None
                    at = span_place(f"{place}.scopeSpans[{s}].spans[{n}]", span_id)
                    raise ShapeError(f"{at}: {exc}") from None


def _collect(requests, keep, source: str, fmt: str) -> Decoded:
    spans: list = []
    counts = {INVALID_ID: 0, UNKNOWN_KIND: 0, UNKNOWN_STATUS: 0}
    try:
        for request, where in requests:
            for span in _request_spans(request, keep, where, counts):
                if span is not None:
                    spans.append(span)
    except ShapeError as exc:
        raise DecodeError(f"{source}: not a valid OTLP/JSON trace request: {exc}") from None
    return Decoded(spans, fmt, counts[INVALID_ID], issue_counts(counts))


def decode_otlp_json(document: dict, source: str, keep: frozenset[str] | None) -> Decoded:
    """Decode one parsed OTLP/JSON ``ExportTraceServiceRequest`` document."""
    return _collect([(document, "")], keep, source, FORMAT)


def decode_otlp_json_lines(text: str, source: str, keep: frozenset[str] | None) -> Decoded:
    """Decode JSON lines, one request per line (the Collector file exporter's format)."""
    requests = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            requests.append((json.loads(line), f"line {number}: "))
        except (ValueError, RecursionError) as exc:
            raise DecodeError(f"{source}: line {number} is not valid JSON ({exc}); OTLP/JSON "
                              "lines need one complete request object per line") from None
    return _collect(requests, keep, source, FORMAT_LINES)


def is_otlp_request(document) -> bool:
    """True when a parsed JSON value looks like an OTLP/JSON trace request."""
    return isinstance(document, dict) and (
        "resourceSpans" in document or "resource_spans" in document)


