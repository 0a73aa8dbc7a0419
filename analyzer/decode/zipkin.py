"""Zipkin v2 JSON (a list of spans, as ``/api/v2/trace`` returns and ``/api/v2/spans``
accepts) → spans.

Times are microseconds; ``kind`` is CLIENT, SERVER, PRODUCER or CONSUMER (absent: a local,
INTERNAL span); the service is ``localEndpoint.serviceName``. The ``remoteEndpoint``
names the peer, which the service graph needs: its ``serviceName`` becomes
``peer.service`` and its address ``server.address`` on CLIENT/PRODUCER spans
(``client.address`` on SERVER/CONSUMER ones), unless tags already carry them.
"""

from __future__ import annotations

import json

from analyzer.decode._common import (
    EMPTY_ATTRS,
    INVALID_ID,
    KIND_BY_NAME,
    NO_START_TIME,
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
from analyzer.model import AttrValue, SpanKind, StatusCode

FORMAT = "zipkin-json"

# Zipkin tags are all strings; these keys hold integers in every other format, so they
# are converted to keep values comparable across formats.
_INTEGER_TAGS = frozenset({"http.response.status_code", "http.status_code",
                           "rpc.grpc.status_code", "server.port"})
_CONSUMED_TAGS = frozenset({"otel.status_code", "error"})


def _annotation_event(annotation: dict, keep_all: bool):
    """An exception annotation as an Event.

    OpenTelemetry's Zipkin exporters write an event as an annotation whose value is either
    ``{"name": {attributes}}`` (Python) or ``name:{attributes}`` / ``name`` (Java, Go).
    """
    value = str(annotation.get("value", ""))
    time_ns = micros(annotation.get("timestamp", 0), "annotations[].timestamp") * 1000
    name, attributes = value, {}
    try:
        parsed = json.loads(value) if value.startswith("{") else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and len(parsed) == 1:
        name, attrs = next(iter(parsed.items()))
        attributes = attrs if isinstance(attrs, dict) else {}
    elif ":" in value and value.split(":", 1)[1].startswith("{"):
        head, tail = value.split(":", 1)
        try:
            attrs = json.loads(tail)
        except ValueError:
            attrs = None
        if isinstance(attrs, dict):
            name, attributes = head, attrs
    attributes = {str(k): v if isinstance(v, (str, int, float, bool)) else str(v)
                  for k, v in attributes.items()}
    return exception_event(str(name), time_ns, attributes, keep_all)


def _span(raw: dict, keep: frozenset[str] | None, counts: dict[str, int]):
    """One Zipkin span as a Span; or None, counting in ``counts`` why it is skipped."""
    trace_id = hex_id(raw.get("traceId"), 32, pad=True)
    span_id = hex_id(raw.get("id"), 16, pad=True)
    parent_id = parent_hex_id(raw.get("parentId"), pad=True)
    if trace_id is None or span_id is None or parent_id is False:
        counts[INVALID_ID] += 1
        return None
    # Zipkin leaves "timestamp" out of a span whose start was not recorded (one allocated
    # but never started, late data about a finished span) and writes 0 as absent: such a
    # span cannot be placed in time. An absent "duration" is kept as zero-length: Zipkin
    # itself writes a zero duration by leaving the field out.
    start = micros(raw.get("timestamp") or 0, "timestamp") * 1000
    if not start:
        counts[NO_START_TIME] += 1
        return None
    end = start + micros(raw.get("duration") or 0, "duration") * 1000
    tags = raw.get("tags") or {}
    require_object(tags, '"tags"')
    kind = KIND_BY_NAME.get(str(raw.get("kind", "")).lower(), SpanKind.INTERNAL)
    code = str(tags.get("otel.status_code", "")).upper()
    if code in ("ERROR", "OK"):
        status = StatusCode.ERROR if code == "ERROR" else StatusCode.OK
    else:  # in Zipkin the presence of an "error" tag marks a failed span; its value is a message
        status = StatusCode.ERROR if "error" in tags else StatusCode.UNSET
    attributes: dict[str, AttrValue] = {}
    for key, value in tags.items():
        if key in _CONSUMED_TAGS or (keep is not None and key not in keep):
            continue
        if key in _INTEGER_TAGS and isinstance(value, str) and value.isdigit():
            value = int(value)
        attributes[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
    remote = raw.get("remoteEndpoint")
    if isinstance(remote, dict):
        address = remote.get("ipv4") or remote.get("ipv6")
        address_key = ("server.address" if kind in (SpanKind.CLIENT, SpanKind.PRODUCER)
                       else "client.address")
        for key, value in (("peer.service", remote.get("serviceName")), (address_key, address)):
            if value and key not in tags and (keep is None or key in keep):
                attributes[key] = str(value)
    local = raw.get("localEndpoint")
    service = (local.get("serviceName") if isinstance(local, dict) else None) or UNKNOWN_SERVICE
    events = []
    for annotation in raw.get("annotations") or ():
        require_object(annotation, "an annotation")
        event = _annotation_event(annotation, keep is None)
        if event is not None:
            events.append(event)
    return make_span(trace_id, span_id, parent_id, str(service), str(raw.get("name", "")),
                     kind, start, end, status, freeze(attributes) if attributes else EMPTY_ATTRS,
                     (), tuple(events), False)


def is_zipkin(document) -> bool:
    """True for a JSON array whose first element looks like a Zipkin v2 span (or is empty)."""
    if not isinstance(document, list):
        return False
    first = document[0] if document else {"traceId": ""}
    if isinstance(first, list):  # several traces: a list of span lists
        first = first[0] if first else {"traceId": ""}
    return isinstance(first, dict) and "traceId" in first


def decode_zipkin(document: list, source: str, keep: frozenset[str] | None) -> Decoded:
    """Decode a parsed Zipkin v2 span list. A list of lists (several traces, as
    ``/api/v2/traces`` returns) is read too."""
    spans: list = []
    counts = {INVALID_ID: 0, NO_START_TIME: 0}
    flat = document
    if document and isinstance(document[0], list):
        if not all(isinstance(item, list) for item in document):
            raise DecodeError(f"{source}: not a valid Zipkin v2 trace list: every element must "
                              "be an array of spans")
        flat = [span for trace in document for span in trace]
    for n, raw in enumerate(flat):
        try:
            require_object(raw, "a span")
            if "binaryAnnotations" in raw:
                raise ShapeError("this is Zipkin v1 JSON (binaryAnnotations); export Zipkin v2 "
                                 "(/api/v2) instead")
            span = _span(raw, keep, counts)
        except (ShapeError, TypeError, ValueError, AttributeError) as exc:
            where = span_place(f"[{n}]", raw.get("id") if isinstance(raw, dict) else None)
            raise DecodeError(f"{source}: not a valid Zipkin v2 span list: {where}: "
                              f"{exc}") from None
        if span is not None:
            spans.append(span)
    return Decoded(spans, FORMAT, sum(counts.values()), issue_counts(counts))
