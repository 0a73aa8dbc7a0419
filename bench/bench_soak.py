"""The collector under sustained load: is its memory flat over a 10-minute run?

A ``critpath collect`` process (default limits) is fed for ``MINUTES`` by a driver process
posting OTLP/protobuf batches as fast as the collector takes them (backing off on
429/503 like an exporter). Every trace is new: the driver keeps a pool of pre-built
batches and gives each trace a fresh id per round, so the collector sees an endless stream
of distinct traces, not replays of traces it already analyzed.

Reported: the collector's RSS sampled every ``SAMPLE_SECONDS``, as a per-minute table; the
least-squares slope of RSS after a warm-up of ``WARM_SECONDS`` (the live buffer is full
and the allocator's arenas have grown to the working set by then); traces and spans
taken, and the collector's spans/s over the run (wall clock and per CPU-second). Target:
flat memory, i.e. a slope under ``FLAT_PER_MINUTE`` of the warm RSS per minute.

``--quick`` runs 30 seconds: a smoke run of the machinery, not a soak.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.bench_collector import (
    ROOT,
    TRACES_PER_BATCH,
    CollectorProcess,
    build_batches,
    read_batches,
    write_batches,
)

MINUTES = 10.0
SAMPLE_SECONDS = 10.0
POOL_BATCHES = 40
FLAT_PER_MINUTE = 0.01  # 1% of the warm RSS per minute
WARM_SECONDS = 120.0
SPANS_PER_TRACE = 10


def _trace_ids(batch: bytes) -> list[bytes]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    request = ExportTraceServiceRequest.FromString(batch)
    return sorted({span.trace_id for rs in request.resource_spans for ss in rs.scope_spans
                   for span in ss.spans})


def _driver_main(url: str, path: str, seconds: float) -> None:
    """Post the pool round after round, each trace with a new id every round, until time
    is up; print what was sent. Replacing 16-byte ids in the serialized bytes keeps the
    driver cheap, so it keeps the collector busy from one core."""
    pool = read_batches(Path(path))
    templates = [(batch, _trace_ids(batch)) for batch in pool]
    rng = random.Random(1)
    sent = throttled = 0
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=60, headers={"content-type": "application/x-protobuf"}) as client:
        while time.monotonic() < deadline:
            for batch, ids in templates:
                for old in ids:
                    batch = batch.replace(old, rng.randbytes(16))
                while True:
                    response = client.post(url, content=batch)
                    if response.status_code in (429, 503):
                        throttled += 1
                        time.sleep(float(response.headers.get("retry-after", "1")) / 10)
                        continue
                    response.raise_for_status()
                    break
                sent += len(ids)
                if time.monotonic() >= deadline:
                    break
    print(json.dumps({"traces": sent, "throttled": throttled}), flush=True)


def run(quick: bool) -> str:
    import subprocess

    minutes = 0.5 if quick else MINUTES
    seconds = minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        pool = Path(tmp) / "pool.bin"
        write_batches(build_batches(POOL_BATCHES, seed=23), pool)
        collector = CollectorProcess(trace_wait=5.0, max_live_traces=50_000, max_pending_bytes=None)
        try:
            cpu_before, started = collector.cpu_seconds(), time.monotonic()
            driver = subprocess.Popen(
                [sys.executable, "-m", "bench.bench_soak", "--drive", collector.otlp, str(pool),
                 str(seconds)], cwd=ROOT, stdout=subprocess.PIPE)
            samples: list[tuple[float, int]] = [(0.0, collector.rss_bytes())]
            while driver.poll() is None:
                time.sleep(min(SAMPLE_SECONDS, max(0.5, seconds / 20)))
                samples.append((time.monotonic() - started, collector.rss_bytes()))
                print(f"  {samples[-1][0]:5.0f} s  RSS {samples[-1][1] / 2**20:6.1f} MiB",
                      file=sys.stderr, flush=True)
            out, _ = driver.communicate()
            sent = json.loads(out)
            # Let the last traces go quiet and be folded before counting.
            deadline = time.monotonic() + 60
            while collector.traces() < sent["traces"] and time.monotonic() < deadline:
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            cpu = collector.cpu_seconds() - cpu_before
            folded = collector.traces()
            samples.append((elapsed, collector.rss_bytes()))
        finally:
            collector.stop()
    return _report(samples, sent, folded, elapsed, cpu, minutes)


def _slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS over time, in bytes per second."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_r = sum(r for _, r in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (r - mean_r) for t, r in points) / spread if spread else 0.0


def _report(samples: list[tuple[float, int]], sent: dict, folded: int, elapsed: float,
            cpu: float, minutes: float) -> str:
    # Warm-up: the live buffer fills to its steady size and the allocator's arenas grow
    # to the working set; a steady leak shows as a slope after it, noise does not.
    warm_at = min(WARM_SECONDS, elapsed / 4)
    steady = [(t, rss) for t, rss in samples if t >= warm_at]
    warm, end = steady[0][1], samples[-1][1]
    peak = max(rss for _, rss in samples)
    per_minute = _slope(steady) * 60 / warm if len(steady) > 2 else 0.0
    spans = folded * SPANS_PER_TRACE
    lines = [f"{minutes:g} min of new traces ({TRACES_PER_BATCH} per batch, "
             f"{SPANS_PER_TRACE} spans each) into one collector (default limits)",
             f"taken: {folded:,} traces ({spans:,} spans) of {sent['traces']:,} sent; "
             f"{sent['throttled']:,} backpressure answers (429/503) along the way",
             f"rate: {spans / elapsed:,.0f} spans/s wall clock, {spans / cpu:,.0f} spans per "
             f"collector CPU-second", "", "RSS by minute (MiB):"]
    minute = 0
    for t, rss in samples:
        if t >= minute * 60 or (t, rss) == samples[-1]:
            lines.append(f"  {t / 60:5.1f} min  {rss / 2**20:7.1f}")
            minute = int(t // 60) + 1
    verdict = "PASS" if per_minute < FLAT_PER_MINUTE else "FAIL"
    if minutes < MINUTES:
        verdict = "NOT JUDGED (a smoke run; the allocator is still warming up)"
    lines += ["", f"after warm-up ({warm_at:.0f} s): {warm / 2**20:.1f} -> {end / 2**20:.1f} MiB "
                  f"(peak {peak / 2**20:.1f}); fitted slope {per_minute:+.2%} of the warm RSS "
                  f"per minute",
              "(RSS keeps high-water marks: CPython rarely returns freed arenas, so a burst "
              "leaves a step that stays, while a leak shows as a steady ramp; the 15-minute "
              "window also adds one small aggregate, tens of KiB, per 15 s bucket until full)",
              f"{verdict}: memory flat over the run (target: slope under {FLAT_PER_MINUTE:.0%} "
              f"of the warm RSS per minute)"]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--drive":
        _driver_main(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        print(run(quick="--quick" in sys.argv))
