"""Where the TUI's documents come from: trace files (offline), a collector (live) or
the merged view of several collectors (live, scale-out by trace id).

Every source hands out the same plain documents (``critpath.report/v1``,
``critpath.trace/v1`` and an endpoint's detail), so the screens cannot tell them
apart. Calls block; the app makes them from worker threads only.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import httpx

from tui.model import window_seconds

REPORT_SCHEMA = "critpath.report/v1"
TRACE_SCHEMA = "critpath.trace/v1"
AGGREGATE_SCHEMA = "critpath.aggregate/v1"
GZIP_MAGIC = b"\x1f\x8b"
EXEMPLAR_LIMIT = 50
"""The most exemplar traces an endpoint lists when the source is a set of files."""


class SourceError(Exception):
    """The source answered, but with something the TUI cannot use; the message says what."""


class SourceUnavailable(SourceError):
    """The source cannot be reached right now (connection refused, timeout, 5xx)."""


@runtime_checkable
class ReportSource(Protocol):
    """A supplier of report, endpoint and trace documents.

    ``live`` sources change over time and are polled; others are read once.
    ``description`` names the source for the status line (a URL, a file count).
    """

    live: bool
    description: str

    def report(self, window: str) -> dict[str, Any]:
        """The ``critpath.report/v1`` document over ``window`` (``1m|5m|15m|all``)."""
        ...

    def report_seconds(self, window: str) -> float | None:
        """How many seconds the report covers, for request rates; ``None`` if unknown."""
        ...

    def endpoint(self, service: str, name: str, window: str = "all") -> dict[str, Any]:
        """``{"depths": {depth: count}, "exemplars": [...]}`` over ``window`` (the overview's).

        Each exemplar is ``{"trace_id", "duration_ms", "error", "start_ns"}``.
        """
        ...

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """The ``critpath.trace/v1`` document of a trace, ``None`` when the source lacks it."""
        ...

    def close(self) -> None:
        """Release connections or memory; the source is not used afterwards."""
        ...


class CollectorSource:
    """A collector's JSON API (docs/design.md, "HTTP API"), read with httpx.

    Transport failures and server errors raise :class:`SourceUnavailable` so the app
    can say the collector went away and keep polling until it returns.
    """

    live = True

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 3.0,
        transport: httpx.BaseTransport | None = None,
        config: Any = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.config = config
        """The local ``AnalysisConfig`` (``None``: the defaults); the collector analyses under
        its own, this one says which span attributes declare a timeout in span details."""
        self.description = self.url
        self._client = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)

    def report(self, window: str) -> dict[str, Any]:
        """``GET /api/report?window=``, checked to be a ``critpath.report/v1`` document."""
        doc = self._get("/api/report", params={"window": window})
        if not isinstance(doc, dict) or doc.get("schema") != REPORT_SCHEMA:
            raise SourceError(f"{self.url}/api/report: not a {REPORT_SCHEMA} document")
        return doc

    def report_seconds(self, window: str) -> float | None:
        """The collector's windows are fixed lengths; ``all`` has none."""
        return window_seconds(window)

    def aggregate(self, window: str) -> dict[str, Any]:
        """``GET /api/aggregate?window=``: the mergeable ``Aggregate.to_dict()`` snapshot."""
        doc = self._get("/api/aggregate", params={"window": window})
        if (
            not isinstance(doc, dict)
            or doc.get("schema") != AGGREGATE_SCHEMA
            or not isinstance(doc.get("aggregate"), dict)
        ):
            raise SourceError(f"{self.url}/api/aggregate: not a {AGGREGATE_SCHEMA} document")
        return doc["aggregate"]

    def endpoint(self, service: str, name: str, window: str = "all") -> dict[str, Any]:
        """``GET /api/endpoints/{service}/{name}?window=``: the depth counts over the window,
        and the exemplars (from ``/api/traces`` when the detail lists none, or when the
        endpoint has no traces in the window)."""
        path = f"/api/endpoints/{quote(service, safe='')}/{quote(name, safe='')}"
        doc = self._get(path, params={"window": window}, allow_missing=True) or {}
        if not isinstance(doc, dict):
            raise SourceError(f"{self.url}{path}: expected a JSON object")
        if "exemplars" not in doc:
            listed = self._get(
                "/api/traces",
                params={"endpoint_service": service, "endpoint_name": name},
                allow_missing=True,
            )
            doc = {**doc, "exemplars": _exemplar_list(listed)}
        return doc

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """``GET /api/traces/{trace_id}``; ``None`` when the collector no longer holds it."""
        doc = self._get(f"/api/traces/{quote(trace_id, safe='')}", allow_missing=True)
        if doc is not None and (not isinstance(doc, dict) or doc.get("schema") != TRACE_SCHEMA):
            raise SourceError(f"{self.url}/api/traces/{trace_id}: not a {TRACE_SCHEMA} document")
        return doc

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _get(
        self, path: str, *, params: Mapping[str, str] | None = None, allow_missing: bool = False
    ) -> Any:
        try:
            response = self._client.get(path, params=params)
        except httpx.TransportError as exc:
            raise SourceUnavailable(f"{self.url} unreachable ({_reason(exc)})") from exc
        if response.status_code == 404 and allow_missing:
            return None
        if response.status_code >= 500 or response.status_code in (429, 502, 503, 504):
            raise SourceUnavailable(f"{self.url}{path} answered {response.status_code}")
        if response.is_error:
            raise SourceError(f"{self.url}{path} answered {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise SourceError(f"{self.url}{path}: the answer is not JSON") from exc


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 80 else text[:77] + "…"


def _exemplar_list(doc: Any) -> list[Any]:
    """``/api/traces`` answers a list, or an object holding it as ``exemplars`` or ``traces``."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        return list(doc.get("exemplars") or doc.get("traces") or [])
    return []


class MergedCollectorSource:
    """The merged view of several collectors that each hold whole traces (ARCHITECTURE.md §9).

    The report is built here from the sum of every collector's ``/api/aggregate``, exactly
    as one collector receiving all the spans would build it; a trace lives on one
    collector, so each is asked in turn. Collectors that cannot be reached are left out
    and named in :attr:`unreachable` (the app's banner) as long as one still answers;
    when none does, :class:`SourceUnavailable` is raised as for a single collector.
    """

    live = True

    def __init__(
        self,
        urls: Sequence[str],
        *,
        config: Any = None,
        timeout: float = 3.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        from analyzer.config import AnalysisConfig

        if len(urls) < 2:
            raise ValueError("MergedCollectorSource needs at least two collector URLs")
        self.collectors = tuple(
            CollectorSource(url, timeout=timeout, transport=transport) for url in urls
        )
        self.config = config if config is not None else AnalysisConfig()
        self.description = f"{len(self.collectors)} collectors"
        self._clock = clock
        self._lock = threading.Lock()
        self._unreachable: tuple[str, ...] = ()

    @property
    def unreachable(self) -> tuple[str, ...]:
        """Why each collector left out of the last report did not answer (empty: all did)."""
        with self._lock:
            return self._unreachable

    def report(self, window: str) -> dict[str, Any]:
        """The report over the merged aggregates of the collectors that answer."""
        from analyzer.aggregate import Aggregate
        from analyzer.report import build_report

        snapshots, down = self._each(lambda c: c.aggregate(window))
        merged = Aggregate(self.config)
        for collector, snapshot in snapshots:
            try:
                merged.merge(Aggregate.from_dict(snapshot, self.config))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise SourceError(f"{collector.url}/api/aggregate: unusable ({exc!r})") from exc
        with self._lock:
            self._unreachable = down
        now = self._clock() if self._clock else datetime.now(UTC).timestamp()
        return build_report(merged, self.config, datetime.fromtimestamp(now, UTC))

    def report_seconds(self, window: str) -> float | None:
        """Every collector keeps the same fixed-length windows; ``all`` has none."""
        return window_seconds(window)

    def endpoint(self, service: str, name: str, window: str = "all") -> dict[str, Any]:
        """Depth counts summed and exemplars concatenated (slowest first) over the collectors."""
        details, _ = self._each(lambda c: c.endpoint(service, name, window))
        depths: dict[str, int] = {}
        exemplars: list[Any] = []
        for _, detail in details:
            raw = detail.get("depths") or {}
            # A mapping {depth: count} or a list of [depth, count] pairs, as the model reads.
            for depth, count in raw.items() if isinstance(raw, Mapping) else raw:
                depths[str(depth)] = depths.get(str(depth), 0) + int(count)
            exemplars.extend(detail.get("exemplars") or [])
        exemplars.sort(key=_slowest_first)
        doc: dict[str, Any] = {"exemplars": exemplars}
        if depths:  # without depths the screen falls back to the report's p50 and maximum
            doc["depths"] = dict(sorted(depths.items(), key=lambda item: int(item[0])))
        return doc

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace from whichever collector holds it; ``None`` when every one answered
        without it. When it is not found but some collector could not be asked, that is
        :class:`SourceUnavailable`: the trace may well be on it."""
        down: list[str] = []
        for collector in self.collectors:
            try:
                doc = collector.trace(trace_id)
            except SourceUnavailable as exc:
                down.append(str(exc))
                continue
            if doc is not None:
                return doc
        if down:
            raise SourceUnavailable(f"trace {trace_id} not found; " + "; ".join(down))
        return None

    def close(self) -> None:
        """Close every collector's connection pool."""
        for collector in self.collectors:
            collector.close()

    def _each(
        self, ask: Callable[[CollectorSource], Any]
    ) -> tuple[list[tuple[CollectorSource, Any]], tuple[str, ...]]:
        """``ask`` every collector: the answers of those that answered, and why the others
        did not. Raises :class:`SourceUnavailable` when none answered."""
        answers: list[tuple[CollectorSource, Any]] = []
        down: list[str] = []
        for collector in self.collectors:
            try:
                answers.append((collector, ask(collector)))
            except SourceUnavailable as exc:
                down.append(str(exc))
        if not answers:
            raise SourceUnavailable("no collector answers: " + "; ".join(down))
        return answers, tuple(down)


def _slowest_first(exemplar: Any) -> float:
    """Sort key putting the slowest exemplar first (entries without a duration last)."""
    duration = exemplar.get("duration_ms") if isinstance(exemplar, dict) else None
    return -duration if isinstance(duration, int | float) else float("inf")


@dataclass(frozen=True, slots=True)
class _Loaded:
    """What :class:`FileSource` keeps after reading its files once."""

    report: dict[str, Any]
    seconds: float | None
    traces: Mapping[str, Any]
    by_endpoint: Mapping[tuple[str, str], tuple[dict[str, Any], ...]]
    depths: Mapping[tuple[str, str], Mapping[int, int]]


class FileSource:
    """Trace files read once and analysed locally: the report and the trace documents
    come from the analyzer exactly as a collector would build them.

    ``clock`` gives the report's ``generated_at`` (seconds since the epoch).
    """

    live = False

    def __init__(
        self, paths: Sequence[Path], *, config: Any = None, clock: Callable[[], float] | None = None
    ) -> None:
        from analyzer.config import AnalysisConfig

        self.paths = tuple(Path(p) for p in paths)
        self.config = config if config is not None else AnalysisConfig()
        self.description = (
            str(self.paths[0]) if len(self.paths) == 1 else f"{len(self.paths)} trace files"
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    def report(self, window: str) -> dict[str, Any]:
        """The report over every trace in the files (``window`` does not apply to files)."""
        return self._load().report

    def report_seconds(self, window: str) -> float | None:
        """From the first trace's start to the last trace's end."""
        return self._load().seconds

    def endpoint(self, service: str, name: str, window: str = "all") -> dict[str, Any]:
        """Depth counts and the slowest traces of the endpoint (up to :data:`EXEMPLAR_LIMIT`);
        ``window`` does not apply to files."""
        loaded = self._load()
        key = (service, name)
        depths = loaded.depths.get(key, {})
        return {
            "depths": {str(depth): count for depth, count in sorted(depths.items())},
            "exemplars": list(loaded.by_endpoint.get(key, ())),
        }

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace's ``critpath.trace/v1`` document (its critical path was computed on load)."""
        from analyzer.report import trace_document

        ctx = self._load().traces.get(trace_id)
        return None if ctx is None else trace_document(ctx)

    def close(self) -> None:
        """Drop the analysed traces."""
        with self._lock:
            self._loaded = None

    def _load(self) -> _Loaded:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._analyse()
            return self._loaded

    def _analyse(self) -> _Loaded:
        from analyzer.aggregate import Aggregate
        from analyzer.assemble import assemble
        from analyzer.decode import DecodeError, decode
        from analyzer.report import build_report

        spans = []
        for path in self.paths:
            try:
                data = path.read_bytes()
                if (
                    data[:2] == GZIP_MAGIC
                ):  # the OpenTelemetry Collector's file exporter can compress
                    data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as exc:
                raise SourceError(
                    f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})"
                ) from exc
            try:
                # Keep every attribute: the trace screen shows them, not only the analysed ones.
                spans.extend(decode(data, source=str(path), keep_attributes=None).spans)
            except DecodeError as exc:
                raise SourceError(str(exc)) from exc
        aggregate = Aggregate(self.config)
        contexts = [
            ctx for trace in assemble(spans) if (ctx := aggregate.add_trace(trace)) is not None
        ]
        if not contexts:
            raise SourceError(f"{self.description}: no traces found")
        by_endpoint: dict[tuple[str, str], list[dict[str, Any]]] = {}
        depths: dict[tuple[str, str], dict[int, int]] = {}
        for ctx in contexts:
            key = (ctx.endpoint.service, ctx.endpoint.name)
            counts = depths.setdefault(key, {})
            counts[ctx.depth] = counts.get(ctx.depth, 0) + 1
            by_endpoint.setdefault(key, []).append(
                {
                    "trace_id": ctx.trace.trace_id,
                    "duration_ms": ctx.duration_ns / 1e6,
                    "error": ctx.error,
                    "start_ns": ctx.root.start_ns,
                }
            )
        now = self._clock() if self._clock else datetime.now(UTC).timestamp()
        report = build_report(aggregate, self.config, datetime.fromtimestamp(now, UTC))
        first = min(ctx.root.start_ns for ctx in contexts)
        last = max(ctx.root.end_ns for ctx in contexts)
        return _Loaded(
            report=report,
            seconds=(last - first) / 1e9 if last > first else None,
            traces={ctx.trace.trace_id: ctx for ctx in contexts},
            by_endpoint={
                key: tuple(sorted(items, key=lambda e: -e["duration_ms"])[:EXEMPLAR_LIMIT])
                for key, items in by_endpoint.items()
            },
            depths=depths,
        )


class MemorySource:
    """Documents held in memory: the test double, and a way to show a report a script built.

    ``set_report`` swaps the report (as a live collector's would change).
    """

    def __init__(
        self,
        report: Mapping[str, Any],
        *,
        traces: Mapping[str, Mapping[str, Any]] | None = None,
        endpoints: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
        live: bool = False,
        seconds: float | None = None,
        description: str = "memory",
    ) -> None:
        self.live = live
        self.description = description
        self._lock = threading.Lock()
        self._report = dict(report)
        self._traces = dict(traces or {})
        self._endpoints = dict(endpoints or {})
        self._seconds = seconds

    def set_report(self, report: Mapping[str, Any]) -> None:
        """Replace the report the next poll returns."""
        with self._lock:
            self._report = dict(report)

    def report(self, window: str) -> dict[str, Any]:
        """The report held (the same for every window)."""
        with self._lock:
            return self._report

    def report_seconds(self, window: str) -> float | None:
        """The length given at construction."""
        return self._seconds

    def endpoint(self, service: str, name: str, window: str = "all") -> dict[str, Any]:
        """The detail given for the endpoint (whatever the window), else no depths and no
        exemplars."""
        return dict(self._endpoints.get((service, name), {"depths": {}, "exemplars": []}))

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace document given for ``trace_id``."""
        doc = self._traces.get(trace_id)
        return None if doc is None else dict(doc)

    def close(self) -> None:
        """Nothing to release."""
