"""The live state: what the API, dashboard, TUI and ``/metrics`` read.

Traces are folded into time buckets (``bucket_seconds`` wide, by arrival time, since
replayed traces may carry old timestamps). The newest bucket is *current*; every older
bucket has also been merged into ``history``, so

* ``all``   = ``history`` + current bucket;
* a window = the buckets that started within it (current included).

Aggregates are mergeable, so both are a handful of merges, done on read and cached per
(window, version, current bucket). ``version`` grows each time traces are folded in;
the SSE stream and clients polling the API use it to know when something changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from analyzer.aggregate import Aggregate, TraceContext, trace_context
from analyzer.model import Endpoint, Trace
from analyzer.report import build_report
from collector.counters import IngestCounters
from collector.exemplars import Exemplars
from collector.settings import CollectorSettings

log = logging.getLogger(__name__)

FOLD_CHUNK = 128
"""Traces analyzed and then folded per lock acquisition."""

SNAPSHOT_FORMAT = 1
"""Layout of :meth:`LiveState.snapshot`; a store holding another layout is not restored."""


class LiveView(Protocol):
    """What readers of the live state rely on (docs/design.md)."""

    version: int

    def report(self, window: str = "all") -> dict: ...

    def trace(self, trace_id: str) -> dict | None: ...

    def exemplars(self, service: str, name: str) -> list[dict]: ...


class UnknownWindow(ValueError):
    """A window name that is neither ``all`` nor one of the configured windows."""


class LiveState:
    """Windowed aggregates plus exemplars; a :class:`LiveView` and a pipeline consumer.

    Written only by the pipeline's flush thread (:meth:`consume`); read from any thread.
    """

    def __init__(
        self,
        settings: CollectorSettings,
        counters: IngestCounters | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._config = settings.analysis
        self._counters = counters or IngestCounters()
        self._clock = clock
        self._bucket_seconds = settings.bucket_seconds
        self._windows = settings.window_names
        self._lock = threading.RLock()
        self._history = Aggregate(self._config)
        self._buckets: deque[tuple[int, Aggregate]] = deque()
        self._reports: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}
        self.exemplar_set = Exemplars(settings)
        # Endpoint objects by (service, name), shared by every trace's context (bounded
        # by trace_context); only the flush thread analyzes traces.
        self._endpoints: dict[tuple[str, str], Endpoint] = {}
        self.version = 0
        self.trace_fallback: Callable[[str], dict[str, Any] | None] | None = None
        """Where :meth:`trace` looks when the trace is no longer held (the store)."""

    # -- consumer --------------------------------------------------------------------

    def start(self) -> None:
        """Nothing to start: the state is passive (part of the consumer lifecycle)."""

    def shutdown(self) -> None:
        """Nothing to release (part of the consumer lifecycle)."""

    def consume(self, traces: Sequence[Trace]) -> None:
        """Analyze each trace once and fold it into the current bucket; keep exemplars."""
        now = self._clock()
        # Analyze and fold a chunk at a time, releasing the lock in between: a large batch
        # (a burst that went quiet at once) must not keep API readers waiting for the whole
        # of it, nor hold every trace's analysis in memory before any is folded.
        for first in range(0, len(traces), FOLD_CHUNK):
            contexts = self._analyze(traces[first:first + FOLD_CHUNK])
            if not contexts:
                continue
            with self._lock:
                bucket = self._current(now)
                for ctx in contexts:
                    bucket.add_context(ctx)
                self.version += 1
            for ctx in contexts:
                self.exemplar_set.offer(ctx, now)

    def _analyze(self, traces: Sequence[Trace]) -> list[TraceContext]:
        """Each trace's analysis; a trace the analysis cannot handle loses only itself."""
        contexts = []
        for trace in traces:
            try:
                ctx = trace_context(trace, self._endpoints)
            except Exception:
                log.exception("trace %s could not be analyzed; dropped", trace.trace_id)
                self._counters.drop("analysis_error", len(trace.spans))
                continue
            if ctx is not None:
                contexts.append(ctx)
        return contexts

    # -- LiveView --------------------------------------------------------------------

    @property
    def traces(self) -> int:
        """Traces folded in since start (cheap: no merge)."""
        with self._lock:
            current = self._buckets[-1][1].traces if self._buckets else 0
            return self._history.traces + current

    @property
    def windows(self) -> list[str]:
        """Window names accepted by :meth:`report`, ``all`` last."""
        return [*self._windows, "all"]

    def report(self, window: str = "all") -> dict[str, Any]:
        """The ``critpath.report/v1`` document over ``window`` (plus a ``window`` key)."""
        with self._lock:
            key = (self.version, self._current_start(self._clock()))
            cached = self._reports.get(window)
            if cached is not None and cached[0] == key:
                return cached[1]
            merged = self.aggregate(window)
        report = build_report(merged, self._config, datetime.now(UTC))
        report["window"] = window
        with self._lock:
            self._reports[window] = (key, report)
        return report

    def aggregate(self, window: str = "all") -> Aggregate:
        """A fresh aggregate over ``window`` (the caller may keep or mutate it)."""
        if window != "all" and window not in self._windows:
            raise UnknownWindow(f"unknown window {window!r}; use one of {self.windows}")
        merged = Aggregate(self._config)
        with self._lock:
            now = self._clock()
            now_start = self._current_start(now)
            self._current(now)  # rotate first, so a bucket that ended is in history
            if window == "all":
                parts = [self._history, self._buckets[-1][1]]
            else:
                oldest = now_start - self._windows[window] + self._bucket_seconds
                parts = [agg for start, agg in self._buckets if start >= oldest]
            for part in parts:
                merged.merge(part)
        return merged

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """The kept ``critpath.trace/v1`` document (memory first, then the store)."""
        document = self.exemplar_set.document(trace_id)
        if document is None and self.trace_fallback is not None:
            document = self.trace_fallback(trace_id)
        return document

    def exemplars(self, service: str, name: str) -> list[dict[str, Any]]:
        """The endpoint's exemplar rows (``trace_id``, ``duration_ms``, ``error``, ``start_ns``)."""
        return self.exemplar_set.summaries(service, name)

    # -- buckets ---------------------------------------------------------------------

    def _current_start(self, now: float) -> int:
        return int(now // self._bucket_seconds) * self._bucket_seconds

    def _current(self, now: float) -> Aggregate:
        """The bucket for ``now``, rotating (closing the previous one into history) if due."""
        start = self._current_start(now)
        buckets = self._buckets
        if buckets and start <= buckets[-1][0]:
            return buckets[-1][1]  # same bucket (or the clock stepped back: stay put)
        if buckets:
            self._history.merge(buckets[-1][1])
        buckets.append((start, Aggregate(self._config)))
        horizon = start - max(self._windows.values())
        while buckets and buckets[0][0] <= horizon:
            buckets.popleft()
        return buckets[-1][1]

    # -- snapshots -------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of the aggregates, for the store."""
        with self._lock:
            return {
                "format": SNAPSHOT_FORMAT,
                "taken_at": self._clock(),
                "bucket_seconds": self._bucket_seconds,
                "history": self._history.to_dict(),
                "buckets": [[start, agg.to_dict()] for start, agg in self._buckets],
            }

    def restore(self, snapshot: dict[str, Any]) -> bool:
        """Resume from :meth:`snapshot` output; False (and nothing changed) if unusable."""
        if (snapshot.get("format") != SNAPSHOT_FORMAT
                or snapshot.get("bucket_seconds") != self._bucket_seconds):
            log.warning("stored snapshot has another layout; starting empty")
            return False
        try:
            history = Aggregate.from_dict(snapshot["history"], self._config)
            buckets = deque((int(start), Aggregate.from_dict(data, self._config))
                            for start, data in snapshot["buckets"])
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("stored snapshot is unusable (%s); starting empty", exc)
            return False
        with self._lock:
            self._history, self._buckets = history, buckets
            self._reports.clear()
            self.version += 1
        return True
