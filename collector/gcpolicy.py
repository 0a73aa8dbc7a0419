"""Garbage-collector thresholds for a process that ingests spans.

CPython starts a young-generation collection every 700 net allocations of tracked
objects. Ingest allocates several tracked objects per span (the ``Span``, its trace's
buffer entry, then the assembled ``Trace`` and its analysis) and keeps the spans for at
least the quiet wait, so nearly all of them survive the young collections, get scanned
again in the middle generation and are promoted into the old one, which then triggers
full collections of the whole heap every few seconds. In ``bench_collector`` that was a
sixth of the collector's CPU (1.6 of 9.1 s for 300,000 spans); with the thresholds below
it is 0.4 s, at the price of a young generation of up to 50,000 objects (a few MB) and
a pause of about 10 ms per young collection.

The thresholds are process-wide, so :class:`GcPolicy` only ever raises them (a process
that set larger ones, or disabled the collector, keeps its choice) and puts back what it
found when it is undone, unless someone changed them in between.
"""

from __future__ import annotations

import gc

INGEST_THRESHOLDS: tuple[int, int, int] = (50_000, 20, 10)
"""Young collection every 50,000 allocations; middle every 20 young; old as by default."""


class GcPolicy:
    """Raise the collector thresholds for ingest (:meth:`apply`), and undo it (:meth:`restore`)."""

    def __init__(self, thresholds: tuple[int, int, int] = INGEST_THRESHOLDS) -> None:
        self._thresholds = thresholds
        self._previous: tuple[int, ...] | None = None
        self._applied: tuple[int, ...] | None = None

    def apply(self) -> None:
        """Raise each threshold to at least the ingest one (no-op if collection is off)."""
        previous = gc.get_threshold()
        if not gc.isenabled() or previous[0] == 0:
            return  # the process turned automatic collection off: not ours to turn on
        wanted = tuple(max(old, new) for old, new in zip(previous, self._thresholds, strict=True))
        gc.set_threshold(*wanted)
        self._previous, self._applied = previous, wanted

    def restore(self) -> None:
        """Put back the thresholds :meth:`apply` found, unless they were changed since."""
        if self._applied is not None and gc.get_threshold() == self._applied:
            gc.set_threshold(*self._previous)
        self._previous = self._applied = None
