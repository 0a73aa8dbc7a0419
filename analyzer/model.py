"""The span model every part of critpath shares (ARCHITECTURE.md §2).

Values here are immutable and carry only what the analysis needs. Decoders build
them; assembly groups them into :class:`Trace`; everything else reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType

AttrValue = str | int | float | bool | tuple

EMPTY_ATTRS: Mapping[str, AttrValue] = MappingProxyType({})


class SpanKind(IntEnum):
    """Span kinds, numbered as OTLP numbers them (UNSPECIFIED decodes to INTERNAL)."""

    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(IntEnum):
    """Span status codes, numbered as OTLP numbers them."""

    UNSET = 0
    OK = 1
    ERROR = 2


@dataclass(frozen=True, slots=True)
class Link:
    """A causal link to a span that is not this span's parent (often in another trace)."""

    trace_id: str
    span_id: str


@dataclass(frozen=True, slots=True)
class Event:
    """A timed event on a span; decoders keep the ones the rules read (exceptions)."""

    name: str
    time_ns: int
    attributes: Mapping[str, AttrValue] = field(default_factory=lambda: EMPTY_ATTRS)


@dataclass(frozen=True, slots=True)
class Span:
    """One operation: ids are lowercase hex (32 chars trace, 16 chars span), times in ns.

    ``follows_from`` is true when the parent reference is asynchronous (Jaeger's
    FOLLOWS_FROM): such a span never lies on its parent's critical path.
    """

    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    name: str
    kind: SpanKind
    start_ns: int
    end_ns: int
    status: StatusCode = StatusCode.UNSET
    attributes: Mapping[str, AttrValue] = field(default_factory=lambda: EMPTY_ATTRS)
    links: tuple[Link, ...] = ()
    events: tuple[Event, ...] = ()
    follows_from: bool = False

    @property
    def duration_ns(self) -> int:
        """Length of the span, never negative."""
        return max(0, self.end_ns - self.start_ns)

    @property
    def is_error(self) -> bool:
        """True when the span's status is ERROR."""
        return self.status is StatusCode.ERROR


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a critical path: ``span_id`` owned the latency in ``[start_ns, end_ns)``."""

    span_id: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True, slots=True)
class Trace:
    """The spans of one trace, assembled into a forest.

    ``children`` maps a span id to its children's ids ordered by start time;
    ``roots`` lists true roots (no parent) first, then orphans (parent missing),
    each group ordered by start time. ``duplicates`` counts spans dropped because
    their span id was already present.
    """

    trace_id: str
    spans: Mapping[str, Span]
    children: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    roots: tuple[str, ...] = ()
    orphans: tuple[str, ...] = ()
    duplicates: int = 0

    @property
    def root(self) -> Span | None:
        """The primary root: the earliest true root, else the earliest orphan."""
        return self.spans[self.roots[0]] if self.roots else None

    def child_spans(self, span_id: str) -> list[Span]:
        """The children of ``span_id``, ordered by start time."""
        spans = self.spans
        return [spans[c] for c in self.children.get(span_id, ())]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A user journey: the root span's service and name (ARCHITECTURE.md §3)."""

    service: str
    name: str

    def __str__(self) -> str:
        return f"{self.service} {self.name}"
