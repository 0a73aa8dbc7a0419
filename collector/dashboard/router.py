"""The dashboard's HTTP routes: server-rendered pages, their static files, and a version probe.

Pages are rendered from the collector's live view (``LiveView`` in docs/design.md) on
every request; nothing is cached between requests except the layout of the service
graph, which only changes when the graph's shape does. Every response carries a strict
Content-Security-Policy: scripts and styles come only from ``/static/dashboard/``, so
markup smuggled in through span data could not run even if it escaped escaping.
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined

from analyzer.layout import Layout, layered_layout
from collector.dashboard import present

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
"""No inline script or style anywhere: everything executable or styling is a static file."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

STATIC_FILES = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
"""The only files served under ``/static/dashboard/``: a fixed list, so no path from a
request ever reaches the filesystem."""

ALL = "all"
PREFERRED_DEFAULT_WINDOW = "5m"
GRAPH_CACHE_SIZE = 8


class ViewUnavailable(Exception):
    """Raised by a view that cannot be read right now (the merged view when no collector
    answers); the page then says so with a 503 and the message, and keeps polling."""


class LiveView(Protocol):
    """What the dashboard reads (docs/design.md; ``collector/state.py`` implements it, and
    ``collector/dashboard/merged.py`` over several collectors).

    A view may also have ``sources`` (the collectors it merges) and ``unreachable`` (why
    each one that did not answer did not); the pages then show them in a banner.
    """

    version: int

    def report(self, window: str = "all") -> dict: ...

    def trace(self, trace_id: str) -> dict | None: ...

    def exemplars(self, service: str, name: str) -> list[dict]: ...


class _SecureRoute(APIRoute):
    """Adds the security headers to every response of the dashboard's routes."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def secured(request: Request) -> Response:
            response = await handler(request)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return secured


def create_dashboard_router(view: LiveView, settings: Any) -> APIRouter:
    """The dashboard's routes, reading ``view`` on every request.

    ``settings`` is the collector's ``CollectorSettings``; the dashboard reads its
    ``window_names`` (the sliding windows the live state keeps) to offer them in the
    window selector, besides ``all``.
    """
    windows: dict[str, int | None] = {**dict(settings.window_names), ALL: None}
    default_window = PREFERRED_DEFAULT_WINDOW if PREFERRED_DEFAULT_WINDOW in windows else next(iter(windows))
    env = _environment()
    static = {name: resources.files("collector.dashboard").joinpath("static", name).read_bytes()
              for name in STATIC_FILES}
    layouts = _LayoutCache(GRAPH_CACHE_SIZE)
    router = APIRouter(route_class=_SecureRoute, include_in_schema=False)

    def page(request: Request, template: str, status: int = 200, *, version: int | None = None,
             **context: Any) -> HTMLResponse:
        """Render ``template``; ``version`` is the live state's version the page's data is
        at least as new as (read before the data, so a change in between is not missed)."""
        window = context.pop("window", default_window)
        context.setdefault("nav", "")

        def url(path: str, **params: Any) -> str:
            """A dashboard URL keeping the current window unless told otherwise."""
            params.setdefault("window", window)
            query = {k: v for k, v in params.items() if v is not None}
            return f"{path}?{urlencode(query)}" if query else path

        def with_window(name: str) -> str:
            """The current page with another window (for the window selector)."""
            params = dict(request.query_params)
            params["window"] = name
            return f"{request.url.path}?{urlencode(params)}"

        html = env.get_template(template).render(
            windows=list(windows), window=window, window_seconds=windows.get(window),
            url=url, with_window=with_window, path=request.url.path,
            version=view.version if version is None else version,
            sources=tuple(getattr(view, "sources", ())), unreachable=tuple(getattr(view, "unreachable", ())),
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def guarded(handler: Callable[..., HTMLResponse]) -> Callable[..., HTMLResponse]:
        """A page that answers 503 with the view's reason when the view cannot be read."""

        @functools.wraps(handler)
        def guarded_handler(request: Request, *args: Any, **kwargs: Any) -> HTMLResponse:
            try:
                return handler(request, *args, **kwargs)
            except ViewUnavailable as exc:
                window = kwargs.get("window")
                return page(request, "error.html", status=503,
                            window=window if window in windows else default_window,
                            title="No data source answers", message=str(exc),
                            hint="Reload the page to try again once they are running.")

        return guarded_handler

    def colours() -> dict[str, str]:
        """Service colours over every service the collector knows, so they agree on all
        pages and windows."""
        return present.service_colours(
            s["name"] for s in view.report(ALL).get("services", []) if s.get("kind") == "service")

    def bad_window(request: Request, window: str) -> HTMLResponse:
        return page(request, "error.html", status=400, title="Unknown window",
                    message=f"There is no window {window!r}.",
                    hint="Choose one of: " + ", ".join(windows))

    @router.get("/", response_class=HTMLResponse)
    @guarded
    def overview(request: Request, window: str = default_window) -> HTMLResponse:
        if window not in windows:
            return bad_window(request, window)
        version = view.version
        report = view.report(window)
        findings = present.sorted_findings(report.get("findings", []))
        return page(
            request, "overview.html", version=version, window=window, report=report, nav="overview",
            graph=present.build_graph(report, windows[window], layouts),
            findings=findings[:5], finding_count=len(findings),
            severities=present.severity_counts(findings),
            endpoints=present.sort_endpoint_rows(present.endpoint_rows(report, colours()), "p99", True)[:5],
        )

    @router.get("/endpoints", response_class=HTMLResponse)
    @guarded
    def endpoints(
        request: Request, window: str = default_window,
        sort: str = "p99", order: str = "desc",
    ) -> HTMLResponse:
        if window not in windows:
            return bad_window(request, window)
        # A pasted link with a mangled sort still shows the table, in the default order.
        if sort not in present.ENDPOINT_SORTS:
            sort = "p99"
        order = "asc" if order == "asc" else "desc"
        version = view.version
        report = view.report(window)
        rows = present.sort_endpoint_rows(present.endpoint_rows(report, colours()), sort, order == "desc")
        return page(request, "endpoints.html", version=version, window=window, report=report, nav="endpoints",
                    rows=rows, sort=sort, order=order)

    @router.get("/endpoint", response_class=HTMLResponse)
    @guarded
    def endpoint(request: Request, service: str = "", name: str = "",
                 window: str = default_window) -> HTMLResponse:
        if window not in windows:
            return bad_window(request, window)
        version = view.version
        report = view.report(window)
        row = present.find_endpoint(present.endpoint_rows(report, colours()), service, name)
        exemplars = sorted(view.exemplars(service, name), key=lambda e: -float(e.get("duration_ms") or 0))
        if row is None and not exemplars:
            return page(request, "error.html", status=404, window=window, nav="endpoints",
                        title="Unknown endpoint",
                        message=f"No traces of {service} {name} in this window.",
                        hint="It may have traffic in a longer window.")
        key = present.endpoint_key(service, name)
        findings = [f for f in present.sorted_findings(report.get("findings", []))
                    if present.finding_endpoint(f) == key]
        return page(request, "endpoint.html", version=version, window=window, report=report, nav="endpoints",
                    service=service, name=name, row=row, exemplars=exemplars, findings=findings)

    @router.get("/traces/{trace_id:path}", response_class=HTMLResponse)
    @guarded
    def trace(request: Request, trace_id: str, window: str = default_window) -> HTMLResponse:
        if window not in windows:
            window = default_window  # the trace itself does not depend on the window
        doc = view.trace(trace_id.lower())
        if doc is None:
            return page(request, "error.html", status=404, window=window, nav="",
                        title="Trace not found",
                        message=(f"None of the {len(view.sources)} collectors holds trace {trace_id!r}."
                                 if len(getattr(view, "sources", ())) > 1
                                 else f"The collector holds no trace {trace_id!r}."),
                        hint="Exemplar traces are kept for a while; older ones are gone.")
        return page(request, "trace.html", window=window, nav="", doc=doc,
                    waterfall=present.build_waterfall(doc, colours()))

    @router.get("/findings", response_class=HTMLResponse)
    @guarded
    def findings_page(request: Request, window: str = default_window) -> HTMLResponse:
        if window not in windows:
            return bad_window(request, window)
        version = view.version
        report = view.report(window)
        findings = present.sorted_findings(report.get("findings", []))
        links = {present.endpoint_key(ep["service"], ep["name"]): (ep["service"], ep["name"])
                 for ep in report.get("endpoints", [])}
        return page(request, "findings.html", version=version, window=window, report=report, nav="findings",
                    findings=findings, severities=present.severity_counts(findings),
                    endpoint_links=links)

    @router.get("/live/version")
    def live_version() -> JSONResponse:
        """What the page polls when the collector's event stream is not available."""
        return JSONResponse({"version": view.version}, headers={"Cache-Control": "no-store"})

    @router.get("/static/dashboard/{name}")
    def static_file(name: str) -> Response:
        if name not in static:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(static[name], media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "no-cache"})

    return router


class _LayoutCache:
    """Recent layouts of the service graph, keyed by its shape (nodes, edges, sizes).

    The layout is the only costly part of a page, and a live graph keeps its shape far
    longer than its numbers change. A small LRU per router (never module-global, so two
    apps never share one) makes refreshes cheap.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, Layout] = OrderedDict()

    def __call__(self, nodes: list[str], edges: list[tuple[str, str]],
                 node_size: Mapping[str, tuple[float, float]], **options: Any) -> Layout:
        key = json.dumps([nodes, edges, sorted(node_size.items()), sorted(options.items())])
        layout = self._entries.get(key)
        if layout is None:
            layout = layered_layout(nodes, edges, node_size, **options)
            self._entries[key] = layout
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return layout


def _environment() -> Environment:
    """Jinja2 with autoescaping on for every template (HTML and the SVG inside it)."""
    env = Environment(
        loader=PackageLoader("collector.dashboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ms=present.fmt_ms, pct=present.fmt_pct, count=present.fmt_count,
        evidence=present.fmt_value, key=present.humanize_key, time_ns=present.fmt_time_ns,
        truncate_text=present.truncate, pathpart=lambda value: quote(str(value), safe=""),
    )
    env.globals.update(endpoint_key=present.endpoint_key, finding_endpoint=present.finding_endpoint)
    return env
