"""``/metrics``: the service graph under Tempo's names, critpath's own series, self-metrics.

Nothing is counted twice: the series are rendered at scrape time from the live state
and the ingest counters by one custom collector, in a registry made per app (a
module-level registry would collide across apps in one process, as in tests).

Label values are bounded per metric family: the first ``label_cardinality_limit``
label sets seen are kept (and stay stable across scrapes); later ones fold into a
series whose labels are all ``__overflow__``, and
``critpath_metric_label_sets_overflowed{metric}`` says how many were folded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from analyzer.aggregate import Aggregate
from analyzer.stats import LatencySketch
from collector.counters import LATENCY_BUCKETS, IngestCounters
from collector.pipeline import Pipeline
from collector.settings import CollectorSettings
from collector.state import LiveState

OVERFLOW = "__overflow__"
GRAPH_LABELS = ("client", "server", "connection_type")

#: The OpenTelemetry Collector servicegraph connector's default latency buckets (seconds).
GRAPH_BUCKETS: tuple[float, ...] = (0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4,
                                    0.8, 1.0, 1.4, 2.0, 5.0, 10.0, 15.0)
DEPTH_BUCKETS: tuple[int, ...] = tuple(range(1, 11))
_GAMMA = (1 + 0.01) / (1 - 0.01)  # analyzer.stats' bucket growth (1% relative accuracy)


class LabelLimiter:
    """Admits at most ``limit`` distinct label sets per family; the rest fold into overflow."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._admitted: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        self.overflowed: dict[str, set[tuple[str, ...]]] = defaultdict(set)

    def __call__(self, family: str, labels: tuple[str, ...]) -> tuple[str, ...]:
        admitted = self._admitted[family]
        if labels in admitted:
            return labels
        if len(admitted) < self._limit:
            admitted.add(labels)
            return labels
        folded = self.overflowed[family]
        if len(folded) < 100 * self._limit:  # the overflow tally itself must stay bounded
            folded.add(labels)
        return (OVERFLOW,) * len(labels)


def cumulative_counts(sketch: LatencySketch, bounds: tuple[float, ...], scale: float) -> list[int]:
    """How many observations are ≤ each bound (bounds in units of ``scale`` ns).

    Exact while the sketch is exact; once bucketed, each log bucket counts at its upper
    edge, so a count is off only for values within 1% of a bound.
    """
    data = sketch.to_dict()
    if "values" in data:
        points = [(ns, n) for ns, n in data["values"]]
    else:
        points = [(0, data["zeros"])] + [(_GAMMA ** index, n) for index, n in data["buckets"]]
    counts = []
    for bound in bounds:
        limit = bound * scale
        counts.append(sum(n for ns, n in points if ns <= limit))
    return counts


class _Histograms:
    """Histogram series being merged by label set (overflowed sets add up)."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._series: dict[tuple[str, ...], list[float]] = {}

    def add(self, labels: tuple[str, ...], counts: list[int], count: int, total: float) -> None:
        series = self._series.setdefault(labels, [0.0] * (len(self._bounds) + 2))
        for i, n in enumerate(counts):
            series[i] += n
        series[-2] += count
        series[-1] += total

    def family(self, name: str, doc: str, label_names: tuple[str, ...]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, doc, labels=label_names)
        for labels, series in sorted(self._series.items()):
            buckets = [(_le(b), series[i]) for i, b in enumerate(self._bounds)]
            buckets.append(("+Inf", series[-2]))
            family.add_metric(labels, buckets, sum_value=series[-1])
        return family


def _le(bound: float) -> str:
    return str(float(bound))


def _counter(name: str, doc: str, label_names: tuple[str, ...],
             values: dict[tuple[str, ...], float]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=label_names)
    for labels, value in sorted(values.items()):
        family.add_metric(labels, value)
    return family


class LiveMetrics(Collector):
    """Renders every series from the live state at scrape time."""

    def __init__(self, state: LiveState, counters: IngestCounters,
                 pipeline: Pipeline | None, settings: CollectorSettings) -> None:
        self._state = state
        self._counters = counters
        self._pipeline = pipeline
        self._limit = LabelLimiter(settings.label_cardinality_limit)

    def collect(self) -> Iterator[Metric]:
        aggregate = self._state.aggregate("all")
        yield from self._graph(aggregate)
        yield from self._endpoints(aggregate)
        yield from self._findings()
        yield from self._self_metrics()
        overflowed = GaugeMetricFamily(
            "critpath_metric_label_sets_overflowed",
            "Distinct label sets folded into __overflow__ because the family hit the limit",
            labels=("metric",))
        for family, folded in sorted(self._limit.overflowed.items()):
            overflowed.add_metric((family,), len(folded))
        yield overflowed

    def _graph(self, aggregate: Aggregate) -> Iterator[Metric]:
        limit = self._limit
        requests: dict[tuple[str, ...], float] = defaultdict(float)
        failed: dict[tuple[str, ...], float] = defaultdict(float)
        server = _Histograms(GRAPH_BUCKETS)
        client = _Histograms(GRAPH_BUCKETS)
        for key, stats in aggregate.graph.edges.items():
            labels = limit("traces_service_graph", (key.client, key.server, key.connection_type))
            requests[labels] += stats.requests
            failed[labels] += stats.failed
            for sketch, target in ((stats.server, server), (stats.client, client)):
                if sketch.count:
                    target.add(labels, cumulative_counts(sketch, GRAPH_BUCKETS, 1e9),
                               sketch.count, sketch.sum / 1e9)
        yield _counter("traces_service_graph_request_total",
                       "Requests between two nodes of the service graph", GRAPH_LABELS, requests)
        yield _counter("traces_service_graph_request_failed_total",
                       "Failed requests between two nodes", GRAPH_LABELS, failed)
        yield server.family("traces_service_graph_request_server_seconds",
                            "Request duration as seen by the server", GRAPH_LABELS)
        yield client.family("traces_service_graph_request_client_seconds",
                            "Request duration as seen by the client", GRAPH_LABELS)
        for name, doc, source in (
            ("traces_service_graph_unpaired_spans_total",
             "Client or server spans whose counterpart never arrived", aggregate.graph.unpaired),
            ("traces_service_graph_dropped_spans_total",
             "Spans not counted because the graph hit its edge limit", aggregate.graph.dropped),
        ):
            values: dict[tuple[str, ...], float] = defaultdict(float)
            for key, n in source.items():
                labels = limit("traces_service_graph",
                               (key.client, key.server, key.connection_type))
                values[labels] += n
            yield _counter(name, doc, GRAPH_LABELS, values)

    def _endpoints(self, aggregate: Aggregate) -> Iterator[Metric]:
        limit = self._limit
        depth_series: dict[tuple[str, ...], list[float]] = {}
        seconds: dict[tuple[str, ...], float] = defaultdict(float)
        for endpoint, profile in aggregate.endpoints.profiles.items():
            labels = limit("critpath_endpoint", (endpoint.service, endpoint.name))
            series = depth_series.setdefault(labels, [0.0] * (len(DEPTH_BUCKETS) + 2))
            for i, bound in enumerate(DEPTH_BUCKETS):
                series[i] += sum(n for d, n in profile.depths.items() if d <= bound)
            series[-2] += sum(profile.depths.values())
            series[-1] += sum(d * n for d, n in profile.depths.items())
            for service, time in profile.services.items():
                key = limit("critpath_critical_path_seconds",
                            (endpoint.service, endpoint.name, service))
                seconds[key] += time.total_ns / 1e9
        depth = HistogramMetricFamily(
            "critpath_critical_path_depth",
            "Critical-path depth (services deep) of each endpoint's traces",
            labels=("service", "endpoint"))
        for labels, series in sorted(depth_series.items()):
            buckets = [(_le(b), series[i]) for i, b in enumerate(DEPTH_BUCKETS)]
            buckets.append(("+Inf", series[-2]))
            depth.add_metric(labels, buckets, sum_value=series[-1])
        yield depth
        yield _counter("critpath_critical_path_seconds_total",
                       "Time each service owned on each endpoint's critical path",
                       ("endpoint_service", "endpoint", "service"), seconds)

    def _findings(self) -> Iterator[Metric]:
        counts: dict[tuple[str, ...], float] = defaultdict(float)
        for finding in self._state.report("all").get("findings", []):
            labels = self._limit("critpath_findings_open",
                                 (str(finding.get("rule")), str(finding.get("severity"))))
            counts[labels] += 1
        family = GaugeMetricFamily("critpath_findings_open", "Findings currently open",
                                   labels=("rule", "severity"))
        for labels, n in sorted(counts.items()):
            family.add_metric(labels, n)
        yield family

    def _self_metrics(self) -> Iterator[Metric]:
        snap = self._counters.snapshot()
        yield _counter("critpath_spans_received_total", "Spans received by the receivers",
                       (), {(): snap.received_spans})
        yield _counter("critpath_spans_accepted_total",
                       "Spans accepted into the pipeline (they reach the live state)",
                       (), {(): snap.accepted_spans})
        yield _counter("critpath_spans_rejected_total",
                       "Spans refused and reported back to the sender as partial success",
                       ("reason",), {(r,): n for r, n in snap.rejected_spans.items()})
        yield _counter("critpath_spans_dropped_total",
                       "Spans not analyzed: retries of held spans, late spans, analysis errors",
                       ("reason",), {(r,): n for r, n in snap.dropped_spans.items()})
        yield _counter("critpath_requests_throttled_total",
                       "Export requests refused with 429/503 (RESOURCE_EXHAUSTED/UNAVAILABLE)",
                       ("reason",), {(r,): n for r, n in snap.throttled_requests.items()})
        yield _counter("critpath_requests_refused_total",
                       "Export requests refused permanently (400, 401, 404, 405, 413, 415)",
                       ("reason",), {(r,): n for r, n in snap.malformed_requests.items()})
        yield _counter("critpath_traces_analyzed_total", "Traces folded into the live state",
                       (), {(): snap.traces_analyzed})
        live = GaugeMetricFamily("critpath_live_traces", "Traces buffered, waiting to go quiet")
        pending = GaugeMetricFamily("critpath_pending_bytes", "Encoded size of buffered spans")
        live.add_metric((), self._pipeline.live_traces if self._pipeline else 0)
        pending.add_metric((), self._pipeline.pending_bytes if self._pipeline else 0)
        yield live
        yield pending
        latency = HistogramMetricFamily(
            "critpath_trace_assembly_seconds",
            "Time from a trace's first span to its analysis (mostly the quiet wait)")
        cumulative, running = [], 0
        for bound, n in zip(LATENCY_BUCKETS, snap.latency_bucket_counts, strict=True):
            running += n
            cumulative.append((_le(bound), running))
        cumulative.append(("+Inf", snap.latency_count))
        latency.add_metric((), cumulative, sum_value=snap.latency_sum)
        yield latency


def create_registry(state: LiveState, counters: IngestCounters, pipeline: Pipeline | None,
                    settings: CollectorSettings) -> CollectorRegistry:
    """A fresh registry holding only this app's series."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LiveMetrics(state, counters, pipeline, settings))
    return registry
