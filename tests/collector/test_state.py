"""Live state: windows made of time buckets, the all-time view, exemplars, snapshots."""

from __future__ import annotations

import pytest

from analyzer.assemble import assemble
from analyzer.decode import decode
from collector.state import LiveState, UnknownWindow
from tests.collector.support import comparable, expected_report, loopback_settings, protobuf_request


class Clock:
    def __init__(self, now: float = 1_000_020.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def traces_of(body: bytes):
    return assemble(decode(body).spans)


def make(**changes):
    clock = Clock()
    return LiveState(loopback_settings(**changes), clock=clock), clock


def test_all_equals_analyze_and_windows_forget_old_buckets():
    state, clock = make(windows=(60, 300), bucket_seconds=15)
    old, new = protobuf_request(4), protobuf_request(3, start_ms=10_000)
    state.consume(traces_of(old))
    clock.now += 120  # two minutes later
    state.consume(traces_of(new))
    assert comparable(state.report("all")) == expected_report(old, new)
    assert comparable(state.report("5m")) == expected_report(old, new)
    assert comparable(state.report("1m")) == expected_report(new)
    clock.now += 300
    assert state.report("1m")["traces"] == 0 and state.report("5m")["traces"] == 0
    assert state.report("all")["traces"] == 7
    assert state.traces == 7


def test_reports_are_cached_until_the_version_changes():
    state, clock = make()
    state.consume(traces_of(protobuf_request(2)))
    first = state.report("all")
    assert state.report("all") is first
    version = state.version
    state.consume(traces_of(protobuf_request(1, start_ms=5000)))
    assert state.version == version + 1
    assert state.report("all")["traces"] == 3


def test_unknown_window_is_refused():
    state, _ = make()
    with pytest.raises(UnknownWindow, match="unknown window '2m'"):
        state.report("2m")


def test_exemplars_keep_the_slowest_and_recent_traces_whole():
    state, clock = make(exemplars_slowest=2, exemplars_recent=1,
                        exemplar_recent_interval_seconds=0)
    traces = traces_of(protobuf_request(8, slow_every=3))
    for trace in traces:
        state.consume([trace])
        clock.now += 1
    rows = state.exemplars("web", "POST /checkout")
    durations = sorted((t.root.duration_ns for t in traces), reverse=True)
    slowest = [r for r in rows if r["kind"] == "slowest"]
    assert [r["duration_ms"] for r in slowest] == [d / 1e6 for d in durations[:2]]
    assert len(rows) <= 3 and traces[-1].trace_id in {r["trace_id"] for r in rows}
    document = state.trace(rows[0]["trace_id"])
    assert document["schema"] == "critpath.trace/v1" and len(document["spans"]) == 7
    assert document["critical_path"]
    assert state.trace("0" * 32) is None
    assert state.exemplars("nobody", "nothing") == []


def test_recent_exemplars_are_rate_limited_per_endpoint():
    state, clock = make(exemplars_slowest=0, exemplars_recent=5,
                        exemplar_recent_interval_seconds=10)
    for trace in traces_of(protobuf_request(6)):
        state.consume([trace])
        clock.now += 1
    assert len(state.exemplars("web", "POST /checkout")) == 1


def test_snapshot_restores_into_a_new_state():
    state, clock = make()
    first, second = protobuf_request(3), protobuf_request(2, start_ms=9000)
    state.consume(traces_of(first))
    clock.now += 100
    state.consume(traces_of(second))
    snapshot = state.snapshot()
    restored = LiveState(loopback_settings(), clock=Clock(clock.now + 5))
    assert restored.restore(snapshot)
    assert comparable(restored.report("all")) == expected_report(first, second)
    assert comparable(restored.report("1m")) == comparable(state.report("1m"))


def test_a_snapshot_of_another_layout_is_not_restored():
    state, _ = make()
    assert not state.restore({"format": 99})
    assert not state.restore({"format": 1, "bucket_seconds": 15, "history": {"version": -1},
                              "buckets": []})
    assert state.report("all")["traces"] == 0


def test_a_large_batch_is_folded_in_chunks_and_a_broken_trace_loses_only_itself(monkeypatch):
    import collector.state as state_module
    from analyzer.model import Trace
    from collector.counters import IngestCounters

    monkeypatch.setattr(state_module, "FOLD_CHUNK", 4)
    counters = IngestCounters()
    state = LiveState(loopback_settings(), counters, clock=Clock())
    body = protobuf_request(9)
    good = traces_of(body)
    spans = dict(good[0].spans)
    broken = Trace(trace_id="f" * 32, spans=spans, roots=("0" * 16,))  # a root it lacks
    state.consume([*good[:5], broken, *good[5:]])
    assert comparable(state.report("all")) == expected_report(body)
    assert state.version == 3  # 10 traces in chunks of 4: three folds
    assert counters.snapshot().dropped_spans == {"analysis_error": len(spans)}
