"""Endpoint critical-path profiles: for each user journey, where its latency goes.

An endpoint is ``(root service, root span name)`` (ARCHITECTURE.md §3). For each one
we keep how many traces and errors it had, its end-to-end latency, the distribution
of its critical-path depth, and — per service — how much critical-path time that
service owned: a sketch of the per-trace time (over the traces where it owned some)
and the total, from which :meth:`EndpointProfile.share` is that service's fraction
of all the endpoint's critical-path time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from analyzer.model import Endpoint
from analyzer.stats import LatencySketch, nearest_rank

if TYPE_CHECKING:  # only for annotations: aggregate imports this module
    from analyzer.aggregate import TraceContext

OTHER = "(other)"
"""Span name that endpoints beyond ``max_endpoints`` fold into, per root service."""

DEFAULT_MAX_ENDPOINTS = 2_000


class ServiceTime:
    """One service's critical-path time within one endpoint."""

    __slots__ = ("total_ns", "per_trace")

    def __init__(self) -> None:
        self.total_ns = 0
        self.per_trace = LatencySketch()  # only traces where the service owned time

    def merge(self, other: ServiceTime) -> None:
        self.total_ns += other.total_ns
        self.per_trace.merge(other.per_trace)

    def to_dict(self) -> dict[str, Any]:
        return {"total_ns": self.total_ns, "per_trace": self.per_trace.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServiceTime:
        time = cls()
        time.total_ns = int(data["total_ns"])
        time.per_trace = LatencySketch.from_dict(data["per_trace"])
        return time


class EndpointProfile:
    """Everything known about one endpoint's traces."""

    __slots__ = ("traces", "errors", "latency", "depths", "services")

    def __init__(self) -> None:
        self.traces = 0
        self.errors = 0
        self.latency = LatencySketch()
        self.depths: dict[int, int] = {}  # depth -> traces: exact, depths are few
        self.services: dict[str, ServiceTime] = {}

    def add(self, ctx: TraceContext) -> None:
        """Fold one trace's context in (its root must belong to this endpoint)."""
        self.traces += 1
        self.errors += ctx.error
        self.latency.add(ctx.duration_ns)
        self.depths[ctx.depth] = self.depths.get(ctx.depth, 0) + 1
        for service, ns in ctx.service_ns.items():
            time = self.services.get(service)
            if time is None:
                time = self.services[service] = ServiceTime()
            time.total_ns += ns
            time.per_trace.add(ns)

    def merge(self, other: EndpointProfile) -> None:
        self.traces += other.traces
        self.errors += other.errors
        self.latency.merge(other.latency)
        for depth, n in other.depths.items():
            self.depths[depth] = self.depths.get(depth, 0) + n
        for service, time in other.services.items():
            mine = self.services.get(service)
            if mine is None:
                mine = self.services[service] = ServiceTime()
            mine.merge(time)

    # -- reading --------------------------------------------------------------------

    def depth_quantile(self, q: float) -> int | None:
        """Exact ``q``-quantile (nearest rank) of the depths; ``None`` without traces."""
        total = sum(self.depths.values())
        if total == 0:
            return None
        rank = nearest_rank(q, total)
        seen = 0
        for depth in sorted(self.depths):
            seen += self.depths[depth]
            if seen > rank:
                return depth
        return max(self.depths)

    @property
    def depth_max(self) -> int | None:
        return max(self.depths) if self.depths else None

    @property
    def critical_ns(self) -> int:
        """All critical-path time of the endpoint (the sum of its traces' durations)."""
        return sum(time.total_ns for time in self.services.values())

    def share(self, service: str) -> float:
        """``service``'s fraction of the endpoint's critical-path time (shares sum to 1).

        When every trace took 0 ns there is no time to divide; the services that own
        the (empty) critical path then share it equally, so the shares still sum to 1.
        """
        time = self.services.get(service)
        if time is None:
            return 0.0
        total = self.critical_ns
        return time.total_ns / total if total else 1 / len(self.services)

    def service_time(self, service: str) -> LatencySketch:
        """Per-trace critical-path time of ``service`` over *all* the endpoint's traces.

        Traces where the service owned no critical-path time count as 0; they are
        added here, not when folding, because which services exist is only known at
        the end (and adding them here keeps the result independent of trace order).
        """
        sketch = LatencySketch()
        time = self.services.get(service)
        if time is not None:
            sketch.merge(time.per_trace)
        sketch.add(0, self.traces - sketch.count)
        return sketch

    def services_by_share(self) -> list[tuple[str, float]]:
        """``(service, share)``, largest share first, ties by name."""
        total = self.critical_ns
        even = 1 / len(self.services) if self.services else 0.0
        items = [(name, time.total_ns / total if total else even)
                 for name, time in self.services.items()]
        return sorted(items, key=lambda item: (-item[1], item[0]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "traces": self.traces, "errors": self.errors, "latency": self.latency.to_dict(),
            "depths": [[d, n] for d, n in sorted(self.depths.items())],
            "services": {name: time.to_dict() for name, time in sorted(self.services.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EndpointProfile:
        profile = cls()
        profile.traces = int(data["traces"])
        profile.errors = int(data["errors"])
        profile.latency = LatencySketch.from_dict(data["latency"])
        profile.depths = {int(d): int(n) for d, n in data["depths"]}
        profile.services = {name: ServiceTime.from_dict(t) for name, t in data["services"].items()}
        return profile


class EndpointAggregate:
    """Mergeable profiles of every endpoint, keyed by :class:`~analyzer.model.Endpoint`.

    Span names can carry ids ("GET /users/123"), so the number of endpoints is bounded:
    once ``max_endpoints`` exist, traces of a new endpoint fold into
    ``Endpoint(service, "(other)")`` and ``overflowed`` counts them.
    """

    __slots__ = ("profiles", "max_endpoints", "overflowed")

    def __init__(self, *, max_endpoints: int = DEFAULT_MAX_ENDPOINTS) -> None:
        self.profiles: dict[Endpoint, EndpointProfile] = {}
        self.max_endpoints = max_endpoints
        self.overflowed = 0

    def _profile(self, endpoint: Endpoint, traces: int) -> EndpointProfile:
        profile = self.profiles.get(endpoint)
        if profile is None:
            if len(self.profiles) >= self.max_endpoints:
                self.overflowed += traces
                endpoint = Endpoint(endpoint.service, OTHER)
                profile = self.profiles.get(endpoint)
            if profile is None:
                profile = self.profiles[endpoint] = EndpointProfile()
        return profile

    def add(self, ctx: TraceContext) -> None:
        self._profile(ctx.endpoint, 1).add(ctx)

    def merge(self, other: EndpointAggregate) -> None:
        for endpoint in sorted(other.profiles, key=_endpoint_key):
            profile = other.profiles[endpoint]
            self._profile(endpoint, profile.traces).merge(profile)
        self.overflowed += other.overflowed

    def __len__(self) -> int:
        return len(self.profiles)

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self.profiles)

    def __getitem__(self, endpoint: Endpoint) -> EndpointProfile:
        return self.profiles[endpoint]

    def get(self, endpoint: Endpoint) -> EndpointProfile | None:
        return self.profiles.get(endpoint)

    def items(self) -> list[tuple[Endpoint, EndpointProfile]]:
        """Profiles ordered by endpoint (service, then name)."""
        return sorted(self.profiles.items(), key=lambda item: _endpoint_key(item[0]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_endpoints": self.max_endpoints, "overflowed": self.overflowed,
            "profiles": [[e.service, e.name, p.to_dict()] for e, p in self.items()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EndpointAggregate:
        aggregate = cls(max_endpoints=int(data.get("max_endpoints", DEFAULT_MAX_ENDPOINTS)))
        aggregate.overflowed = int(data.get("overflowed", 0))
        aggregate.profiles = {Endpoint(service, name): EndpointProfile.from_dict(p)
                              for service, name, p in data["profiles"]}
        return aggregate


def _endpoint_key(endpoint: Endpoint) -> tuple[str, str]:
    return endpoint.service, endpoint.name
