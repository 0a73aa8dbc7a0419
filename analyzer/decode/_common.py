"""What every decoder shares: the result type, the error types, the attribute keys the
analysis reads, JSON shape checks, id normalisation and the fast span constructor."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from analyzer.config import DEFAULT_TIMEOUT_KEYS
from analyzer.model import EMPTY_ATTRS, AttrValue, Event, Span, SpanKind, StatusCode

#: Attribute keys the analysis reads (service graph peers, endpoints, rules, timeouts).
#: Decoders materialise only these unless the caller passes a bigger set or ``None``.
ANALYSIS_ATTRIBUTES: frozenset[str] = frozenset({
    # virtual peers of the service graph (ARCHITECTURE.md §4)
    "peer.service", "server.address", "server.port", "net.peer.name",
    "db.system", "db.system.name", "db.name", "db.namespace", "db.operation",
    "db.operation.name",
    "messaging.system", "messaging.destination.name", "messaging.operation",
    "messaging.operation.type",
    # what a call does (reads vs writes) and how it ended
    "http.request.method", "http.method", "http.route", "url.path",
    # which operation a client-only call asked for (retries of one operation, rules/calls)
    "url.template", "http.target", "url.full", "http.url",
    "http.response.status_code", "http.status_code",
    "rpc.system", "rpc.service", "rpc.method", "rpc.grpc.status_code",
    "error.type", "exception.type", "exception.message",
    *DEFAULT_TIMEOUT_KEYS,
})

#: Attributes kept on exception events in analysis mode (the rules read the type).
EXCEPTION_ATTRIBUTES: frozenset[str] = frozenset({"exception.type", "exception.message"})

UNKNOWN_SERVICE = "unknown_service"

KIND_BY_NAME: Mapping[str, SpanKind] = MappingProxyType({
    "server": SpanKind.SERVER, "client": SpanKind.CLIENT, "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER, "internal": SpanKind.INTERNAL,
})

#: OTLP's numeric kinds, index = wire value; 0 (UNSPECIFIED) reads as INTERNAL.
KIND_BY_NUMBER: tuple[SpanKind, ...] = (
    SpanKind.INTERNAL, SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT,
    SpanKind.PRODUCER, SpanKind.CONSUMER,
)

STATUS_BY_NUMBER: tuple[StatusCode, ...] = (StatusCode.UNSET, StatusCode.OK, StatusCode.ERROR)

_HEX_DIGITS = frozenset("0123456789abcdef")


class DecodeError(ValueError):
    """Input that is not a trace file critpath can read; the message starts with the source."""


class ShapeError(Exception):
    """Internal to the JSON decoders: a value of the wrong type at a known place.

    Never escapes a decoder: each one catches it and raises :class:`DecodeError` with the
    source and the path to the bad value in front of this message.
    """


def require_object(value: object, what: str) -> dict:
    """``value`` when it is a JSON object; else :class:`ShapeError` saying ``what`` must be
    one and what it is instead (``a span must be an object, got list``)."""
    if not isinstance(value, dict):
        raise ShapeError(f"{what} must be an object, got {type(value).__name__}")
    return value


# What ``Decoded.issues`` counts. Spans with the first three are skipped (and make up
# ``Decoded.invalid_spans``); spans with the others are kept with the value the model
# gives an absent field.
INVALID_ID = "invalid_id"
"""A trace, span or parent id missing, all-zero, of the wrong length or not hex."""
NO_START_TIME = "no_start_time"
"""Jaeger ``startTime`` or Zipkin ``timestamp`` absent (Zipkin: or 0, which it means as
absent): the span cannot be placed in time."""
NO_DURATION = "no_duration"
"""Jaeger ``duration`` absent (Jaeger always writes it, 0 included)."""
UNKNOWN_PROCESS = "unknown_process"
"""A Jaeger span whose ``processID`` names no entry of ``processes`` (or that has neither
a ``processID`` nor an embedded ``process``): its service reads as ``unknown_service``."""
UNKNOWN_KIND = "unknown_kind"
"""An OTLP span kind number outside the enum (0-5): read as INTERNAL, as for UNSPECIFIED."""
UNKNOWN_STATUS = "unknown_status"
"""An OTLP status code outside the enum (0-2): read as UNSET, the specification's default."""

#: The issues whose spans are skipped rather than kept.
SKIPPING_ISSUES: frozenset[str] = frozenset({INVALID_ID, NO_START_TIME, NO_DURATION})

# One line per issue, in this order; {n} is the count, {start} the format's field name.
_ISSUE_MESSAGES = {
    INVALID_ID: "skipped {n} span(s) with invalid ids",
    NO_START_TIME: "skipped {n} span(s) with no start time ({start})",
    NO_DURATION: 'skipped {n} span(s) with no end time ("duration" missing)',
    UNKNOWN_PROCESS: '{n} span(s) name no process listed in "processes"; their service '
                     "reads as unknown_service",
    UNKNOWN_KIND: "{n} span(s) have an unknown span kind number; read as INTERNAL",
    UNKNOWN_STATUS: "{n} span(s) have an unknown status code; read as UNSET",
}
_START_FIELD = {"jaeger-json": '"startTime" missing', "zipkin-json": '"timestamp" missing or 0'}

_NO_ISSUES: Mapping[str, int] = MappingProxyType({})


def issue_counts(counts: dict[str, int]) -> Mapping[str, int]:
    """A decoder's issue counts as ``Decoded.issues`` (only the non-zero ones, read-only)."""
    counts = {issue: n for issue, n in counts.items() if n}
    return MappingProxyType(counts) if counts else _NO_ISSUES


@dataclass(frozen=True, slots=True)
class Decoded:
    """The spans decoded from one input, the detected format, how many spans were
    skipped as invalid, and what was wrong with the input, counted by issue.

    ``invalid_spans`` is the number of spans skipped (an invalid id, or no start or end
    time); ``issues`` counts them by reason (``INVALID_ID``, ``NO_START_TIME``,
    ``NO_DURATION``) together with spans that were kept with a substitute value
    (``UNKNOWN_PROCESS``, ``UNKNOWN_KIND``, ``UNKNOWN_STATUS``). :meth:`warnings` says
    each in one line.
    """

    spans: list[Span]
    format: str
    invalid_spans: int = 0
    issues: Mapping[str, int] = field(default_factory=lambda: _NO_ISSUES)

    def warnings(self) -> list[str]:
        """One line per issue, e.g. ``skipped 2 span(s) with invalid ids``; prefix the
        source to print it. Empty when the input had none."""
        issues = dict(self.issues)
        unexplained = self.invalid_spans - sum(n for issue, n in issues.items()
                                               if issue in SKIPPING_ISSUES)
        if unexplained > 0:  # a Decoded built with a bare count: those are invalid ids
            issues[INVALID_ID] = issues.get(INVALID_ID, 0) + unexplained
        start = _START_FIELD.get(self.format, "missing")
        return [message.format(n=issues[issue], start=start)
                for issue, message in _ISSUE_MESSAGES.items() if issues.get(issue)]


def micros(value: object, field: str) -> int:
    """A Jaeger or Zipkin time in integer microseconds (JSON numbers, or decimal strings
    as some writers quote them); else :class:`ShapeError` naming ``field``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ShapeError(f'"{field}" must be an integer number of microseconds, got {value!r}')


def span_place(place: str, span_id: object) -> str:
    """Where a span is, for error messages: ``data[0].spans[3] (span 4bf92f3577b34da6)``."""
    if isinstance(span_id, str) and span_id:
        shown = span_id[:40]
        return f"{place} (span {shown if shown.isprintable() else ascii(shown)})"
    return place


def hex_id(text: object, width: int, *, pad: bool = False) -> str | None:
    """``text`` as a lowercase hex id of ``width`` characters, or None if it is not one.

    All-zero ids are invalid (OTLP). ``pad`` left-pads shorter ids with zeros, as Zipkin
    and Jaeger do for 64-bit trace ids and ids printed without leading zeros.
    """
    if not isinstance(text, str):
        return None
    text = text.lower()
    if len(text) != width:
        if not pad or not 0 < len(text) < width:
            return None
        text = text.rjust(width, "0")
    if not _HEX_DIGITS.issuperset(text) or text.count("0") == width:
        return None
    return text


def parent_hex_id(text: object, *, pad: bool = False) -> str | None | bool:
    """A parent span id: None when absent, empty or all-zero (a root); False when invalid."""
    if text is None or text == "" or (isinstance(text, str) and text.strip("0") == ""):
        return None
    return hex_id(text, 16, pad=pad) or False


def bytes_text(value: bytes) -> str:
    """Byte attribute values become base64 text, as OTLP/JSON writes them, so a value reads
    the same whichever format carried it."""
    return base64.b64encode(value).decode("ascii")


def freeze(attributes: dict[str, AttrValue]) -> Mapping[str, AttrValue]:
    """A read-only view of decoded attributes (the shared empty mapping when there are none)."""
    return MappingProxyType(attributes) if attributes else EMPTY_ATTRS


def exception_event(name: str, time_ns: int, attributes: dict[str, AttrValue],
                    keep_all: bool) -> Event | None:
    """The :class:`Event` to keep for a decoded event, or None to drop it.

    In analysis mode (``keep_all`` false) only exception events survive, with their
    ``exception.type`` and ``exception.message``; with ``keep_all`` every event does.
    """
    if keep_all:
        return Event(name, time_ns, freeze(attributes))
    if name != "exception":
        return None
    kept = {k: v for k, v in attributes.items() if k in EXCEPTION_ATTRIBUTES}
    return Event(name, time_ns, freeze(kept))


class _UnfrozenSpan:
    """Builds a :class:`Span` about six times faster than ``Span(...)``.

    A frozen dataclass's ``__init__`` must set each field through ``object.__setattr__``,
    a call per field that costs more than the protobuf parse of the whole span. This class
    has exactly ``Span``'s slot layout, so its ``__init__`` stores fields with plain
    attribute stores and then re-labels the object as a ``Span`` (``__class__`` assignment
    is allowed between types with identical slots). The result *is* a ``Span``: same
    type, equality, repr and immutability; tests check that.
    """

    __slots__ = Span.__slots__

    def __init__(self, trace_id: str, span_id: str, parent_id: str | None, service: str,
                 name: str, kind: SpanKind, start_ns: int, end_ns: int, status: StatusCode,
                 attributes: Mapping[str, AttrValue], links: tuple, events: tuple,
                 follows_from: bool) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.service = service
        self.name = name
        self.kind = kind
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.status = status
        self.attributes = attributes
        self.links = links
        self.events = events
        self.follows_from = follows_from
        self.__class__ = Span  # type: ignore[assignment]


#: ``make_span(trace_id, span_id, parent_id, service, name, kind, start_ns, end_ns,
#: status, attributes, links, events, follows_from) -> Span``, all arguments positional.
make_span = _UnfrozenSpan
