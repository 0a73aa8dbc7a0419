"""OTLP protobuf ``ExportTraceServiceRequest`` → spans, through the slim schema.

This is the hot path of the collector and of ``critpath analyze`` on protobuf files, so
the loop is written for CPython's speed: one C-level call fetches a span's fields, locals
are bound once, nothing is allocated for a span without kept attributes, service names
are computed once per resource, ids go through ``bytes.hex()``, and each distinct raw
attribute is parsed once per request. ``bench/bench_decode.py`` measures it against a
bare protobuf parse of the same bytes.

When the compiled accelerator ``_otlpwire`` (``_otlpwire.c``, built at install time where
a C compiler exists) is present, it decodes well-formed requests in one C pass; anything
it finds unusual, and every error, is left to the slim-schema path below, so results and
error messages are the same with or without it.
"""

from __future__ import annotations

from itertools import repeat
from operator import attrgetter

from google.protobuf.message import DecodeError as ProtobufDecodeError

from analyzer.decode._common import (
    EMPTY_ATTRS,
    EXCEPTION_ATTRIBUTES,
    INVALID_ID,
    KIND_BY_NUMBER,
    STATUS_BY_NUMBER,
    UNKNOWN_KIND,
    UNKNOWN_SERVICE,
    UNKNOWN_STATUS,
    DecodeError,
    Decoded,
    bytes_text,
    freeze,
    issue_counts,
    make_span,
)
from analyzer.decode._slim import DetailRequest, SlimKeyValue, SlimRequest, SlimStatus
from analyzer.model import AttrValue, Event, Link, Span, SpanKind, StatusCode

try:
    from analyzer.decode import _otlpwire
except ImportError:  # built without a C compiler: the slim path does all the work
    _otlpwire = None

FORMAT = "otlp-protobuf"

#: Which decoder reads OTLP protobuf here: ``"compiled"`` or ``"python"``.
IMPLEMENTATION = "python" if _otlpwire is None else "compiled"

_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
# A Status holding only a code serializes to the two bytes ``0x18 code``.
_STATUS_BYTES = {b"": StatusCode.UNSET, b"\x18\x00": StatusCode.UNSET,
                 b"\x18\x01": StatusCode.OK, b"\x18\x02": StatusCode.ERROR}
# ``KeyValue{key: "service.name"}`` starts with these bytes (tag, length 12, key).
_SERVICE_NAME_PREFIX = b"\x0a\x0cservice.name"

#: One span's fields in one C-level call (cheaper than eleven attribute reads).
_ROW = attrgetter("trace_id", "span_id", "parent_span_id", "name", "kind",
                  "start_time_unix_nano", "end_time_unix_nano", "status", "attributes",
                  "events", "links")

_NOT_KEPT = ()  # what _learn returns for an attribute the caller does not keep (falsy)


def _key_prefixes(keep: frozenset[str]) -> dict[bytes, str]:
    """Serialized ``KeyValue`` prefixes (tag 0x0a, one-byte length, key) of the kept keys.

    Keys of 128 bytes or more have a two-byte length; they never match a prefix here and
    take the slow path, which parses the KeyValue.
    """
    table = {}
    for key in keep:
        encoded = key.encode()
        if len(encoded) < 0x80:
            table[b"\x0a" + bytes([len(encoded)]) + encoded] = key
    return table


def value_of(value) -> AttrValue | None:
    """A slim ``AnyValue`` message as a Python value (None when it holds nothing).

    Arrays become tuples, key-value lists tuples of ``(key, value)`` pairs and bytes
    base64 text (as OTLP/JSON writes them).
    """
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return tuple(v for v in map(value_of, value.array_value.values) if v is not None)
    if which == "kvlist_value":
        return tuple((kv.key, value_of(kv.value)) for kv in value.kvlist_value.values)
    if which == "bytes_value":
        return bytes_text(value.bytes_value)
    return getattr(value, which)


def _learn(raw: bytes, keep: frozenset[str] | None, source: str) -> tuple:
    """Parse one raw ``KeyValue``: ``(key, value)`` when kept, else ``()``."""
    kv = _parse(SlimKeyValue, raw, source, "attribute")
    if keep is not None and kv.key not in keep:
        return _NOT_KEPT
    value = value_of(kv.value)
    return _NOT_KEPT if value is None else (kv.key, value)


def _parse(message_class, data: bytes, source: str, what: str):
    """Parse a part the slim request kept as raw bytes (it was not validated then)."""
    try:
        return message_class.FromString(data)
    except ProtobufDecodeError as exc:
        raise DecodeError(f"{source}: OTLP protobuf has a malformed {what} ({exc}); the file "
                          "may be corrupt") from None


def _status(raw: bytes, source: str) -> StatusCode | None:
    """A Status that is not one of the common two-byte forms (e.g. it has a message);
    None for a code outside the enum, which the caller counts and reads as UNSET."""
    code = _parse(SlimStatus, raw, source, "span status").code
    return STATUS_BY_NUMBER[code] if 0 <= code < 3 else None


def _service(resource_attributes, source: str) -> str:
    """The resource's ``service.name`` (the last one wins, as in a protobuf map)."""
    service = UNKNOWN_SERVICE
    for raw in resource_attributes:
        if raw.startswith(_SERVICE_NAME_PREFIX):
            kept = _learn(raw, None, source)
            if kept and kept[0] == "service.name" and isinstance(kept[1], str) and kept[1]:
                service = kept[1]
    return service


def decode_otlp_protobuf(data: bytes, source: str,
                         keep: frozenset[str] | None) -> Decoded:
    """Decode an OTLP protobuf ``ExportTraceServiceRequest``.

    Raises :class:`DecodeError` when the bytes are not a well-formed request or hold no
    ``resource_spans`` at all (random bytes often happen to be valid wire format).
    """
    if _otlpwire is not None:
        decoded = compiled_decode(data, keep)
        if decoded is not None:
            return decoded
    return python_decode(data, source, keep)


def compiled_decode(data: bytes, keep: frozenset[str] | None) -> Decoded | None:
    """The compiled decoder's result, or None when it leaves the input to the slim path
    (malformed, unusual, or no accelerator built)."""
    if _otlpwire is None:
        return None
    result = _otlpwire.decode(data, keep, Span, Link, Event, KIND_BY_NUMBER,
                              STATUS_BY_NUMBER, EXCEPTION_ATTRIBUTES, UNKNOWN_SERVICE, EMPTY_ATTRS)
    if result is None:
        return None
    # It steps aside from kind and status numbers outside the enums, so it has no issue
    # but invalid ids to count.
    return Decoded(result[0], FORMAT, result[1], issue_counts({INVALID_ID: result[1]}))


def python_decode(data: bytes, source: str, keep: frozenset[str] | None) -> Decoded:
    """The slim-schema decoder: the reference the compiled one must agree with."""
    try:
        request = SlimRequest.FromString(data)
    except ProtobufDecodeError as exc:
        raise DecodeError(
            f"{source}: not valid OTLP protobuf ({exc}); the file may be truncated or not a "
            "trace file. critpath reads OTLP protobuf (ExportTraceServiceRequest), OTLP/JSON, "
            "OTLP/JSON lines, Jaeger JSON and Zipkin v2 JSON") from None
    if not request.resource_spans:
        raise DecodeError(
            f"{source}: no OTLP resource spans found; this is not an OTLP protobuf "
            "ExportTraceServiceRequest (nor JSON: it does not start with '{' or '[')")
    spans: list = []
    append = spans.append
    invalid = odd_kinds = odd_statuses = 0
    detail = None  # parsed on first need: most requests carry no events or links
    # Raw KeyValue bytes -> (key, value) when kept, () when not; for this request only.
    seen: dict[bytes, tuple] = {}
    seen_get = seen.get
    unseen = repeat(None)
    prefixes_get = _key_prefixes(keep or frozenset()).get

    def classify(raw: bytes) -> tuple:
        """``(key, value)`` or ``()`` for a raw KeyValue not seen before."""
        # A KeyValue starts ``0x0a len key``: look the prefix up instead of parsing; most
        # attributes are not kept. Other layouts (long keys, odd order) are parsed.
        if keep is not None and len(raw) > 1 and raw[0] == 0x0A and raw[1] < 0x80 \
                and prefixes_get(raw[:2 + raw[1]]) is None:
            return _NOT_KEPT
        return _learn(raw, keep, source)

    span = make_span
    row = _ROW
    kinds = KIND_BY_NUMBER
    statuses = _STATUS_BYTES
    internal = SpanKind.INTERNAL
    empty = EMPTY_ATTRS
    zero_trace, zero_span = _ZERO_TRACE, _ZERO_SPAN
    for i, resource_spans in enumerate(request.resource_spans):
        service = _service(resource_spans.resource.attributes, source)
        for j, scope_spans in enumerate(resource_spans.scope_spans):
            detail_spans = None
            for k, (trace_id, span_id, parent, name, kind, start, end, raw_status, attrs,
                    has_events, has_links) in enumerate(map(row, scope_spans.spans)):
                if (len(trace_id) != 16 or len(span_id) != 8 or trace_id == zero_trace
                        or span_id == zero_span):
                    invalid += 1
                    continue
                if not parent or parent == zero_span:
                    parent_id = None
                elif len(parent) == 8:
                    parent_id = parent.hex()
                else:
                    invalid += 1
                    continue
                status = statuses.get(raw_status)
                if status is None:
                    status = _status(raw_status, source)
                    if status is None:  # a code outside the enum: UNSET, the default
                        status = StatusCode.UNSET
                        odd_statuses += 1
                if 0 <= kind < 6:
                    kind = kinds[kind]
                else:  # outside the enum: INTERNAL, as for UNSPECIFIED
                    kind = internal
                    odd_kinds += 1
                if attrs:
                    # Each distinct raw KeyValue is classified once per request; the
                    # lookups of the ones seen before run in C.
                    hits = tuple(map(seen_get, attrs, unseen))
                    if None in hits:
                        hits = list(hits)
                        at = hits.index(None)
                        while True:
                            raw = attrs[at]
                            hits[at] = seen[raw] = classify(raw)
                            if None not in hits:
                                break
                            at = hits.index(None, at + 1)
                    kept = dict(filter(None, hits))
                    attributes = freeze(kept) if kept else empty
                else:
                    attributes = empty
                links = events = ()
                if has_events or has_links:
                    if detail_spans is None:
                        if detail is None:
                            detail = _parse(DetailRequest, data, source, "event or link")
                        detail_spans = detail.resource_spans[i].scope_spans[j].spans
                    full = detail_spans[k]
                    if has_links:
                        links = _links(full.links)
                    if has_events:
                        events = _events(full.events, keep, source)
                append(span(
                    trace_id.hex(), span_id.hex(), parent_id, service, name, kind,
                    start, end, status, attributes, links, events, False,
                ))
    return Decoded(spans, FORMAT, invalid, issue_counts(
        {INVALID_ID: invalid, UNKNOWN_KIND: odd_kinds, UNKNOWN_STATUS: odd_statuses}))


def _links(links) -> tuple[Link, ...]:
    """Links with valid ids (a link to an invalid id carries no information)."""
    out = []
    for link in links:
        trace_id, span_id = link.trace_id, link.span_id
        if (len(trace_id) == 16 and len(span_id) == 8 and trace_id != _ZERO_TRACE
                and span_id != _ZERO_SPAN):
            out.append(Link(trace_id.hex(), span_id.hex()))
    return tuple(out)


def _events(events, keep: frozenset[str] | None, source: str) -> tuple[Event, ...]:
    """Exception events with their exception attributes; every event when keeping all."""
    out = []
    for event in events:
        name = event.name
        if keep is not None and name != "exception":
            continue
        wanted = None if keep is None else EXCEPTION_ATTRIBUTES
        kept = dict(filter(None, (_learn(raw, wanted, source) for raw in event.attributes)))
        out.append(Event(name, event.time_unix_nano, freeze(kept)))
    return tuple(out)
