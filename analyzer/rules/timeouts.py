"""Reading timeouts off spans: declared ones (attributes) and observed ones (errors).

A *declared* timeout is an attribute a client span carries when the caller told the
callee (or its proxy) how long it will wait: Envoy's ``x-envoy-expected-rq-timeout-ms``,
gRPC's ``grpc-timeout`` metadata, or the bank's ``x-bank-timeout-ms`` header. An
*observed* timeout is a client span that ended in error because the caller gave up:
an ``error.type`` or exception type naming a timeout, or gRPC ``DEADLINE_EXCEEDED``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from collections.abc import Iterable, Mapping

from analyzer.model import AttrValue, Span

__all__ = ["declared_timeout", "parse_timeout_ms", "is_observed_timeout", "names_timeout"]

# A number with an optional unit. Units are case-sensitive because gRPC's are: "M" is
# minutes and "m" milliseconds (grpc-timeout = digits + one of H M S m u n). "ms", "s",
# "us" and "ns" are the human spellings people put in their own headers.
_TIMEOUT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|us|ns|s|H|M|S|m|u|n)?\s*$")
_MS_PER_UNIT: Mapping[str, float] = {
    "": 1.0, "ms": 1.0, "m": 1.0,
    "s": 1000.0, "S": 1000.0, "M": 60_000.0, "H": 3_600_000.0,
    "us": 0.001, "u": 0.001, "ns": 0.000001, "n": 0.000001,
}

_GRPC_DEADLINE_EXCEEDED = 4
_TIMEOUT_WORDS = ("timeout", "timedout", "timed out", "timed_out", "deadline")


def parse_timeout_ms(value: AttrValue | None) -> float | None:
    """A timeout attribute's value in milliseconds, or ``None`` when it is not one.

    Header attributes are string arrays per the semantic conventions (decoders turn
    them into tuples), so the first element is read. Bare numbers are milliseconds.

    >>> [parse_timeout_ms(v) for v in (("2000",), "2000ms", "2S", "500m", "100u", 250)]
    [2000.0, 2000.0, 2000.0, 500.0, 0.1, 250.0]
    >>> parse_timeout_ms("soon") is None, parse_timeout_ms(()) is None
    (True, True)
    """
    if isinstance(value, tuple):
        value = value[0] if value else None
    if value.__class__ is str:
        return _parse_text(value)  # the usual case, first
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    return _parse_text(value if value.__class__ is str else str(value))


@lru_cache(maxsize=1024)
def _parse_text(text: str) -> float | None:
    """A timeout written as text, in ms (callers send the same few values, hence the cache)."""
    match = _TIMEOUT_RE.match(text)
    if match is None:
        return None
    return float(match.group(1)) * _MS_PER_UNIT[match.group(2) or ""]


def declared_timeout(
    attributes: Mapping[str, AttrValue], keys: Iterable[str]
) -> tuple[bool, float | None]:
    """Whether any of ``keys`` declares a timeout, and its value in ms (first parseable key).

    A key that is present but unparseable still *declares* a timeout (the caller clearly
    sets one); it just gives no number to compare.
    """
    keys = tuple(keys)  # read twice below (a tuple is returned as is)
    if attributes.keys().isdisjoint(keys):
        return False, None  # most spans: one C-level check instead of a lookup per key
    declared = False
    for key in keys:
        value = attributes.get(key)
        if value is None:
            continue
        declared = True
        ms = parse_timeout_ms(value)
        if ms is not None:
            return True, ms
    return declared, None


def names_timeout(text: object) -> bool:
    """True when an error or exception type names a timeout.

    >>> [names_timeout(t) for t in ("httpx.ReadTimeout", "DEADLINE_EXCEEDED", "500")]
    [True, True, False]
    """
    lowered = str(text).lower()
    return any(word in lowered for word in _TIMEOUT_WORDS)


def is_observed_timeout(span: Span) -> bool:
    """True when ``span`` (a client span) ended because its caller's timeout fired.

    The status is not required to be ERROR: ``error.type``, a gRPC status code and
    exception events are only recorded on failures, and some instrumentations leave the
    status unset.
    """
    attrs = span.attributes
    if "error.type" in attrs and names_timeout(attrs["error.type"]):
        return True
    status = attrs.get("rpc.grpc.status_code")
    if status == _GRPC_DEADLINE_EXCEEDED or (isinstance(status, str) and names_timeout(status)):
        return True
    events = span.events
    return bool(events) and any(
        names_timeout(event.attributes.get("exception.type", ""))
        for event in events
        if event.name == "exception"
    )
