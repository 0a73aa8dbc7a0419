"""The pipeline: quiet-wait buffering, bounded buffers, duplicates, late spans, shutdown."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from analyzer.model import Span, SpanKind, Trace
from collector.counters import IngestCounters
from collector.pipeline import Pipeline, Throttled
from tests.collector.support import loopback_settings, wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A consumer that remembers what it was given."""

    def __init__(self) -> None:
        self.traces: list[Trace] = []
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def consume(self, traces: Sequence[Trace]) -> None:
        self.traces.extend(traces)

    def shutdown(self) -> None:
        self.stopped = True


def span(trace: int, n: int, parent: int | None = None) -> Span:
    return Span(trace_id=f"{trace:032x}", span_id=f"{n + 1:016x}",
                parent_id=None if parent is None else f"{parent + 1:016x}",
                service="svc", name=f"op{n}", kind=SpanKind.SERVER,
                start_ns=n * 10, end_ns=1000 - n * 10)


def make(**changes):
    clock, recorder, counters = Clock(), Recorder(), IngestCounters()
    settings = loopback_settings(trace_wait_seconds=5.0, **changes)
    pipeline = Pipeline(settings, [recorder], counters, clock=clock)
    pipeline.start()
    pipeline._stop.set()  # the tests drive flush() themselves, with the fake clock
    pipeline._thread.join()
    return pipeline, clock, recorder, counters


def test_a_trace_is_analyzed_once_after_it_goes_quiet():
    pipeline, clock, recorder, _ = make()
    pipeline.submit([span(1, 0)], 100)
    clock.now += 4
    pipeline.submit([span(1, 1, parent=0)], 100)  # keeps the trace open
    clock.now += 4
    assert pipeline.flush() == 0
    clock.now += 1.5
    assert pipeline.flush() == 1
    [trace] = recorder.traces
    assert len(trace.spans) == 2 and pipeline.live_traces == 0 and pipeline.pending_bytes == 0


def test_retried_spans_are_kept_once_and_counted_as_duplicates():
    pipeline, clock, recorder, counters = make()
    batch = [span(1, 0), span(1, 1, parent=0)]
    first = pipeline.submit(batch, 200)
    retry = pipeline.submit(batch, 200)
    assert (first.accepted, retry.accepted, retry.rejected) == (2, 0, 0)
    clock.now += 10
    pipeline.flush()
    assert len(recorder.traces[0].spans) == 2
    snap = counters.snapshot()
    assert snap.received_spans == 4 and snap.accepted_spans == 2
    assert snap.dropped_spans == {"duplicate": 2}


def test_late_spans_of_an_analyzed_trace_are_dropped_not_analyzed_twice():
    pipeline, clock, recorder, counters = make()
    pipeline.submit([span(1, 0)], 100)
    clock.now += 10
    pipeline.flush()
    admission = pipeline.submit([span(1, 0), span(1, 1, parent=0)], 100)
    clock.now += 10
    pipeline.flush()
    assert admission.accepted == 0 and len(recorder.traces) == 1
    assert counters.snapshot().dropped_spans == {"late": 2}


def test_spans_over_the_per_trace_limit_are_rejected_with_a_reason():
    pipeline, _, _, counters = make(max_spans_per_trace=3)
    admission = pipeline.submit([span(1, n) for n in range(5)], 500)
    assert (admission.accepted, admission.rejected) == (3, 2)
    assert "per-trace span limit" in admission.message
    assert counters.snapshot().rejected_spans == {"trace_too_large": 2}


def test_new_traces_past_the_live_trace_limit_are_rejected_within_a_request():
    pipeline, _, _, counters = make(max_live_traces=2)
    admission = pipeline.submit([span(t, 0) for t in range(1, 5)], 400)
    assert (admission.accepted, admission.rejected) == (2, 2)
    assert counters.snapshot().rejected_spans == {"live_traces_full": 2}
    # The buffer is full now: the next request is throttled as a whole (retryable).
    with pytest.raises(Throttled) as info:
        pipeline.submit([span(9, 0)], 100)
    assert info.value.reason == "live_traces" and not info.value.unavailable


def test_pending_bytes_limit_throttles_until_traces_are_analyzed():
    pipeline, clock, _, _ = make(max_pending_bytes=1000)
    pipeline.submit([span(1, 0)], 1000)
    with pytest.raises(Throttled) as info:
        pipeline.submit([span(2, 0)], 10)
    assert info.value.reason == "pending_bytes"
    clock.now += 10
    pipeline.flush()
    assert pipeline.submit([span(2, 0)], 10).accepted == 1


def test_invalid_spans_from_the_decoder_count_as_received_and_rejected():
    pipeline, _, _, counters = make()
    admission = pipeline.submit([span(1, 0)], 100, invalid=3)
    assert (admission.accepted, admission.rejected) == (1, 3)
    snap = counters.snapshot()
    assert (snap.received_spans, snap.rejected_spans) == (4, {"invalid": 3})


def test_shutdown_analyzes_everything_buffered_then_refuses():
    pipeline, _, recorder, _ = make()
    pipeline.submit([span(1, 0), span(2, 0)], 100)
    pipeline.shutdown()
    assert len(recorder.traces) == 2 and recorder.stopped
    with pytest.raises(Throttled) as info:
        pipeline.submit([span(3, 0)], 100)
    assert info.value.unavailable


def test_a_failing_consumer_loses_its_batch_but_the_pipeline_keeps_going():
    class Broken(Recorder):
        def consume(self, traces):
            raise RuntimeError("boom")

    clock, recorder, counters = Clock(), Recorder(), IngestCounters()
    pipeline = Pipeline(loopback_settings(trace_wait_seconds=1), [Broken(), recorder],
                        counters, clock=clock)
    pipeline.start()
    pipeline.submit([span(1, 0), span(1, 1, parent=0)], 100)
    clock.now += 5
    pipeline.flush()
    pipeline.shutdown()
    assert len(recorder.traces) == 1  # the healthy consumer still got the trace
    assert counters.snapshot().dropped_spans == {"consumer_error": 2}


def test_the_background_thread_flushes_quiet_traces():
    recorder, counters = Recorder(), IngestCounters()
    pipeline = Pipeline(loopback_settings(trace_wait_seconds=0.02), [recorder], counters)
    pipeline.start()
    try:
        pipeline.submit([span(1, 0)], 100)
        wait_until(lambda: recorder.traces, timeout=5, what="the flush thread")
    finally:
        pipeline.shutdown()
    assert counters.snapshot().traces_analyzed == 1


def test_a_trace_that_never_goes_quiet_is_analyzed_at_its_maximum_age():
    pipeline, clock, recorder, counters = make(max_trace_age_seconds=30)
    for n in range(20):  # a new span every 2 s: never 5 s of quiet
        pipeline.submit([span(1, n, parent=0 if n else None)], 100)
        clock.now += 2
        pipeline.flush()
    assert len(recorder.traces) == 1 and len(recorder.traces[0].spans) == 15
    pipeline.submit([span(1, 30, parent=0)], 100)
    assert counters.snapshot().dropped_spans == {"late": 6}


def test_endless_retries_do_not_keep_a_trace_open():
    pipeline, clock, recorder, _ = make()
    batch = [span(1, 0)]
    pipeline.submit(batch, 100)
    for _ in range(5):
        clock.now += 2
        pipeline.submit(batch, 100)  # the same span again and again
    pipeline.flush()
    assert len(recorder.traces) == 1


def test_a_new_trace_sent_twice_in_one_request_keeps_the_first_copy():
    pipeline, clock, recorder, counters = make()
    first = span(1, 0)
    second = Span(**{**{f: getattr(first, f) for f in first.__slots__}, "name": "again"})
    admission = pipeline.submit([first, span(1, 1, parent=0), second], 300)
    assert (admission.accepted, admission.rejected) == (2, 0)
    clock.now += 10
    pipeline.flush()
    [trace] = recorder.traces
    assert trace.spans[first.span_id].name == "op0"
    assert counters.snapshot().dropped_spans == {"duplicate": 1}
    assert pipeline.pending_bytes == 0


def test_the_late_trace_memory_forgets_the_oldest_ids_first():
    pipeline, clock, recorder, counters = make(late_trace_memory=2)
    for trace in (1, 2, 3):
        pipeline.submit([span(trace, 0)], 100)
    clock.now += 10
    assert pipeline.flush() == 3
    # Trace 1 was forgotten (capacity 2): its late span opens a new trace; 2 and 3 are late.
    admission = pipeline.submit([span(t, 1, parent=0) for t in (1, 2, 3)], 300)
    assert admission.accepted == 1
    assert counters.snapshot().dropped_spans == {"late": 2}


def test_a_flush_takes_only_the_quiet_traces_and_keeps_the_rest_in_order():
    pipeline, clock, recorder, _ = make()
    pipeline.submit([span(1, 0)], 100)
    clock.now += 3
    pipeline.submit([span(2, 0)], 100)
    pipeline.submit([span(3, 0)], 100)
    clock.now += 2.5
    assert pipeline.flush() == 1
    assert pipeline.live_traces == 2 and pipeline.pending_bytes == 200
    pipeline.submit([span(2, 1, parent=0)], 100)  # trace 2 is now the latest to arrive
    clock.now += 3
    assert pipeline.flush() == 1
    assert [t.trace_id for t in recorder.traces] == [f"{1:032x}", f"{3:032x}"]
    clock.now += 5
    assert pipeline.flush() == 1 and pipeline.live_traces == 0 and pipeline.pending_bytes == 0


def test_a_burst_is_delivered_in_slices_and_every_trace_once():
    from collector.pipeline import FLUSH_CHUNK

    pipeline, clock, recorder, counters = make()
    batches: list[int] = []
    consume = recorder.consume
    recorder.consume = lambda traces: (batches.append(len(traces)), consume(traces))
    total = FLUSH_CHUNK * 2 + 3
    pipeline.submit([span(t, 0) for t in range(1, total + 1)], 100 * total)
    clock.now += 10
    assert pipeline.flush() == total
    assert batches == [FLUSH_CHUNK, FLUSH_CHUNK, 3]
    assert sorted(int(t.trace_id, 16) for t in recorder.traces) == list(range(1, total + 1))
    assert counters.snapshot().traces_analyzed == total
    assert pipeline.live_traces == 0 and pipeline.pending_bytes == 0


def test_traces_being_analyzed_are_counted_until_every_consumer_has_them():
    # What the gate's --settle reads: a trace out of the buffer but not yet in the live
    # state is neither live nor analyzed, so it is counted on its own.
    seen: list[tuple[int, int]] = []

    class Watcher(Recorder):
        def consume(self, traces: Sequence[Trace]) -> None:
            seen.append((pipeline.live_traces, pipeline.analyzing_traces))
            super().consume(traces)

    clock, counters = Clock(), IngestCounters()
    pipeline = Pipeline(loopback_settings(trace_wait_seconds=5.0), [Watcher()], counters,
                        clock=clock)
    pipeline.start()
    pipeline._stop.set()
    pipeline._thread.join()
    pipeline.submit([span(1, 0), span(2, 0), span(3, 0)], 300)
    assert (pipeline.live_traces, pipeline.analyzing_traces) == (3, 0)
    clock.now += 6
    assert pipeline.flush() == 3
    assert seen == [(0, 3)]
    assert (pipeline.live_traces, pipeline.analyzing_traces) == (0, 0)
