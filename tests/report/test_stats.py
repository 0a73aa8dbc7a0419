"""LatencySketch: exact while small, within 1% when bucketed, bounded, and the same
sketch whatever order or batches the observations arrive in."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.stats import (
    EXACT_LIMIT,
    MAX_INDEX,
    RELATIVE_ACCURACY,
    LatencySketch,
    merged,
    nearest_rank,
)

durations = st.integers(min_value=0, max_value=10**13)  # up to ~3 hours in ns
samples = st.lists(durations, min_size=1, max_size=400)
quantiles = st.floats(min_value=0.0, max_value=1.0)


def nearest_rank_quantile(values: list[int], q: float) -> int:
    """The reference definition: the ceil(q·n)-th smallest value (at least the first)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(round(q * len(ordered), 9))) - 1]


def sketch_of(values: list[int]) -> LatencySketch:
    sketch = LatencySketch()
    sketch.add_all(values)
    return sketch


def test_empty_sketch_has_no_quantiles():
    sketch = LatencySketch()
    assert (sketch.count, sketch.sum, sketch.quantile(0.5), sketch.quantile_ms(0.99)) == (
        0, 0, None, None)
    assert sketch.mean is None


def test_small_samples_are_exact_order_statistics():
    sketch = sketch_of([40, 10, 30, 20, 10])
    assert sketch.is_exact
    assert [sketch.quantile(q) for q in (0, 0.2, 0.5, 0.75, 0.8, 0.99, 1)] == [
        10, 10, 20, 30, 30, 40, 40]
    assert (sketch.count, sketch.sum, sketch.min, sketch.max) == (5, 110, 10, 40)


def test_negative_durations_count_as_zero():
    sketch = sketch_of([-5, 7])
    assert (sketch.min, sketch.sum, sketch.quantile(0)) == (0, 7, 0)


def test_weighted_add_equals_repeated_add():
    weighted = LatencySketch()
    weighted.add(1_500_000, count=3)
    weighted.add(9, count=0)  # no observations: nothing changes
    assert weighted == sketch_of([1_500_000] * 3)


def test_switches_to_buckets_past_the_exact_limit():
    values = list(range(1, EXACT_LIMIT + 2))
    assert sketch_of(values[:-1]).is_exact
    sketch = sketch_of(values)
    assert not sketch.is_exact
    assert (sketch.quantile(0), sketch.quantile(1)) == (1, EXACT_LIMIT + 1)  # min/max exact


def test_bucket_count_is_bounded_by_max_index():
    sketch = sketch_of([2**k + j for k in range(64) for j in range(3)] + [0])
    buckets = sketch.to_dict()["buckets"]
    assert len(buckets) <= MAX_INDEX + 1
    assert all(0 <= index <= MAX_INDEX for index, _ in buckets)
    assert sketch.quantile(1) == 2**63 + 2  # max beyond the last bucket stays exact


def test_quantile_ms_rounds_to_microseconds():
    assert sketch_of([1_234_567]).quantile_ms(0.5) == 1.235


def test_snapshot_with_other_accuracy_is_refused():
    data = sketch_of(list(range(200))).to_dict()
    data["alpha"] = 0.02
    with pytest.raises(ValueError, match="alpha=0.02"):
        LatencySketch.from_dict(data)


@settings(max_examples=300, deadline=None)
@given(samples, quantiles)
def test_quantiles_within_relative_accuracy(values, q):
    estimate = sketch_of(values).quantile(q)
    truth = nearest_rank_quantile(values, q)
    # α relative error of the bucket, plus half a nanosecond of rounding to an integer.
    assert abs(estimate - truth) <= RELATIVE_ACCURACY * truth * (1 + 1e-9) + 0.5


@settings(max_examples=200, deadline=None)
@given(samples, st.randoms(use_true_random=False), st.integers(min_value=1, max_value=5))
def test_same_sketch_whatever_the_order_and_batches(values, rnd, parts):
    shuffled = values[:]
    rnd.shuffle(shuffled)
    batches = [sketch_of(shuffled[i::parts]) for i in range(parts)]
    rnd.shuffle(batches)
    combined = merged(batches)
    assert combined.to_dict() == sketch_of(values).to_dict()
    assert (combined.count, combined.sum) == (len(values), sum(values))


@settings(max_examples=100, deadline=None)
@given(samples)
def test_snapshot_round_trips_through_json(values):
    sketch = sketch_of(values)
    again = LatencySketch.from_dict(json.loads(json.dumps(sketch.to_dict())))
    assert again == sketch
    assert [again.quantile(q) for q in (0, 0.5, 0.99, 1)] == [
        sketch.quantile(q) for q in (0, 0.5, 0.99, 1)]


def test_copy_is_independent():
    sketch = sketch_of([1, 2, 3])
    clone = sketch.copy()
    clone.add(100)
    assert (sketch.count, clone.count) == (3, 4)


def test_nearest_rank_ignores_float_noise():
    assert 0.07 * 100 > 7  # the noise in question
    assert [nearest_rank(q, 100) for q in (0.0, 0.07, 0.5, 0.99, 1.0)] == [0, 6, 49, 98, 99]
    assert nearest_rank(0.99, 1) == 0


def test_cumulative_counts_exact():
    sketch = sketch_of([1, 5, 5, 10, 200])
    assert sketch.cumulative_counts([0, 1, 5, 9.9, 10, 1e9]) == [0, 1, 3, 3, 4, 5]


@settings(max_examples=100, deadline=None)
@given(st.lists(durations, min_size=EXACT_LIMIT + 1, max_size=300), durations)
def test_cumulative_counts_bucketed_never_overcount(values, bound):
    sketch = sketch_of(values)
    [counted] = sketch.cumulative_counts([bound])
    assert counted <= sum(1 for v in values if v <= bound)
    # a value is surely counted once its bucket's upper edge (at most γ·value) fits
    gamma = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
    assert counted >= sum(1 for v in values if v * gamma * (1 + 1e-9) <= bound)
