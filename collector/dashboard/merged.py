"""The merged view of several collectors, as a ``LiveView`` the dashboard can serve.

Collectors behind a load-balancing exporter (``routing_key: traceID``) each hold whole
traces, so the sum of their aggregates is what one collector receiving every span would
hold (ARCHITECTURE.md §9). :class:`MergedView` reads each collector's JSON API:

* ``report(window)`` merges every answering collector's ``GET /api/aggregate?window=``
  and builds the report under the local analysis config, as ``critpath gate --from A
  --from B`` and ``critpath tui --from A --from B`` do;
* ``trace(id)`` asks each collector in turn (a trace lives on one of them);
* ``exemplars(service, name)`` concatenates every collector's exemplars;
* ``version`` changes whenever any collector's live state changes (read from its
  ``/live/version``, or the first event of its ``/api/stream`` when its dashboard is off)
  or a collector stops or starts answering; the dashboard's page polls it.

Collectors that do not answer are left out and named in :attr:`MergedView.unreachable`
(the pages show them in a banner) as long as one still answers; when none does, reads
raise :class:`CollectorsUnavailable` and the pages say so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from analyzer.aggregate import Aggregate
from analyzer.config import AnalysisConfig
from analyzer.report import build_report
from collector.dashboard.router import ViewUnavailable

AGGREGATE_SCHEMA = "critpath.aggregate/v1"
TRACE_SCHEMA = "critpath.trace/v1"
CACHE_SECONDS = 1.0
"""How long a merged report or the collectors' versions are reused: a page reads the
report of its window and of ``all``, and every open tab polls the version."""


class CollectorsUnavailable(ViewUnavailable):
    """No collector answered; the message names each and why."""


class _Down(Exception):
    """One collector did not answer usefully (the message says which and why)."""


class MergedView:
    """A ``LiveView`` (docs/design.md) over the merged state of several collectors."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        config: AnalysisConfig | None = None,
        timeout: float = 3.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("MergedView needs at least one collector URL")
        self.urls = tuple(_base(url) for url in urls)
        self.config = config if config is not None else AnalysisConfig()
        self._clients = [httpx.Client(base_url=url, timeout=timeout, transport=transport)
                         for url in self.urls]
        self._clock = clock
        self._lock = threading.Lock()
        self._reports: dict[str, tuple[float, dict[str, Any]]] = {}
        self._versions: tuple[float, tuple[object, ...]] | None = None
        self._seen: tuple[object, ...] | None = None
        self._version = 0
        self._unreachable: dict[str, str] = {}

    # -- LiveView --------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Grows each time any collector's version changes or one goes or comes back."""
        now = self._clock()
        with self._lock:
            if self._versions is not None and now - self._versions[0] < CACHE_SECONDS:
                return self._version
        seen = tuple(self._each_or_none(self._upstream_version))
        with self._lock:
            self._versions = (now, seen)
            if seen != self._seen:
                self._seen = seen
                self._version += 1
                self._reports.clear()
            return self._version

    def report(self, window: str = "all") -> dict[str, Any]:
        """The ``critpath.report/v1`` over the merged aggregates of the collectors that answer."""
        now = self._clock()
        with self._lock:
            cached = self._reports.get(window)
            if cached is not None and now - cached[0] < CACHE_SECONDS:
                return cached[1]
        merged = Aggregate(self.config)
        answered = 0
        for snapshot in self._each_or_none(lambda i: self._aggregate(i, window)):
            if snapshot is not None:
                merged.merge(snapshot)
                answered += 1
        if not answered:
            raise CollectorsUnavailable(self._none_answers())
        report = build_report(merged, self.config, datetime.now(UTC))
        report["window"] = window
        with self._lock:
            self._reports[window] = (now, report)
        return report

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace from whichever collector holds it (``None`` if none that answers does)."""
        for index in range(len(self.urls)):
            try:
                document = self._get(index, f"/api/traces/{quote(trace_id, safe='')}", missing_ok=True)
            except _Down as exc:
                self._mark(index, str(exc))
                continue
            self._mark(index, None)
            if document is not None:
                if not isinstance(document, dict) or document.get("schema") != TRACE_SCHEMA:
                    self._mark(index, f"{self.urls[index]}/api/traces/…: not a {TRACE_SCHEMA} document")
                    continue
                return document
        return None

    def exemplars(self, service: str, name: str) -> list[dict[str, Any]]:
        """Every collector's exemplar traces of the endpoint."""
        params = {"endpoint_service": service, "endpoint_name": name}
        rows: list[dict[str, Any]] = []
        for answer in self._each_or_none(lambda i: self._get(i, "/api/traces", params=params)):
            if isinstance(answer, dict):
                rows.extend(row for row in answer.get("traces") or [] if isinstance(row, dict))
        return rows

    # -- what the pages show about the sources ------------------------------------------

    @property
    def sources(self) -> tuple[str, ...]:
        """The collectors' base URLs, as given."""
        return self.urls

    @property
    def unreachable(self) -> tuple[str, ...]:
        """Why each collector that did not answer its last request did not (empty: all did)."""
        with self._lock:
            return tuple(self._unreachable[url] for url in self.urls if url in self._unreachable)

    def close(self) -> None:
        """Close every collector's connection pool."""
        for client in self._clients:
            client.close()

    # -- one collector ------------------------------------------------------------------

    def _aggregate(self, index: int, window: str) -> Aggregate:
        document = self._get(index, "/api/aggregate", params={"window": window})
        url = f"{self.urls[index]}/api/aggregate"
        if not isinstance(document, dict) or document.get("schema") != AGGREGATE_SCHEMA:
            raise _Down(f"{url}: not a {AGGREGATE_SCHEMA} document")
        try:
            return Aggregate.from_dict(document["aggregate"], self.config)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _Down(f"{url}: not a usable aggregate ({exc!r})") from exc

    def _upstream_version(self, index: int) -> object:
        """The collector's live-state version: its dashboard's ``/live/version``, or the
        id of the first event of its ``/api/stream`` when it serves no dashboard."""
        answer = self._get(index, "/live/version", missing_ok=True)
        if isinstance(answer, dict) and "version" in answer:
            return answer["version"]
        try:
            with self._clients[index].stream("GET", "/api/stream") as response:
                if response.status_code != 200:
                    raise _Down(f"{self.urls[index]}/api/stream answered {response.status_code}")
                for line in response.iter_lines():
                    if line.startswith("id:"):
                        return line[3:].strip()
        except httpx.HTTPError as exc:
            raise _Down(f"{self.urls[index]} unreachable ({_reason(exc)})") from exc
        raise _Down(f"{self.urls[index]}/api/stream ended without an event")

    def _get(self, index: int, path: str, *, params: dict[str, str] | None = None,
             missing_ok: bool = False) -> Any:
        url = self.urls[index]
        try:
            response = self._clients[index].get(path, params=params)
        except httpx.HTTPError as exc:
            raise _Down(f"{url} unreachable ({_reason(exc)})") from exc
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code != 200:
            raise _Down(f"{url}{path} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise _Down(f"{url}{path}: the answer is not JSON") from exc

    def _each_or_none(self, ask: Callable[[int], Any]) -> list[Any]:
        """``ask`` each collector; ``None`` for those that did not answer (and why is kept)."""
        answers = []
        for index in range(len(self.urls)):
            try:
                answer = ask(index)
            except _Down as exc:
                self._mark(index, str(exc))
                answers.append(None)
            else:
                self._mark(index, None)
                answers.append(answer)
        return answers

    def _mark(self, index: int, reason: str | None) -> None:
        with self._lock:
            if reason is None:
                self._unreachable.pop(self.urls[index], None)
            else:
                self._unreachable[self.urls[index]] = reason

    def _none_answers(self) -> str:
        return "no collector answers: " + "; ".join(self.unreachable)


def _base(url: str) -> str:
    """``http://host:8686/`` → ``http://host:8686``; a URL naming ``/api/…`` or the dashboard's
    own root is cut back to the collector's base."""
    url = url.strip().rstrip("/")
    for suffix in ("/api/report", "/api/aggregate"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    if "://" not in url:
        url = "http://" + url
    return url


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "…"
