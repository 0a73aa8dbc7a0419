"""Receiver → assembler → consumers.

Receivers hand decoded spans to :meth:`Pipeline.submit`. Spans wait in a per-trace
buffer until their trace has been quiet for ``trace_wait_seconds``; a background thread
then assembles each quiet trace once and hands the finished :class:`Trace` objects to
the consumers (live state, store…). Analysis happens after the quiet wait, never per
span, so a trace costs one critical-path computation however its spans arrive.

Every buffer is bounded. When the buffers are full the sender is *throttled* (a
retryable refusal: 429/``RESOURCE_EXHAUSTED``; it keeps its spans and tries again).
Spans that cannot be kept are *rejected* (told back to the sender through OTLP's
partial success) or *dropped* (retries of spans already held, late spans of traces
already analyzed); all of them are counted by reason in :class:`IngestCounters`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from analyzer.assemble import assemble
from analyzer.model import Span, Trace
from collector.counters import IngestCounters
from collector.settings import CollectorSettings

log = logging.getLogger(__name__)

FLUSH_CHUNK = 512
"""Traces assembled and handed to the consumers at a time by one flush."""


class TraceConsumer(Protocol):
    """Something fed with finished traces, with a lifecycle (OpenTelemetry Collector style)."""

    def start(self) -> None: ...

    def consume(self, traces: Sequence[Trace]) -> None: ...

    def shutdown(self) -> None: ...


class Throttled(Exception):
    """The pipeline cannot take this request now; the sender should retry later.

    ``unavailable`` distinguishes "not running" (503/``UNAVAILABLE``) from "full"
    (429/``RESOURCE_EXHAUSTED``).
    """

    def __init__(self, reason: str, message: str, *, unavailable: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.unavailable = unavailable


@dataclass(frozen=True, slots=True)
class Admission:
    """What became of a request's spans: ``rejected`` goes back as OTLP partial success."""

    accepted: int
    rejected: int
    message: str = ""


@dataclass(slots=True)
class _Pending:
    """The spans of one trace waiting for it to go quiet."""

    first_seen: float
    last_seen: float
    spans: dict[str, Span] = field(default_factory=dict)
    nbytes: float = 0.0


class _RecentIds:
    """A bounded memory of analyzed trace ids (FIFO), so late spans are not analyzed twice."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def extend(self, trace_ids: Iterable[str]) -> None:
        """Remember ``trace_ids``, forgetting the oldest beyond the capacity."""
        ids = self._ids
        ids.update(dict.fromkeys(trace_ids))
        for _ in range(len(ids) - self._capacity):
            ids.popitem(last=False)

    def __contains__(self, trace_id: str) -> bool:
        return trace_id in self._ids


class Pipeline:
    """Buffers spans per trace and feeds quiet traces to the consumers.

    ``submit`` may be called from any thread; consumers are only ever called from the
    pipeline's own flush thread (or from ``shutdown``), one batch at a time.
    """

    def __init__(
        self,
        settings: CollectorSettings,
        consumers: Iterable[TraceConsumer],
        counters: IngestCounters,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._consumers = list(consumers)
        self._counters = counters
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._pending_bytes = 0.0
        # Traces taken from the buffer and not yet folded into the live state: with
        # live_traces, tells a reader (the gate's --settle) that everything received is in.
        self._analyzing = 0
        self._done = _RecentIds(settings.late_trace_memory)
        self._running = False
        self._last_age_scan = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Serializes flushing, so shutdown's final flush never races the thread's.
        self._flush_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`shutdown`."""
        return self._running

    def start(self) -> None:
        """Start the consumers, then the thread that flushes quiet traces."""
        for consumer in self._consumers:
            consumer.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="critpath-assembler", daemon=True)
        self._thread.start()
        self._running = True

    def shutdown(self) -> None:
        """Refuse new spans, analyze every buffered trace now, then stop the consumers.

        Nothing acknowledged is lost on a graceful stop: buffered traces are analyzed
        without waiting for them to go quiet.
        """
        with self._lock:
            self._running = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush(everything=True)
        for consumer in reversed(self._consumers):
            consumer.shutdown()

    # -- ingest ----------------------------------------------------------------------

    @property
    def live_traces(self) -> int:
        """Traces currently buffered."""
        return len(self._pending)

    @property
    def analyzing_traces(self) -> int:
        """Traces taken out of the buffer by a flush and not yet handed to every consumer.

        Set under the same lock that empties the buffer: a reader that sees
        ``live_traces == 0`` and then ``analyzing_traces == 0`` knows every trace
        received so far is in the live state.
        """
        return self._analyzing

    @property
    def pending_bytes(self) -> int:
        """Encoded size of the buffered spans (as received)."""
        return int(self._pending_bytes)

    def check_capacity(self) -> None:
        """Raise :class:`Throttled` if a request arriving now would be refused.

        Receivers call this before reading and decoding a body, so a full collector
        costs senders a round trip, not the collector a parse.
        """
        if not self._running:
            raise Throttled("not_running", "collector is not running", unavailable=True)
        if self._pending_bytes >= self._settings.max_pending_bytes:
            raise Throttled("pending_bytes", "collector buffers are full (pending bytes)")
        if len(self._pending) >= self._settings.max_live_traces:
            raise Throttled("live_traces", "collector buffers are full (live traces)")

    def submit(self, spans: Sequence[Span], nbytes: int, invalid: int = 0) -> Admission:
        """Buffer ``spans`` (decoded from ``nbytes`` of request body).

        ``invalid`` is the number of spans the decoder already refused; they count as
        received and rejected. Raises :class:`Throttled` when the request is refused
        as a whole (then nothing of it was kept; the caller counts the refusal).
        """
        settings = self._settings
        rejected: Counter = Counter()
        dropped: Counter = Counter()
        if invalid:
            rejected["invalid"] = invalid
        accepted = 0
        share = nbytes / len(spans) if spans else 0.0
        # Group by trace first: one buffer look-up and reordering per trace, not per span.
        by_trace: dict[str, list[Span]] = {}
        for span in spans:
            group = by_trace.get(span.trace_id)
            if group is None:
                by_trace[span.trace_id] = [span]
            else:
                group.append(span)
        limit = settings.max_spans_per_trace
        with self._lock:
            self.check_capacity()
            now = self._clock()
            pending = self._pending
            for trace_id, group in by_trace.items():
                entry = pending.get(trace_id)
                if entry is None:
                    if trace_id in self._done:
                        dropped["late"] += len(group)
                        continue
                    if len(pending) >= settings.max_live_traces:
                        rejected["live_traces_full"] += len(group)
                        continue
                    if len(group) <= limit:
                        # A new trace (the common case): all its spans are kept unless two
                        # share an id, which the span-by-span loop below settles instead.
                        held = {span.span_id: span for span in group}
                        if len(held) == len(group):
                            pending[trace_id] = _Pending(now, now, held, share * len(group))
                            accepted += len(group)
                            continue
                    entry = _Pending(first_seen=now, last_seen=now)
                    pending[trace_id] = entry
                else:
                    pending.move_to_end(trace_id)
                held = entry.spans
                kept = len(held)
                for span in group:
                    if span.span_id in held:
                        # A client retry re-sent a span we hold: keep one copy.
                        dropped["duplicate"] += 1
                    elif len(held) >= limit:
                        rejected["trace_too_large"] += 1
                    else:
                        held[span.span_id] = span
                kept = len(held) - kept
                if kept:
                    # Only new spans keep a trace open: endless retries of spans we hold
                    # (or refuse) must not stop it from ever going quiet.
                    entry.nbytes += share * kept
                    entry.last_seen = now
                    accepted += kept
            self._pending_bytes += share * accepted
        self._counters.spans(len(spans) + invalid, accepted, rejected, dropped)
        return Admission(accepted, sum(rejected.values()), _rejection_message(rejected))

    # -- flushing --------------------------------------------------------------------

    def _run(self) -> None:
        tick = min(max(self._settings.trace_wait_seconds / 4, 0.01), 0.25)
        while not self._stop.wait(tick):
            self.flush()

    def flush(self, everything: bool = False) -> int:
        """Analyze the traces that have been quiet long enough (all of them if ``everything``).

        Returns how many traces were handed to the consumers.
        """
        with self._flush_lock:
            ready = self._take_ready(everything)
            try:
                return self._flush_ready(ready)
            finally:
                self._analyzing = 0

    def _flush_ready(self, ready: dict[str, _Pending]) -> int:
        """Assemble and deliver the traces a flush took; returns how many were delivered."""
        delivered = 0
        # A burst that went quiet at once is assembled and delivered a slice at a time,
        # so the spans, traces and analyses in flight stay few (and cache-warm).
        items = list(ready.items())
        for first in range(0, len(items), FLUSH_CHUNK):
            chunk = dict(items[first:first + FLUSH_CHUNK])
            spans = [span for entry in chunk.values() for span in entry.spans.values()]
            traces = self._assemble(spans, chunk)
            if traces:
                self._deliver(traces, chunk)
            now = self._clock()
            self._counters.analyzed([now - chunk[t.trace_id].first_seen
                                     for t in traces if t.trace_id in chunk])
            delivered += len(traces)
        return delivered

    def _take_ready(self, everything: bool) -> dict[str, _Pending]:
        """Pop quiet traces (in front: the buffer is ordered by last arrival) and traces
        older than ``max_trace_age_seconds`` (found by a scan, at most once a second)."""
        now = self._clock()
        cutoff = now - self._settings.trace_wait_seconds
        ready: dict[str, _Pending] = {}
        with self._lock:
            pending = self._pending
            while pending:
                trace_id, entry = pending.popitem(last=False)
                if not everything and entry.last_seen > cutoff:
                    # Not quiet yet, and neither is anything behind it: back to the front.
                    pending[trace_id] = entry
                    pending.move_to_end(trace_id, last=False)
                    break
                ready[trace_id] = entry
            if pending and now - self._last_age_scan >= 1.0:
                # A trace that never goes quiet (a long stream of spans) is analyzed anyway
                # once old enough; its later spans then count as late.
                self._last_age_scan = now
                too_old = now - self._settings.max_trace_age_seconds
                for trace_id in [t for t, e in pending.items() if e.first_seen <= too_old]:
                    ready[trace_id] = pending.pop(trace_id)
            self._analyzing = len(ready)
            # Remember them as analyzed, so late spans are dropped rather than analyzed twice.
            self._done.extend(ready)
            self._pending_bytes -= sum(entry.nbytes for entry in ready.values())
            if not pending:
                self._pending_bytes = 0.0  # no float drift once empty
        return ready

    def _assemble(self, spans: list[Span], ready: dict[str, _Pending]) -> list[Trace]:
        try:
            return assemble(spans)
        except Exception:  # one broken trace must not stall the whole batch
            log.exception("assembling %d traces failed; retrying one by one", len(ready))
        traces: list[Trace] = []
        for trace_id, entry in ready.items():
            try:
                traces.extend(assemble(entry.spans.values()))
            except Exception:
                log.exception("trace %s could not be assembled; dropped", trace_id)
                self._counters.drop("analysis_error", len(entry.spans))
        return traces

    def _deliver(self, traces: list[Trace], ready: dict[str, _Pending]) -> None:
        # Consumers guard each trace themselves (a bad trace loses only itself); this
        # guard only keeps the flush thread alive if a consumer fails as a whole.
        for consumer in self._consumers:
            try:
                consumer.consume(traces)
            except Exception:
                log.exception("%s failed on a batch of %d traces", type(consumer).__name__,
                              len(traces))
                self._counters.drop("consumer_error",
                                    sum(len(entry.spans) for entry in ready.values()))


def _rejection_message(rejected: Counter) -> str:
    """One line for OTLP's ``error_message``: which spans were rejected and why."""
    reasons = {
        "invalid": "malformed (bad ids or timestamps)",
        "trace_too_large": "over the per-trace span limit",
        "live_traces_full": "live trace buffer full",
    }
    return "; ".join(f"{count} spans rejected: {reasons.get(reason, reason)}"
                     for reason, count in sorted(rejected.items()))
