"""Mergeable latency statistics.

:class:`LatencySketch` answers "what was the p50 / p99?" over any number of
observations in bounded memory, and two sketches merge into exactly the sketch of
the combined observations. That last property is what lets the collector (which sees
spans in arbitrary batches, possibly on several machines) and the offline CLI (which
sees whole files) print the same numbers for the same spans.

The sketch has two representations:

* **exact** while it has seen at most :data:`EXACT_LIMIT` distinct values: it keeps
  ``value -> count`` and quantiles are the exact order statistics. Small samples (a
  test, a quiet endpoint, a configured timeout that is always 2000 ms) are reported
  without any approximation.
* **bucketed** afterwards, in the manner of DDSketch: a value ``x ≥ 1`` falls into
  bucket ``i = ceil(log_γ x)`` with ``γ = (1 + α) / (1 − α)``; the bucket's
  representative ``2γ^i / (γ + 1)`` is within ``α`` (1%) of every value in it.
  Indices are clamped to ``[0, MAX_INDEX]`` (``γ^MAX_INDEX ≥ 2^63`` ns, about 292
  years), so a sketch never holds more than ``MAX_INDEX + 1`` buckets.

Which representation a sketch ends in depends only on the multiset of values it saw
(the number of distinct values only grows), never on the order of ``add`` and
``merge`` calls, so the result is deterministic. The exact ``count``, ``sum``,
``min`` and ``max`` are kept in both; quantiles are clamped to ``[min, max]`` so
``quantile(0)`` and ``quantile(1)`` are always exact.

Quantiles use the nearest-rank definition: ``quantile(q)`` is the ``k``-th smallest
value with ``k = max(1, ceil(q · count))``, so the p99 of ten calls is the slowest of
them, never an average of two calls that did happen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

RELATIVE_ACCURACY = 0.01
"""α: every bucketed quantile is within 1% of a true value of the right rank."""

EXACT_LIMIT = 64
"""Distinct values kept exactly before a sketch switches to log buckets."""

_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
MAX_INDEX = math.ceil(63 * math.log(2) / _LOG_GAMMA)
"""Largest bucket index; larger values share this bucket (and ``max`` stays exact)."""


def nearest_rank(q: float, count: int) -> int:
    """0-based rank of the ``q``-quantile among ``count`` sorted values (nearest rank).

    ``q`` is clamped to [0, 1]. A hair is taken off ``q · count`` so that float noise
    (``0.07 * 100 == 7.000000000000001``) cannot push the rank one value too far.
    """
    q = min(1.0, max(0.0, q))
    return max(1, math.ceil(q * count - 1e-9)) - 1


_log, _ceil = math.log, math.ceil


def _bucket(ns: int) -> int:
    """The bucket of a positive value (values ≤ 0 are counted apart, as zeros)."""
    index = math.ceil(math.log(ns) / _LOG_GAMMA)
    return MAX_INDEX if index > MAX_INDEX else (index if index > 0 else 0)


def _representative(index: int) -> float:
    """The value that is within α of every value falling into bucket ``index``."""
    return 2 * _GAMMA**index / (_GAMMA + 1)


class LatencySketch:
    """Bounded, mergeable quantile sketch of non-negative integer durations (ns).

    >>> s = LatencySketch()
    >>> for ns in (5, 1, 3):
    ...     s.add(ns)
    >>> s.count, s.sum, s.quantile(0.5)
    (3, 9, 3)
    """

    __slots__ = ("_exact", "_buckets", "_zeros", "count", "sum", "min", "max")

    def __init__(self) -> None:
        # Exactly one of _exact / _buckets is in use: _buckets is None while exact.
        self._exact: dict[int, int] | None = {}
        self._buckets: dict[int, int] | None = None
        self._zeros = 0  # observations ≤ 0 while bucketed (log of 0 is undefined)
        self.count = 0
        self.sum = 0
        self.min: int | None = None
        self.max: int | None = None

    # -- building -------------------------------------------------------------------

    def add(self, ns: int, count: int = 1) -> None:
        """Record ``count`` observations of ``ns`` (negative durations count as 0)."""
        # Hot path (once per span and sketch): plain comparisons, no helper calls.
        if count <= 0:
            return
        if ns.__class__ is not int:
            ns = int(ns)
        if ns < 0:
            ns = 0
        self.count += count
        self.sum += ns * count
        low = self.min
        if low is None:
            self.min = self.max = ns
        elif ns < low:
            self.min = ns
        elif ns > self.max:  # type: ignore[operator]  # set together with min
            self.max = ns
        exact = self._exact
        if exact is not None:
            exact[ns] = exact.get(ns, 0) + count
            if len(exact) > EXACT_LIMIT:
                self._to_buckets()
        elif ns <= 0:
            self._zeros += count
        else:
            # _add_bucketed and _bucket inline: most sketches the collector fills are
            # bucketed, and two calls per value cost more than the rest of add.
            index = _ceil(_log(ns) / _LOG_GAMMA)
            if index > MAX_INDEX:
                index = MAX_INDEX
            elif index < 0:
                index = 0
            buckets = self._buckets
            buckets[index] = buckets.get(index, 0) + count  # type: ignore[union-attr]

    def add_all(self, values: Iterable[int]) -> None:
        """Record each value of ``values`` once."""
        for ns in values:
            self.add(ns)

    def merge(self, other: LatencySketch) -> None:
        """Fold ``other`` into this sketch; the result equals the sketch of both inputs."""
        if other.count == 0:
            return
        self.count += other.count
        self.sum += other.sum
        assert other.min is not None and other.max is not None
        self.min = other.min if self.min is None else min(self.min, other.min)
        self.max = other.max if self.max is None else max(self.max, other.max)
        if self._exact is not None and other._exact is not None:
            for ns, n in other._exact.items():
                self._exact[ns] = self._exact.get(ns, 0) + n
            if len(self._exact) > EXACT_LIMIT:
                self._to_buckets()
            return
        if self._exact is not None:
            self._to_buckets()
        if other._exact is not None:
            for ns, n in other._exact.items():
                self._add_bucketed(ns, n)
        else:
            assert self._buckets is not None and other._buckets is not None
            self._zeros += other._zeros
            for index, n in other._buckets.items():
                self._buckets[index] = self._buckets.get(index, 0) + n

    def copy(self) -> LatencySketch:
        """An independent sketch with the same content."""
        clone = LatencySketch()
        clone.merge(self)
        return clone

    def _add_bucketed(self, ns: int, count: int) -> None:
        assert self._buckets is not None
        if ns <= 0:
            self._zeros += count
        else:
            index = _bucket(ns)
            self._buckets[index] = self._buckets.get(index, 0) + count

    def _to_buckets(self) -> None:
        exact, self._exact, self._buckets = self._exact, None, {}
        assert exact is not None
        for ns, n in exact.items():
            self._add_bucketed(ns, n)

    # -- reading --------------------------------------------------------------------

    @property
    def is_exact(self) -> bool:
        """True while quantiles are exact order statistics (few distinct values)."""
        return self._exact is not None

    @property
    def mean(self) -> float | None:
        """Arithmetic mean, or ``None`` when empty."""
        return self.sum / self.count if self.count else None

    def quantile(self, q: float) -> int | None:
        """The ``q``-quantile in ns (``None`` when empty); ``q`` is clamped to [0, 1]."""
        if self.count == 0:
            return None
        assert self.min is not None and self.max is not None
        rank = nearest_rank(q, self.count)
        if self._exact is not None:
            seen = 0
            for ns in sorted(self._exact):
                seen += self._exact[ns]
                if seen > rank:
                    return ns
            return self.max  # unreachable: the counts add up to count
        assert self._buckets is not None
        if rank < self._zeros:
            return self.min
        seen = self._zeros
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen > rank:
                estimate = round(_representative(index))
                return min(self.max, max(self.min, estimate))
        return self.max

    def cumulative_counts(self, bounds_ns: Sequence[float]) -> list[int]:
        """How many observations are ≤ each bound (ns): Prometheus histogram buckets.

        Exact while the sketch is exact. Once bucketed, a bucket counts as soon as its
        upper edge ``γ^i`` is ≤ the bound (it never counts values above the bound), so
        only values less than a factor γ (about 2%) below a bound can be missed.
        """
        if self._exact is not None:
            points = sorted(self._exact.items())
        else:
            assert self._buckets is not None
            points = [(0, self._zeros)] + [(_GAMMA**index, n)
                                           for index, n in sorted(self._buckets.items())]
        counts = []
        for bound in bounds_ns:
            counts.append(sum(n for value, n in points if value <= bound))
        return counts

    def quantile_ms(self, q: float, digits: int = 3) -> float | None:
        """:meth:`quantile` in milliseconds, rounded to ``digits`` decimals."""
        ns = self.quantile(q)
        return None if ns is None else round(ns / 1e6, digits)

    def __len__(self) -> int:
        return self.count

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencySketch):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable accumulator

    def __repr__(self) -> str:
        mode = "exact" if self.is_exact else "bucketed"
        return (
            f"LatencySketch({mode}, count={self.count}, p50={self.quantile(0.5)}, "
            f"p99={self.quantile(0.99)})"
        )

    # -- snapshots ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot; pairs are sorted so equal sketches give equal dicts."""
        data: dict[str, Any] = {
            "count": self.count, "sum": self.sum, "min": self.min, "max": self.max,
        }
        if self._exact is not None:
            data["values"] = [[ns, n] for ns, n in sorted(self._exact.items())]
        else:
            assert self._buckets is not None
            data["alpha"] = RELATIVE_ACCURACY
            data["zeros"] = self._zeros
            data["buckets"] = [[i, n] for i, n in sorted(self._buckets.items())]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencySketch:
        """Rebuild a sketch from :meth:`to_dict` output.

        Raises ``ValueError`` for a snapshot made with another accuracy, whose bucket
        indices would mean different values.
        """
        sketch = cls()
        sketch.count = int(data["count"])
        sketch.sum = int(data["sum"])
        sketch.min = None if data["min"] is None else int(data["min"])
        sketch.max = None if data["max"] is None else int(data["max"])
        if "values" in data:
            sketch._exact = {int(ns): int(n) for ns, n in data["values"]}
        else:
            if float(data.get("alpha", RELATIVE_ACCURACY)) != RELATIVE_ACCURACY:
                raise ValueError(
                    f"sketch snapshot has alpha={data['alpha']}, expected {RELATIVE_ACCURACY}"
                )
            sketch._exact = None
            sketch._zeros = int(data.get("zeros", 0))
            sketch._buckets = {int(i): int(n) for i, n in data["buckets"]}
        return sketch


def merged(sketches: Iterable[LatencySketch]) -> LatencySketch:
    """One new sketch holding every observation of ``sketches``."""
    total = LatencySketch()
    for sketch in sketches:
        total.merge(sketch)
    return total
