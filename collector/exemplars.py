"""Exemplar traces: per endpoint, the slowest few and a few recent ones, kept whole.

They are what a person clicks on in the dashboard or TUI to see *why* an endpoint is
slow, so each is stored as its finished ``critpath.trace/v1`` document. Building that
document costs a little, so only admitted traces pay it, and "recent" admissions are
rate-limited per endpoint (otherwise every trace would be admitted as the most recent).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from analyzer.aggregate import TraceContext
from analyzer.model import Endpoint
from analyzer.report import trace_document
from collector.settings import CollectorSettings


@dataclass(frozen=True, slots=True, eq=False)
class Exemplar:
    """One kept trace: what lists show, plus the whole document for drill-down.

    Compared by identity (``eq=False``): membership tests must not compare documents.
    """

    trace_id: str
    service: str
    name: str
    duration_ns: int
    error: bool
    start_ns: int
    received_at: float
    document: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """The row ``LiveView.exemplars`` returns."""
        return {"trace_id": self.trace_id, "duration_ms": round(self.duration_ns / 1e6, 3),
                "error": self.error, "start_ns": self.start_ns}


@dataclass(slots=True)
class _EndpointExemplars:
    slowest: list[Exemplar] = field(default_factory=list)  # slowest first
    recent: deque[Exemplar] = field(default_factory=deque)  # newest last
    last_recent: float = float("-inf")


class Exemplars:
    """The exemplar set (thread-safe); ``take_new`` hands newly kept ones to the store."""

    def __init__(self, settings: CollectorSettings) -> None:
        self._slowest = settings.exemplars_slowest
        self._recent = settings.exemplars_recent
        self._interval = settings.exemplar_recent_interval_seconds
        self._max_endpoints = settings.max_exemplar_endpoints
        self._lock = threading.Lock()
        self._by_endpoint: dict[Endpoint, _EndpointExemplars] = {}
        self._by_id: dict[str, Exemplar] = {}
        self._new: list[Exemplar] = []

    def offer(self, ctx: TraceContext, now: float) -> bool:
        """Keep ``ctx``'s trace if it is among the slowest or due as a recent one."""
        with self._lock:
            slot = self._by_endpoint.get(ctx.endpoint)
            if slot is None:
                if len(self._by_endpoint) >= self._max_endpoints:
                    return False
                slot = self._by_endpoint[ctx.endpoint] = _EndpointExemplars()
            slow = self._slowest > 0 and (
                len(slot.slowest) < self._slowest
                or ctx.duration_ns > slot.slowest[-1].duration_ns)
            recent = self._recent > 0 and now - slot.last_recent >= self._interval
            if not (slow or recent) or ctx.trace.trace_id in self._by_id:
                return False
        # Build the document outside the lock: readers must not wait for it.
        exemplar = _exemplar(ctx, now)
        with self._lock:
            if slow:
                slot.slowest.append(exemplar)
                slot.slowest.sort(key=lambda e: -e.duration_ns)
                while len(slot.slowest) > self._slowest:
                    self._forget(slot, slot.slowest.pop())
            if recent:
                slot.last_recent = now
                slot.recent.append(exemplar)
                while len(slot.recent) > self._recent:
                    self._forget(slot, slot.recent.popleft())
            if exemplar in slot.slowest or exemplar in slot.recent:
                self._by_id[exemplar.trace_id] = exemplar
                self._new.append(exemplar)
                return True
        return False

    def _forget(self, slot: _EndpointExemplars, exemplar: Exemplar) -> None:
        if exemplar not in slot.slowest and exemplar not in slot.recent:
            self._by_id.pop(exemplar.trace_id, None)

    def document(self, trace_id: str) -> dict[str, Any] | None:
        """The kept ``critpath.trace/v1`` document of ``trace_id``, if kept."""
        with self._lock:
            exemplar = self._by_id.get(trace_id)
        return exemplar.document if exemplar else None

    def summaries(self, service: str, name: str) -> list[dict[str, Any]]:
        """The endpoint's exemplars, slowest first, each once (with ``kind``)."""
        with self._lock:
            slot = self._by_endpoint.get(Endpoint(service, name))
            if slot is None:
                return []
            rows: dict[str, dict[str, Any]] = {}
            for exemplar in slot.slowest:
                rows[exemplar.trace_id] = {**exemplar.summary(), "kind": "slowest"}
            for exemplar in reversed(slot.recent):
                rows.setdefault(exemplar.trace_id, {**exemplar.summary(), "kind": "recent"})
        return sorted(rows.values(), key=lambda row: -row["duration_ms"])

    def take_new(self) -> list[Exemplar]:
        """Exemplars kept since the last call (for the store to persist)."""
        with self._lock:
            new, self._new = self._new, []
        return new

    def restore(self, exemplars: list[Exemplar]) -> None:
        """Reload kept exemplars (oldest first) after a restart, without re-persisting them."""
        with self._lock:
            for exemplar in exemplars:
                endpoint = Endpoint(exemplar.service, exemplar.name)
                slot = self._by_endpoint.get(endpoint)
                if slot is None:
                    if len(self._by_endpoint) >= self._max_endpoints:
                        continue
                    slot = self._by_endpoint[endpoint] = _EndpointExemplars()
                slot.slowest.append(exemplar)
                slot.slowest.sort(key=lambda e: -e.duration_ns)
                del slot.slowest[self._slowest:]
                slot.recent.append(exemplar)
                while len(slot.recent) > self._recent:
                    slot.recent.popleft()
            self._by_id = {e.trace_id: e for slot in self._by_endpoint.values()
                           for e in (*slot.slowest, *slot.recent)}


def _exemplar(ctx: TraceContext, now: float) -> Exemplar:
    return Exemplar(
        trace_id=ctx.trace.trace_id, service=ctx.endpoint.service, name=ctx.endpoint.name,
        duration_ns=ctx.duration_ns, error=ctx.error, start_ns=ctx.root.start_ns,
        received_at=now, document=trace_document(ctx),
    )
