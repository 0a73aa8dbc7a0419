"""The collector's own counts: what came in, what was kept, and what was lost and why.

Plain integers behind one lock, because they are bumped on the ingest hot path where a
Prometheus client call per span would cost more than the analysis; ``/metrics`` reads a
consistent copy at scrape time (``collector.metrics``).
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from dataclasses import dataclass, field

#: Seconds from a trace's first span to its analysis; the quiet wait dominates, so the
#: buckets span from sub-second to well past the default 5 s wait.
LATENCY_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0)


@dataclass(frozen=True, slots=True)
class CountsSnapshot:
    """A consistent copy of :class:`IngestCounters`, for rendering."""

    received_spans: int
    accepted_spans: int
    rejected_spans: dict[str, int]
    dropped_spans: dict[str, int]
    throttled_requests: dict[str, int]
    malformed_requests: dict[str, int]
    traces_analyzed: int
    latency_bucket_counts: tuple[int, ...]
    latency_sum: float
    latency_count: int


@dataclass
class IngestCounters:
    """Monotonic counters shared by receivers and pipeline (thread-safe)."""

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    received_spans: int = 0
    accepted_spans: int = 0
    rejected_spans: Counter = field(default_factory=Counter)
    dropped_spans: Counter = field(default_factory=Counter)
    throttled_requests: Counter = field(default_factory=Counter)
    malformed_requests: Counter = field(default_factory=Counter)
    traces_analyzed: int = 0
    _latency_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    _latency_sum: float = 0.0
    _latency_count: int = 0

    def spans(self, received: int, accepted: int, rejected: Counter | None = None,
              dropped: Counter | None = None) -> None:
        """Record one request's spans: how many came, were kept, rejected, dropped (by reason)."""
        with self._lock:
            self.received_spans += received
            self.accepted_spans += accepted
            if rejected:
                self.rejected_spans.update(rejected)
            if dropped:
                self.dropped_spans.update(dropped)

    def drop(self, reason: str, count: int = 1) -> None:
        """Spans lost after they were accepted (e.g. analysis failed on them)."""
        with self._lock:
            self.dropped_spans[reason] += count

    def throttled(self, reason: str) -> None:
        """A request refused with a retryable status (the sender keeps its spans)."""
        with self._lock:
            self.throttled_requests[reason] += 1

    def malformed(self, reason: str) -> None:
        """A request refused as permanently unusable (400, 401, 413, 415)."""
        with self._lock:
            self.malformed_requests[reason] += 1

    def analyzed(self, latencies: list[float]) -> None:
        """Traces folded into the live state, with each one's first-span-to-analysis delay."""
        with self._lock:
            self.traces_analyzed += len(latencies)
            for seconds in latencies:
                index = bisect.bisect_left(LATENCY_BUCKETS, seconds)
                if index < len(LATENCY_BUCKETS):
                    self._latency_buckets[index] += 1
                self._latency_sum += seconds
            self._latency_count += len(latencies)

    def snapshot(self) -> CountsSnapshot:
        """A consistent copy; latency bucket counts are per bucket (not cumulative)."""
        with self._lock:
            return CountsSnapshot(
                received_spans=self.received_spans,
                accepted_spans=self.accepted_spans,
                rejected_spans=dict(self.rejected_spans),
                dropped_spans=dict(self.dropped_spans),
                throttled_requests=dict(self.throttled_requests),
                malformed_requests=dict(self.malformed_requests),
                traces_analyzed=self.traces_analyzed,
                latency_bucket_counts=tuple(self._latency_buckets),
                latency_sum=self._latency_sum,
                latency_count=self._latency_count,
            )
