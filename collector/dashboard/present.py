"""What the dashboard's pages show, computed from the documented JSON documents.

Everything here is a pure function of a ``critpath.report/v1`` or ``critpath.trace/v1``
dict (docs/design.md): the templates only lay out the values these functions return.
Keeping the arithmetic (rates, shares, geometry of the graph and the waterfall) out of
the templates lets it be tested without a browser and keeps the templates readable.

Nothing here escapes anything: strings from spans travel as plain ``str`` values and
Jinja2's autoescaping escapes them where they are written into HTML or SVG.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from analyzer.layout import EdgePath, Layout, NodeBox, layered_layout

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}

ASYNC_CONNECTION_TYPES = frozenset({"messaging_system"})
"""Connection types whose calls do not wait for the callee (queue hand-offs)."""

PEER_KINDS = frozenset({"database", "messaging", "virtual"})
"""Node kinds that are not instrumented services: drawn apart, never coloured by share."""

NODE_KINDS = frozenset({"service"}) | PEER_KINDS
"""The kinds a report may give a node (ARCHITECTURE.md §6); anything else is drawn as
``virtual`` (the kind also names a CSS class, so it must come from a known set)."""

# Graph drawing: node boxes are sized to their label so long service names stay readable,
# within bounds so one very long name cannot flatten the whole drawing.
CHAR_WIDTH = 7.4
NODE_PADDING = 28.0
NODE_MIN_WIDTH = 96.0
NODE_MAX_WIDTH = 230.0
NODE_HEIGHT = 40.0
# (node gap, layer gap) tried in turn: the first whose layout fits GRAPH_FIT_WIDTH unscaled
# is used, else the last. Layers leave room for an edge label ("12.5/s · p99 123 ms");
# nodes of one layer need less, as labels go between layers.
GRAPH_SPACINGS = ((26.0, 140.0), (12.0, 110.0))

# Shared peers: a database (or other uninstrumented leaf) called by this many services or
# more is drawn as a small pill on each caller instead of one node that every caller's
# edge crosses the picture to reach. The report is unchanged: it is a drawing choice.
SHARED_PEER_MIN_CALLERS = 3
STUB_HEIGHT = 16.0
STUB_CHAR_WIDTH = 6.2
STUB_PADDING = 14.0
STUB_GAP = 4.0           # between the pills of one caller
STUB_DROP = 9.0          # how far a pill hangs below its caller's box

# Edge labels: estimated size of one line (font 11 px, tabular figures) for placing them
# where they overlap no node and no other label; a label that fits nowhere is shown only
# while its call is hovered, focused or selected.
LABEL_CHAR_WIDTH = 5.9
LABEL_LINE_HEIGHT = 13.0
LABEL_POSITIONS = (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78)
LABEL_MAX_CHARS = int((NODE_MAX_WIDTH - NODE_PADDING) / CHAR_WIDTH)

# Waterfall drawing (one SVG, scaled to the page width as a whole so text keeps its shape).
WATERFALL_WIDTH = 900.0
WATERFALL_LABEL_WIDTH = 300.0
WATERFALL_DURATION_WIDTH = 70.0
WATERFALL_ROW = 24.0
WATERFALL_AXIS = 26.0
WATERFALL_INDENT = 12.0
WATERFALL_MAX_INDENT = 14

# Colours of services in a waterfall: distinguishable, and none of them the critical
# path's colour (a dark red-orange), so the marked segments always stand out.
SERVICE_PALETTE = (
    "#6aa7d8", "#8cc084", "#c9a0dc", "#e6c36a", "#7fc6c2", "#f2a7a7",
    "#a3b8e8", "#d9a88a", "#b5d36b", "#90a4ae", "#9fd3e8", "#c7b299",
)


# --------------------------------------------------------------------------- formatting


def fmt_ms(value: float | None) -> str:
    """A latency in milliseconds, with as many digits as its size deserves.

    Not :func:`analyzer.render.format_ms` on purpose: the dashboard's cells stand alone,
    so they carry their unit (``45.6 ms``, ``1.23 s`` from a second up), show an en dash
    for missing or NaN values and stop at two decimals (``0.04 ms``).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def fmt_pct(fraction: float | None) -> str:
    """A fraction as a percentage; tiny non-zero values are not rounded away to 0%."""
    if fraction is None:
        return "–"
    if 0 < fraction < 0.01:
        return "<1%"
    return f"{fraction * 100:.0f}%"


def fmt_count(value: int | float | None) -> str:
    """A count with thousands separators, or millions for big ones."""
    if value is None:
        return "–"
    if value >= 10_000_000:
        return f"{value / 1_000_000:.1f}M"
    return f"{int(value):,}"


def fmt_rate(requests: int, seconds: float | None) -> str:
    """Requests per second over the window; per minute when slower than one a second.

    ``seconds`` is ``None`` for the ``all`` window, whose length is unknown: the count is
    shown instead.
    """
    if seconds is None or seconds <= 0:
        return f"{fmt_count(requests)} req"
    rate = requests / seconds
    if rate >= 1:
        return f"{rate:.1f}/s" if rate < 100 else f"{rate:.0f}/s"
    return f"{rate * 60:.1f}/min"


def fmt_value(key: str, value: Any) -> str:
    """A finding's evidence value, formatted by what its key says it measures."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if key.endswith("_ms"):
            return fmt_ms(float(value))
        if key.endswith(("_share", "_ratio", "_rate", "_fraction")):
            return fmt_pct(float(value))
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(key, item) for item in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {fmt_value(str(k), v)}" for k, v in value.items())
    if value is None:
        return "–"
    return str(value)


def fmt_time_ns(ns: int | None, with_date: bool = True) -> str:
    """A wall-clock time from Unix nanoseconds (UTC, to the millisecond)."""
    if not ns:
        return "–"
    pattern = "%Y-%m-%d %H:%M:%S.%f" if with_date else "%H:%M:%S.%f"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime(pattern)[:-3] + (" UTC" if with_date else "")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def humanize_key(key: str) -> str:
    """``p99_savings_ms`` → ``p99 savings`` for evidence tables (:func:`fmt_value` shows
    the unit with the value); other units stay: ``budget_s`` → ``budget (s)``."""
    words = key.replace(".", " ").split("_")
    unit = words[-1] if len(words) > 1 and words[-1] in {"ms", "s", "ns"} else None
    text = " ".join(w for w in (words[:-1] if unit else words) if w)
    return f"{text} ({unit})" if unit and unit != "ms" else text


# --------------------------------------------------------------------------- endpoints


def endpoint_key(service: str, name: str) -> str:
    """The endpoint as findings name it (``str(analyzer.model.Endpoint)``)."""
    return f"{service} {name}"


def finding_endpoint(finding: Mapping[str, Any]) -> str | None:
    """A finding's endpoint as ``"service name"``, whether it came as a string or a dict."""
    endpoint = finding.get("endpoint")
    if isinstance(endpoint, Mapping):
        return endpoint_key(str(endpoint.get("service", "")), str(endpoint.get("name", "")))
    return endpoint or None


@dataclass(frozen=True, slots=True)
class ServiceShare:
    """One service's part of an endpoint's critical path."""

    name: str
    share: float
    p50_ms: float | None
    p99_ms: float | None
    colour: str


@dataclass(frozen=True, slots=True)
class EndpointRow:
    """One row of the endpoints table (and the header of an endpoint's page)."""

    service: str
    name: str
    traces: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None
    depth_p50: float | None
    depth_max: int | None
    shares: tuple[ServiceShare, ...]
    findings: int

    @property
    def top(self) -> tuple[ServiceShare, ...]:
        """The three services that own most of the critical path."""
        return self.shares[:3]

    def stacked(self, width: float) -> list[tuple[float, float, ServiceShare]]:
        """``(x, width, share)`` of each service in a ``width``-wide 100% stacked bar."""
        return stack(self.shares, width)


def stack(shares: Sequence[ServiceShare], width: float) -> list[tuple[float, float, ServiceShare]]:
    """Segments of a stacked bar, one per share, left to right in the given order."""
    total = sum(s.share for s in shares) or 1.0
    x = 0.0
    parts = []
    for s in shares:
        w = width * s.share / total
        parts.append((x, w, s))
        x += w
    return parts


ENDPOINT_SORTS = {
    "endpoint": lambda r: (r.service.lower(), r.name.lower()),
    "traces": lambda r: r.traces,
    "errors": lambda r: (r.error_rate, r.errors),
    "p50": lambda r: r.p50_ms if r.p50_ms is not None else -1.0,
    "p99": lambda r: r.p99_ms if r.p99_ms is not None else -1.0,
    "depth": lambda r: (r.depth_p50 or 0, r.depth_max or 0),
}
"""Sortable columns of the endpoints table; ``p99`` descending is the default."""


def service_colours(names: Iterable[str], known: Mapping[str, str] | None = None) -> dict[str, str]:
    """A colour per service, distinct while the palette lasts and stable across pages.

    Each name starts from the palette slot its hash picks and takes the next free slot
    when that one is taken (names in sorted order), so a service keeps its colour as long
    as the set of services is the same. Names in ``known`` keep the colour given there.
    The router passes every service the collector knows, so all pages agree.
    """
    colours = dict(known or {})
    slots = len(SERVICE_PALETTE)
    taken = {SERVICE_PALETTE.index(c) for c in colours.values() if c in SERVICE_PALETTE}
    for name in sorted(set(names) - colours.keys()):
        slot = zlib.crc32(name.encode("utf-8")) % slots
        if len(taken) < slots:
            while slot in taken:
                slot = (slot + 1) % slots
        taken.add(slot)
        colours[name] = SERVICE_PALETTE[slot]
    return colours


def endpoint_rows(report: Mapping[str, Any], colours: Mapping[str, str] | None = None) -> list[EndpointRow]:
    """The report's endpoints as table rows, shares sorted largest first.

    ``colours`` maps service names to their colours (:func:`service_colours`); by default
    they are assigned over the report's own services.
    """
    if colours is None:
        colours = service_colours(s["name"] for s in report.get("services", []))
    open_findings: dict[str, int] = {}
    for finding in report.get("findings", []):
        key = finding_endpoint(finding)
        if key:
            open_findings[key] = open_findings.get(key, 0) + 1
    rows = []
    for ep in report.get("endpoints", []):
        cp = ep.get("critical_path") or {}
        shares = sorted(
            (
                ServiceShare(
                    s["name"], float(s.get("share") or 0.0), s.get("p50_ms"), s.get("p99_ms"),
                    colours.get(s["name"], SERVICE_PALETTE[0]),
                )
                for s in cp.get("services", [])
            ),
            key=lambda s: (-s.share, s.name),
        )
        traces = int(ep.get("traces") or 0)
        errors = int(ep.get("errors") or 0)
        rows.append(EndpointRow(
            service=ep["service"], name=ep["name"], traces=traces, errors=errors,
            error_rate=errors / traces if traces else 0.0,
            p50_ms=ep.get("p50_ms"), p99_ms=ep.get("p99_ms"),
            depth_p50=cp.get("depth_p50"), depth_max=cp.get("depth_max"),
            shares=tuple(shares),
            findings=open_findings.get(endpoint_key(ep["service"], ep["name"]), 0),
        ))
    return rows


def sort_endpoint_rows(rows: Sequence[EndpointRow], column: str, descending: bool) -> list[EndpointRow]:
    """Rows sorted by a column of :data:`ENDPOINT_SORTS` (ties by endpoint name)."""
    by_name = sorted(rows, key=ENDPOINT_SORTS["endpoint"])
    return sorted(by_name, key=ENDPOINT_SORTS[column], reverse=descending)


def find_endpoint(rows: Iterable[EndpointRow], service: str, name: str) -> EndpointRow | None:
    """The row of one endpoint, if the report has it."""
    return next((r for r in rows if r.service == service and r.name == name), None)


# --------------------------------------------------------------------------- findings


def sorted_findings(findings: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Worst first: by severity, then by the largest latency in the evidence, then subject."""

    def largest_ms(finding: Mapping[str, Any]) -> float:
        evidence = finding.get("evidence") or {}
        values = [v for k, v in evidence.items()
                  if k.endswith("_ms") and isinstance(v, (int, float)) and not isinstance(v, bool)]
        return max(values, default=0.0)

    return sorted(
        findings,
        key=lambda f: (
            SEVERITY_ORDER.get(f.get("severity", "info"), len(SEVERITY_ORDER)),
            -largest_ms(f),
            str(f.get("rule", "")),
            str(f.get("client") or ""), str(f.get("server") or ""),
            str(finding_endpoint(f) or ""), str(f.get("service") or ""),
        ),
    )


def severity_counts(findings: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many findings of each severity, every severity present (zero if none)."""
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    for finding in findings:
        severity = finding.get("severity", "info")
        counts[severity] = counts.get(severity, 0) + 1
    return counts


def findings_about_service(findings: Iterable[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    """Findings whose subject includes the service ``name`` (as caller, callee or service)."""
    return [f for f in findings if name in (f.get("client"), f.get("server"), f.get("service"))]


def findings_about_call(findings: Iterable[Mapping[str, Any]], client: str, server: str) -> list[Mapping[str, Any]]:
    """Findings about the calls from ``client`` to ``server``."""
    return [f for f in findings if f.get("client") == client and f.get("server") == server]


# --------------------------------------------------------------------------- service graph


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A drawn service or peer, with what its details panel lists."""

    name: str
    label: str
    kind: str
    share: float
    box: NodeBox | None  # None for a shared peer, drawn as a pill on each caller instead
    fill: str
    stroke: str
    outline: str
    endpoints: tuple[tuple[str, str, float], ...]
    calls_in: tuple[GraphEdge, ...] = ()
    calls_out: tuple[GraphEdge, ...] = ()
    findings: tuple[Mapping[str, Any], ...] = ()

    @property
    def is_peer(self) -> bool:
        """True for databases, queues and uninstrumented peers."""
        return self.kind in PEER_KINDS


@dataclass(frozen=True, slots=True)
class CallStats:
    """One ``(client, server, connection_type)`` edge of the report."""

    connection_type: str
    requests: int
    failed: int
    p50_ms: float | None
    p99_ms: float | None
    timeout_ms: float | None


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """A drawn call between two nodes (all connection types between the pair together)."""

    client: str
    server: str
    calls: tuple[CallStats, ...]
    path_d: str
    label_x: float
    label_y: float
    rate: str
    is_async: bool
    back: bool
    weight: float
    findings: tuple[Mapping[str, Any], ...] = ()
    label_always: bool = True  # False: shown only while hovered, focused or selected
    stub: GraphStub | None = None  # set when the callee is a shared peer drawn on the caller

    @property
    def requests(self) -> int:
        """Requests over all connection types."""
        return sum(c.requests for c in self.calls)

    @property
    def failed(self) -> int:
        """Failed requests over all connection types."""
        return sum(c.failed for c in self.calls)

    @property
    def error_rate(self) -> float:
        """Fraction of requests that failed."""
        return self.failed / self.requests if self.requests else 0.0

    @property
    def p99_ms(self) -> float | None:
        """The worst p99 over the connection types."""
        values = [c.p99_ms for c in self.calls if c.p99_ms is not None]
        return max(values) if values else None

    @property
    def key(self) -> str:
        """The edge's stable name in URLs and the page (``client -> server``)."""
        return f"{self.client} -> {self.server}"


@dataclass(frozen=True, slots=True)
class GraphStub:
    """A shared peer drawn as a pill on one caller: ``box`` hangs from the caller's box."""

    client: str
    server: str
    kind: str
    label: str
    box: NodeBox
    outline: str
    failed: bool = False

    @property
    def key(self) -> str:
        """The key of the call it stands for (clicking it selects that call)."""
        return f"{self.client} -> {self.server}"


GRAPH_PADDING = 24.0
GRAPH_FIT_WIDTH = 1200.0
"""A graph wider than this (about the overview panel at 1280 px) is drawn scaled down
to fit it, but never below :data:`GRAPH_MIN_SCALE`: past that the panel scrolls."""
GRAPH_MIN_SCALE = 0.9
"""Smallest drawing scale: node names (12.5 px) stay above 11 px, edge labels (11 px)
near 10 px. A bigger graph scrolls inside its panel instead of shrinking further."""


@dataclass(frozen=True, slots=True)
class GraphScene:
    """The service graph, ready to draw: a ``width`` × ``height`` SVG of nodes and edges."""

    width: float
    height: float
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    stubs: tuple[GraphStub, ...] = ()

    @property
    def drawn_nodes(self) -> tuple[GraphNode, ...]:
        """Nodes drawn as boxes (shared peers are drawn as pills on their callers)."""
        return tuple(n for n in self.nodes if n.box is not None)

    @property
    def dense(self) -> bool:
        """True when some edge labels are shown only on hover or selection."""
        return any(not e.label_always for e in self.edges if e.stub is None)

    @property
    def scale(self) -> float:
        """The drawing's scale: 1, or less to fit :data:`GRAPH_FIT_WIDTH`, never below
        :data:`GRAPH_MIN_SCALE`."""
        return max(GRAPH_MIN_SCALE, min(1.0, GRAPH_FIT_WIDTH / (self.width + 2 * GRAPH_PADDING)))

    @property
    def view_box(self) -> str:
        """The SVG ``viewBox``: the drawing plus a margin."""
        pad = GRAPH_PADDING
        return f"{-pad:.0f} {-pad:.0f} {self.width + 2 * pad:.0f} {self.height + 2 * pad:.0f}"

    @property
    def display_size(self) -> tuple[float, float]:
        """Width and height to draw at (the browser never scales it further; the panel
        scrolls)."""
        w, h = self.width + 2 * GRAPH_PADDING, self.height + 2 * GRAPH_PADDING
        return (round(w * self.scale), round(h * self.scale))


def critical_path_shares(report: Mapping[str, Any]) -> dict[str, float]:
    """Each service's share of all critical-path time in the report.

    An endpoint's shares say how its critical path divides among services; endpoints are
    weighted by how much critical-path time they represent (traces × median latency), so
    a busy slow endpoint counts for more than a rare fast one. The shares sum to 1 when
    any endpoint has traffic.
    """
    totals: dict[str, float] = {}
    weight_sum = 0.0
    for ep in report.get("endpoints", []):
        weight = float(ep.get("traces") or 0) * float(ep.get("p50_ms") or 0.0)
        if weight <= 0:
            continue
        weight_sum += weight
        for s in (ep.get("critical_path") or {}).get("services", []):
            totals[s["name"]] = totals.get(s["name"], 0.0) + weight * float(s.get("share") or 0.0)
    if weight_sum == 0:
        return {}
    return {name: value / weight_sum for name, value in totals.items()}


def heat(share: float) -> tuple[str, str]:
    """Fill and stroke colours for a node owning ``share`` of the critical path.

    White-ish through amber to deep red-orange; the scale is a square root so that a
    service with 10% already shows clearly next to one with 60%.
    """
    t = math.sqrt(min(max(share, 0.0), 1.0))
    low, high = (0xF4, 0xF7, 0xFB), (0xE0, 0x5A, 0x2B)
    fill = tuple(round(a + (b - a) * t) for a, b in zip(low, high))
    stroke = tuple(round(c * 0.72) for c in fill)
    return "#%02x%02x%02x" % fill, "#%02x%02x%02x" % stroke


def node_width(name: str) -> float:
    """Box width that fits the (possibly truncated) label."""
    chars = min(len(name), LABEL_MAX_CHARS)
    return min(max(chars * CHAR_WIDTH + NODE_PADDING, NODE_MIN_WIDTH), NODE_MAX_WIDTH)


LayoutFunction = Callable[..., Layout]


def build_graph(
    report: Mapping[str, Any], window_seconds: float | None, layout_fn: LayoutFunction = layered_layout,
) -> GraphScene:
    """Lay out the report's service graph left to right, layered by call depth.

    Shared peers (:func:`shared_peers`) are left out of the layout and drawn as a pill
    hanging from each caller's box; their calls are still edges of the scene (with
    ``stub`` set), with details like any other. Edge labels are placed where they
    overlap nothing, or shown only on demand.

    ``layout_fn`` is :func:`analyzer.layout.layered_layout` or a caching wrapper of it
    (the router keeps one, since the graph's shape changes far less often than its
    numbers).
    """
    kinds = {s["name"]: _known_kind(s.get("kind")) for s in report.get("services", [])}
    grouped: dict[tuple[str, str], list[CallStats]] = {}
    for e in report.get("edges", []):
        client, server = e.get("client") or "", e.get("server") or ""
        if not client or not server:
            continue  # unpaired / dropped bookkeeping rows have no drawable end
        for end in (client, server):
            kinds.setdefault(end, "virtual")
        grouped.setdefault((client, server), []).append(CallStats(
            connection_type=e.get("connection_type") or "",
            requests=int(e.get("requests") or 0), failed=int(e.get("failed") or 0),
            p50_ms=e.get("p50_ms"), p99_ms=e.get("p99_ms"), timeout_ms=e.get("timeout_ms"),
        ))
    names = sorted(kinds)
    shared = shared_peers(kinds, grouped)
    stubs_of: dict[str, list[str]] = {}
    for client, server in sorted(grouped):
        if server in shared:
            stubs_of.setdefault(client, []).append(server)
    laid_out = [n for n in names if n not in shared]
    sizes = {}
    for n in laid_out:
        width = node_width(n)
        if n in stubs_of:
            width = max(width, _stubs_width(stubs_of[n]) + 16.0)
            sizes[n] = (width, NODE_HEIGHT + STUB_DROP)
        else:
            sizes[n] = (width, NODE_HEIGHT)
    # Roomy spacing when the graph fits the panel with it, compact spacing otherwise.
    for node_gap, layer_gap in GRAPH_SPACINGS:
        layout = layout_fn(
            laid_out, sorted(p for p in grouped if p[1] not in shared), sizes,
            direction="LR", node_gap=node_gap, layer_gap=layer_gap,
        )
        if layout.width + 2 * GRAPH_PADDING <= GRAPH_FIT_WIDTH:
            break
    # The service's own box is the top of the space reserved for it; its pills hang below.
    boxes: dict[str, NodeBox] = {}
    stubs: dict[tuple[str, str], GraphStub] = {}
    for n in laid_out:
        b = layout.nodes[n]
        if n not in stubs_of:
            boxes[n] = b
            continue
        box = NodeBox(n, b.x, b.top + NODE_HEIGHT / 2, b.width, NODE_HEIGHT, b.layer)
        boxes[n] = box
        right = box.right - 8.0
        for peer in reversed(stubs_of[n]):
            w = _stub_width(peer)
            pill = NodeBox(f"{n} -> {peer}", right - w / 2, box.bottom + STUB_DROP - STUB_HEIGHT / 2,
                           w, STUB_HEIGHT, b.layer)
            stubs[(n, peer)] = GraphStub(n, peer, kinds[peer], truncate(peer, STUB_MAX_CHARS), pill,
                                         _node_outline(pill, kinds[peer], ry=3.0),
                                         failed=any(c.failed for c in grouped[(n, peer)]))
            right -= w + STUB_GAP

    findings = report.get("findings", [])
    busiest = max((sum(c.requests for c in calls) for calls in grouped.values()), default=0)
    drafts = []
    for (client, server), calls in sorted(grouped.items()):
        total = sum(c.requests for c in calls)
        stub = stubs.get((client, server))
        if stub is not None:
            d, line = _stub_geometry(boxes[client], stub.box)
            back = False
        else:
            path = layout.edges[(client, server)]
            d, line = _edge_geometry(path, boxes[client], boxes[server])
            back = path.back
        drafts.append((client, server, calls, total, stub, d, line, back))

    # Labels: busiest and failing calls first, each at the first spot along its line
    # that overlaps no box and no label placed before it.
    obstacles = [_pad(b, 2.0) for b in boxes.values()] + [_pad(s.box, 2.0) for s in stubs.values()]
    placed: dict[tuple[str, str], tuple[float, float, bool]] = {}
    def priority(i: int) -> tuple:
        calls, total = drafts[i][2], drafts[i][3]
        return (not any(c.failed for c in calls), -total, i)

    for i in sorted(range(len(drafts)), key=priority):
        client, server, calls, total, stub, d, line, back = drafts[i]
        failed = any(c.failed for c in calls)
        text = f"{fmt_rate(total, window_seconds)} · p99 {fmt_ms(max((c.p99_ms for c in calls if c.p99_ms is not None), default=None))}"
        width = len(text) * LABEL_CHAR_WIDTH + 4.0
        lines = 2 if failed else 1
        if stub is not None:
            # On demand only, just under the pill.
            placed[(client, server)] = (stub.box.x, stub.box.bottom + 18.0, False)
            continue
        spot = None
        for fraction in LABEL_POSITIONS:
            x, y = line.point_at(fraction)
            area = _label_area(x, y, width, lines)
            if not any(_overlap(area, o) for o in obstacles):
                spot = (x, y)
                obstacles.append(area)
                break
        if spot is None:
            x, y = line.point_at(0.5)
            placed[(client, server)] = (x, y, False)
        else:
            placed[(client, server)] = (spot[0], spot[1], True)

    edges = []
    for client, server, calls, total, stub, d, line, back in drafts:
        lx, ly, always = placed[(client, server)]
        edges.append(GraphEdge(
            client=client, server=server,
            calls=tuple(sorted(calls, key=lambda c: c.connection_type)),
            path_d=d, label_x=lx, label_y=ly, rate=fmt_rate(total, window_seconds),
            is_async=any(c.connection_type in ASYNC_CONNECTION_TYPES for c in calls),
            back=back, weight=_stroke_weight(total, busiest),
            findings=tuple(findings_about_call(findings, client, server)),
            label_always=always, stub=stub,
        ))

    shares = critical_path_shares(report)
    per_endpoint: dict[str, list[tuple[str, str, float]]] = {}
    for ep in report.get("endpoints", []):
        for s in (ep.get("critical_path") or {}).get("services", []):
            per_endpoint.setdefault(s["name"], []).append((ep["service"], ep["name"], float(s.get("share") or 0)))
    nodes = []
    for name in names:
        kind = kinds[name]
        share = shares.get(name, 0.0)
        if kind in PEER_KINDS:
            fill, stroke = ("#eef1f5", "#7b8794") if kind != "virtual" else ("#f7f8fa", "#9aa5b1")
        else:
            fill, stroke = heat(share)
        box = boxes.get(name)
        nodes.append(GraphNode(
            name=name, label=truncate(name, LABEL_MAX_CHARS), kind=kind, share=share,
            box=box, fill=fill, stroke=stroke,
            outline=_node_outline(box, kind) if box is not None else "",
            endpoints=tuple(sorted(per_endpoint.get(name, []), key=lambda t: (-t[2], t[0], t[1]))),
            calls_in=tuple(e for e in edges if e.server == name),
            calls_out=tuple(e for e in edges if e.client == name),
            findings=tuple(findings_about_service(findings, name)),
        ))
    height = max([layout.height] + [s.box.bottom + 20.0 for s in stubs.values()])
    return GraphScene(layout.width, height, tuple(nodes), tuple(edges), tuple(stubs.values()))


STUB_MAX_CHARS = 16


def shared_peers(kinds: Mapping[str, str], calls: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Peers drawn as a pill on each caller: uninstrumented (database, queue or virtual),
    calling nobody, and called by at least :data:`SHARED_PEER_MIN_CALLERS` others."""
    callers: dict[str, set[str]] = {}
    calling: set[str] = set()
    for client, server in calls:
        if client != server:
            callers.setdefault(server, set()).add(client)
        calling.add(client)
    return frozenset(
        name for name, who in callers.items()
        if kinds.get(name) in PEER_KINDS and name not in calling and len(who) >= SHARED_PEER_MIN_CALLERS
    )


def _stub_width(name: str) -> float:
    return min(len(name), STUB_MAX_CHARS) * STUB_CHAR_WIDTH + STUB_PADDING


def _stubs_width(names: Sequence[str]) -> float:
    return sum(_stub_width(n) for n in names) + STUB_GAP * (len(names) - 1)


def _stub_geometry(source: NodeBox, pill: NodeBox) -> tuple[str, EdgePath]:
    """The short connector from a caller's bottom border into its pill."""
    a, b = (pill.x, source.bottom - 6.0), (pill.x, pill.top)
    return f"M {a[0]:.1f} {a[1]:.1f} L {b[0]:.1f} {b[1]:.1f}", EdgePath(source.name, pill.name, (a, b))


def _pad(box: NodeBox, margin: float) -> tuple[float, float, float, float]:
    return (box.left - margin, box.top - margin, box.right + margin, box.bottom + margin)


def _label_area(x: float, y: float, width: float, lines: int) -> tuple[float, float, float, float]:
    """The box an edge label anchored at ``(x, y)`` covers (see ``_graph.html``: one line
    sits just above the point, a second one goes above the first)."""
    bottom = y - 2.0
    return (x - width / 2, bottom - LABEL_LINE_HEIGHT * lines, x + width / 2, bottom)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _known_kind(kind: object) -> str:
    """The node kind if the report's value is one of :data:`NODE_KINDS`, else virtual."""
    return kind if isinstance(kind, str) and kind in NODE_KINDS else "virtual"


def _stroke_weight(requests: int, busiest: int) -> float:
    """Line width of an edge: logarithmic in its traffic, relative to the busiest edge."""
    if busiest <= 0 or requests <= 0:
        return 1.2
    return 1.2 + 2.6 * math.log1p(requests) / math.log1p(busiest)


def _edge_geometry(path: EdgePath, source: NodeBox, target: NodeBox) -> tuple[str, EdgePath]:
    """An SVG path for a left-to-right edge, and the polyline it follows (its label goes
    somewhere along it).

    Edges leave a box on its right side and enter the next on its left, as smooth curves
    with horizontal tangents through the layout's bends; edges closing a cycle run right
    to left, and self-loops keep the layout's little rectangle.
    """
    if path.source == path.target:
        points = list(path.points)
        d = "M " + " L ".join(f"{x:.1f} {y:.1f}" for x, y in points)
        return d, EdgePath(path.source, path.target, tuple((x + 4, y) for x, y in points))
    forward = target.x > source.x
    inset = 8.0

    def anchor(box: NodeBox, raw_y: float, leaving: bool) -> tuple[float, float]:
        right_side = leaving == forward
        y = min(max(raw_y, box.top + inset), box.bottom - inset)
        return (box.right if right_side else box.left, y)

    points = [anchor(source, path.points[0][1], True), *path.points[1:-1],
              anchor(target, path.points[-1][1], False)]
    parts = [f"M {points[0][0]:.1f} {points[0][1]:.1f}"]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        dx = (x1 - x0) / 2
        parts.append(f"C {x0 + dx:.1f} {y0:.1f} {x1 - dx:.1f} {y1:.1f} {x1:.1f} {y1:.1f}")
    return " ".join(parts), EdgePath(path.source, path.target, tuple(points))


def _node_outline(box: NodeBox, kind: str, ry: float = 6.0) -> str:
    """The SVG path of a node's shape: services are rounded boxes, databases cylinders,
    queues boxes with a notch on each end, other peers pills."""
    x0, y0, x1, y1 = box.left, box.top, box.right, box.bottom
    if kind == "database":
        return (f"M {x0:.1f} {y0 + ry:.1f} A {box.width / 2:.1f} {ry} 0 0 1 {x1:.1f} {y0 + ry:.1f} "
                f"L {x1:.1f} {y1 - ry:.1f} A {box.width / 2:.1f} {ry} 0 0 1 {x0:.1f} {y1 - ry:.1f} Z "
                f"M {x0:.1f} {y0 + ry:.1f} A {box.width / 2:.1f} {ry} 0 0 0 {x1:.1f} {y0 + ry:.1f}")
    if kind == "messaging":
        n = 9.0
        return (f"M {x0:.1f} {y0:.1f} L {x1 - n:.1f} {y0:.1f} L {x1:.1f} {box.y:.1f} "
                f"L {x1 - n:.1f} {y1:.1f} L {x0:.1f} {y1:.1f} L {x0 + n:.1f} {box.y:.1f} Z")
    r = box.height / 2 if kind == "virtual" else 8.0
    return (f"M {x0 + r:.1f} {y0:.1f} L {x1 - r:.1f} {y0:.1f} A {r} {r} 0 0 1 {x1:.1f} {y0 + r:.1f} "
            f"L {x1:.1f} {y1 - r:.1f} A {r} {r} 0 0 1 {x1 - r:.1f} {y1:.1f} L {x0 + r:.1f} {y1:.1f} "
            f"A {r} {r} 0 0 1 {x0:.1f} {y1 - r:.1f} L {x0:.1f} {y0 + r:.1f} A {r} {r} 0 0 1 {x0 + r:.1f} {y0:.1f} Z")


# --------------------------------------------------------------------------- trace waterfall


@dataclass(frozen=True, slots=True)
class WaterfallRow:
    """One span in the waterfall: geometry in the SVG's coordinates plus its details."""

    index: int
    span_id: str
    parent_id: str | None
    service: str
    name: str
    label: str
    kind: str
    status: str
    tree_depth: int
    service_depth: int | None
    start_ms: float
    duration_ms: float
    y: float
    bar_x: float
    bar_width: float
    colour: str
    critical: tuple[tuple[float, float], ...]
    critical_ms: float
    attributes: tuple[tuple[str, str], ...]

    @property
    def on_critical_path(self) -> bool:
        """True when this span owns at least one critical-path segment."""
        return bool(self.critical)


@dataclass(frozen=True, slots=True)
class Waterfall:
    """A whole trace as rows, the time axis' ticks, and the SVG's size."""

    rows: tuple[WaterfallRow, ...]
    ticks: tuple[tuple[float, str], ...]
    width: float
    height: float
    bar_left: float
    bar_right: float
    legend: tuple[tuple[str, str], ...] = field(default=())
    critical_ms: float = 0.0


def build_waterfall(doc: Mapping[str, Any], colours: Mapping[str, str] | None = None) -> Waterfall:
    """Lay out a ``critpath.trace/v1`` document as a waterfall, spans in tree order.

    Children follow their parent ordered by start; spans whose parent is not in the
    trace start their own subtree after the true roots. Critical-path segments are
    drawn on the span that owns them. ``colours`` as for :func:`endpoint_rows` (services
    it does not name get colours of their own).
    """
    spans = list(doc.get("spans", []))
    if not spans:
        return Waterfall((), (), WATERFALL_WIDTH, WATERFALL_AXIS, WATERFALL_LABEL_WIDTH, WATERFALL_WIDTH)
    t0 = min(int(s["start_ns"]) for s in spans)
    t1 = max(int(s["end_ns"]) for s in spans)
    if doc.get("start_ns"):
        t0 = min(t0, int(doc["start_ns"]))
    total = max(t1 - t0, 1)
    bar_left = WATERFALL_LABEL_WIDTH
    bar_right = WATERFALL_WIDTH - WATERFALL_DURATION_WIDTH
    scale = (bar_right - bar_left) / total

    by_id = {s["span_id"]: s for s in spans}
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for s in spans:
        parent = s.get("parent_id")
        children.setdefault(parent if parent in by_id else None, []).append(s)
    for group in children.values():
        group.sort(key=lambda s: (int(s["start_ns"]), s["span_id"]))

    segments: dict[str, list[tuple[int, int]]] = {}
    for seg in doc.get("critical_path", []):
        segments.setdefault(seg["span_id"], []).append((int(seg["start_ns"]), int(seg["end_ns"])))
    trace_services = {s["service"] for s in spans}
    colours = {name: colour for name, colour in service_colours(trace_services, colours).items()
               if name in trace_services}

    ordered: list[tuple[Mapping[str, Any], int]] = []
    roots = sorted(children.get(None, []), key=lambda s: (s.get("parent_id") is not None, int(s["start_ns"])))
    stack = [(s, 0) for s in reversed(roots)]
    seen: set[str] = set()
    while stack:
        span, depth = stack.pop()
        if span["span_id"] in seen:  # a parent cycle in bad input must not loop forever
            continue
        seen.add(span["span_id"])
        ordered.append((span, depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(span["span_id"], [])))

    rows = []
    for index, (span, depth) in enumerate(ordered):
        start, end = int(span["start_ns"]), int(span["end_ns"])
        owned = segments.get(span["span_id"], [])
        # Bold (critical) labels at 12px take about 7.2px a character in common sans fonts.
        label_room = int((WATERFALL_LABEL_WIDTH - 24 - min(depth, WATERFALL_MAX_INDENT) * WATERFALL_INDENT) / 7.2)
        rows.append(WaterfallRow(
            index=index, span_id=span["span_id"], parent_id=span.get("parent_id"),
            service=span["service"], name=span["name"],
            label=truncate(f"{span['service']}: {span['name']}", max(label_room, 8)),
            kind=str(span.get("kind", "")), status=str(span.get("status", "unset")),
            tree_depth=min(depth, WATERFALL_MAX_INDENT), service_depth=span.get("depth"),
            start_ms=(start - t0) / 1e6, duration_ms=max(end - start, 0) / 1e6,
            y=WATERFALL_AXIS + index * WATERFALL_ROW,
            bar_x=bar_left + (start - t0) * scale,
            bar_width=max((end - start) * scale, 1.0),
            colour=colours[span["service"]],
            critical=tuple((bar_left + (a - t0) * scale, max((b - a) * scale, 1.0)) for a, b in owned),
            critical_ms=sum(b - a for a, b in owned) / 1e6,
            attributes=tuple(sorted((str(k), fmt_attribute(v)) for k, v in (span.get("attributes") or {}).items())),
        ))
    return Waterfall(
        rows=tuple(rows),
        ticks=_ticks(total, bar_left, scale),
        width=WATERFALL_WIDTH,
        height=WATERFALL_AXIS + len(rows) * WATERFALL_ROW + 4,
        bar_left=bar_left, bar_right=bar_right,
        legend=tuple(sorted(colours.items())),
        critical_ms=sum(r.critical_ms for r in rows),
    )


def fmt_attribute(value: Any) -> str:
    """A span attribute's value as text (arrays joined, as OTLP sends header values)."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _ticks(total_ns: int, left: float, scale: float) -> tuple[tuple[float, str], ...]:
    """Four to nine round-numbered time ticks across the trace's duration."""
    total_ms = total_ns / 1e6
    raw = total_ms / 8
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    ticks = []
    k = 0
    while k * step <= total_ms + 1e-9:
        ticks.append((left + k * step * 1e6 * scale, fmt_ms(k * step) if k else "0"))
        k += 1
    return tuple(ticks)
