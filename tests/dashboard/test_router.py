"""The dashboard router through FastAPI's TestClient: pages, headers, escaping, errors."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from collector.dashboard import CONTENT_SECURITY_POLICY, create_dashboard_router
from collector.settings import CollectorSettings
from tests.dashboard.livedata import HOSTILE, XSS_PAYLOADS, AnalyzedView, bank_traces, demo_bank_report


class Markup(HTMLParser):
    """Collects what the tests look for in a page: elements with their attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.script_text.append(data)

    def find(self, tag: str | None = None, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements
                if (tag is None or t == tag) and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]


@pytest.fixture
def view() -> AnalyzedView:
    view = AnalyzedView()
    view.add_otlp(bank_traces(24))
    return view


@pytest.fixture
def client(view) -> TestClient:
    app = FastAPI()
    app.include_router(create_dashboard_router(view, CollectorSettings(receivers=False)))
    with TestClient(app) as client:
        yield client


def page_urls(view: AnalyzedView) -> list[str]:
    report = view.report()
    ep = report["endpoints"][0]
    trace_id = view.exemplars(ep["service"], ep["name"])[0]["trace_id"]
    return [
        "/", "/?window=1m", "/endpoints", "/endpoints?sort=traces&order=asc", "/findings",
        "/endpoint?" + _query(service=ep["service"], name=ep["name"]),
        f"/traces/{trace_id}",
    ]


def _query(**params: str) -> str:
    return urlencode(params)


def test_every_page_renders_with_a_strict_content_security_policy(client, view):
    for url in page_urls(view):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("text/html")
        policy = response.headers["content-security-policy"]
        assert policy == CONTENT_SECURITY_POLICY
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert "unsafe" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"


def test_pages_need_nothing_inline_and_nothing_from_elsewhere(client, view):
    """What the CSP would block must not be in the markup in the first place."""
    for url in page_urls(view):
        markup = Markup(client.get(url).text)
        assert markup.script_text == [], url
        assert not markup.find("style"), url
        for tag, attrs in markup.elements:
            assert "style" not in attrs, (url, tag)
            assert not [a for a in attrs if a.startswith("on")], (url, tag, attrs)
            for link_attr in ("src", "href"):
                value = attrs.get(link_attr) or ""
                assert not re.match(r"^(https?:)?//", value), (url, value)
                assert not value.lower().startswith("javascript:"), (url, value)
        scripts = markup.find("script")
        assert [s["src"] for s in scripts] == ["/static/dashboard/dashboard.js"]


def test_static_files_are_served_from_a_fixed_list(client):
    js = client.get("/static/dashboard/dashboard.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    css = client.get("/static/dashboard/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/static/dashboard/favicon.svg").headers["content-type"] == "image/svg+xml"
    for missing in ("nope.js", "..%2Frouter.py", "%2e%2e%2f__init__.py"):
        response = client.get(f"/static/dashboard/{missing}")
        assert response.status_code == 404, missing
        assert "import" not in response.text


def test_unknown_trace_is_a_404_page_that_escapes_the_id(client):
    response = client.get("/traces/<script>alert(1)</script>")
    assert response.status_code == 404
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "Trace not found" in response.text
    assert "<script>alert(1)" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_unknown_endpoint_is_a_404_and_unknown_window_a_400(client):
    for url in ("/endpoint?service=nobody&name=nothing", "/endpoint"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    response = client.get("/?window=3h")
    assert response.status_code == 400
    assert "1m, 5m, 15m, all" in response.text


def test_the_graph_draws_every_service_and_call_of_the_report(client, view):
    report = view.report()
    markup = Markup(client.get("/").text)
    nodes = {n["data-key"] for n in markup.find("g", data_select="node")}
    assert nodes == {s["name"] for s in report["services"]}
    edges = {(e["data-client"], e["data-server"]) for e in markup.find("g", data_select="edge")}
    assert edges == {(e["client"], e["server"]) for e in report["edges"]}
    classes = {(e["data-client"], e["data-server"]): e["class"].split() for e in markup.find("g", data_select="edge")}
    assert "async" in classes[("payments", "notifier")]
    assert "async" not in classes[("web-gateway", "payments")]
    assert "failing" in classes[("web-gateway", "payments")]
    kinds = {n["data-key"]: n["class"].split() for n in markup.find("g", data_select="node")}
    assert "kind-database" in kinds["postgresql"] and "kind-virtual" in kinds["user"]
    # Each node and call has its details, hidden until selected.
    details = {(d["data-detail"], d["data-key"]) for d in markup.find("section") if "data-detail" in d}
    assert {("node", n) for n in nodes} | {("edge", f"{c} -> {s}") for c, s in edges} == details


def test_endpoints_table_sorts_by_the_column_in_the_url(client, view):
    def rows(url):
        return [r["data-endpoint"] for r in Markup(client.get(url).text).find("tr") if "data-endpoint" in r]

    by_traces = {f'{e["service"]} {e["name"]}': e["traces"] for e in view.report()["endpoints"]}
    ascending = rows("/endpoints?sort=traces&order=asc")
    assert [by_traces[r] for r in ascending] == sorted(by_traces.values())
    assert rows("/endpoints?sort=traces&order=desc") == ascending[::-1]
    by_p99 = {f'{e["service"]} {e["name"]}': e["p99_ms"] for e in view.report()["endpoints"]}
    assert [by_p99[r] for r in rows("/endpoints")] == sorted(by_p99.values(), reverse=True)
    # A mangled link falls back to the default order instead of failing.
    assert rows("/endpoints?sort=bogus") == rows("/endpoints")
    assert rows("/endpoints?sort=p99&order=sideways") == rows("/endpoints")


def test_window_links_keep_the_rest_of_the_view(client):
    markup = Markup(client.get("/endpoints?sort=traces&order=asc&window=15m").text)
    links = {a["data-window"]: a for a in markup.find("a") if "data-window" in a}
    assert list(links) == ["1m", "5m", "15m", "all"]
    assert links["15m"].get("aria-current") == "true"
    query = parse_qs(urlsplit(links["1m"]["href"]).query)
    assert query == {"sort": ["traces"], "order": ["asc"], "window": ["1m"]}
    nav = [a["href"] for a in markup.find("a") if (a.get("href") or "").startswith("/findings")]
    assert nav and all("window=15m" in href for href in nav)


def test_endpoint_page_lists_its_exemplars_slowest_first(client, view):
    ep = view.report()["endpoints"][0]
    exemplars = view.exemplars(ep["service"], ep["name"])
    html = client.get("/endpoint?" + _query(service=ep["service"], name=ep["name"], window="1m")).text
    links = [a["href"] for a in Markup(html).find("a", **{"class": "trace-link mono"})]
    slowest = sorted(exemplars, key=lambda e: -e["duration_ms"])
    assert links == [f"/traces/{e['trace_id']}?window=1m" for e in slowest]
    for service in ep["critical_path"]["services"]:
        assert f'data-service="{service["name"]}"' in html


def test_trace_page_marks_exactly_the_spans_that_own_the_critical_path(client, view):
    ep = view.report()["endpoints"][0]
    trace_id = view.exemplars(ep["service"], ep["name"])[0]["trace_id"]
    doc = view.trace(trace_id)
    markup = Markup(client.get(f"/traces/{trace_id}").text)
    rows = markup.find("g", data_select="span")
    assert [r["data-key"] for r in rows] == [s["span_id"] for s in doc["spans"]]
    critical = {r["data-key"] for r in rows if "critical" in r["class"].split()}
    assert critical == {seg["span_id"] for seg in doc["critical_path"]}
    # The page is a snapshot of one trace: it does not take part in live updates.
    assert markup.find("body")[0]["data-live"] == "off"


def test_live_version_follows_the_view(client, view):
    before = client.get("/live/version").json()["version"]
    assert before == view.version
    view.add_otlp(bank_traces(3, seed=99))
    assert client.get("/live/version").json()["version"] == before + 1


def test_span_data_is_escaped_everywhere(view):
    view.add_otlp(bank_traces(9, names=HOSTILE, seed=3))
    app = FastAPI()
    app.include_router(create_dashboard_router(view, CollectorSettings(receivers=False)))
    hostile_trace = next(
        e["trace_id"] for ep in view.report()["endpoints"] if ep["service"] == HOSTILE.gateway
        for e in view.exemplars(ep["service"], ep["name"])
    )
    with TestClient(app) as client:
        urls = page_urls(view) + [
            f"/traces/{hostile_trace}",
            "/endpoint?" + _query(service=HOSTILE.gateway, name=HOSTILE.transfer),
            "/endpoints?sort=endpoint",
        ]
        for url in urls:
            html = client.get(url).text
            for payload in XSS_PAYLOADS:
                if "<" in payload:  # markup: must never come through unescaped
                    assert payload not in html, (url, payload)
            markup = Markup(html)
            assert markup.script_text == []
            assert not [a for _, attrs in markup.elements for a in attrs if a.startswith("on")]
            # Plain-text payloads ("javascript:...") may be shown, but never become a link.
            for _, attrs in markup.elements:
                for name in ("href", "src", "xlink:href"):
                    assert not (attrs.get(name) or "").lower().startswith("javascript:")
            assert "<img" not in html and "<iframe" not in html and "<svg onload" not in html
        trace_html = client.get(f"/traces/{hostile_trace}").text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in trace_html
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in trace_html


def test_the_graph_layout_is_computed_once_per_shape():
    from collector.dashboard.router import _LayoutCache

    cache = _LayoutCache(2)
    sizes = {"a": (100.0, 40.0), "b": (100.0, 40.0)}
    first = cache(["a", "b"], [("a", "b")], sizes, direction="LR")
    assert cache(["a", "b"], [("a", "b")], dict(sizes), direction="LR") is first
    assert cache(["a", "b"], [("b", "a")], sizes, direction="LR") is not first
    cache(["a"], [], {"a": (100.0, 40.0)}, direction="LR")  # a third shape evicts the oldest
    assert cache(["a", "b"], [("a", "b")], sizes, direction="LR") is not first


class _StaticView:
    version = 1

    def __init__(self, report: dict) -> None:
        self._report = report

    def report(self, window: str = "all") -> dict:
        return self._report

    def trace(self, trace_id: str) -> None:
        return None

    def exemplars(self, service: str, name: str) -> list[dict]:
        return []


def test_a_shared_database_is_drawn_as_a_pill_on_each_caller_with_the_calls_details():
    report = demo_bank_report()
    app = FastAPI()
    app.include_router(create_dashboard_router(_StaticView(report), CollectorSettings(receivers=False)))
    with TestClient(app) as client:
        markup = Markup(client.get("/?window=all").text)
    nodes = {n["data-key"] for n in markup.find("g", data_select="node")}
    assert nodes == {s["name"] for s in report["services"]} - {"sqlite"}
    pills = [g for g in markup.find("g") if "stub" in g.get("class", "").split()]
    callers = {e["client"] for e in report["edges"] if e["server"] == "sqlite"}
    assert sorted(p["data-key"] for p in pills) == sorted(f"{c} -> sqlite" for c in callers)
    assert all(p["data-select"] == "edge" and "kind-database" in p["class"] for p in pills)
    # Every call keeps its line and its details; the one sqlite node keeps its details too.
    edges = {(e["data-client"], e["data-server"]) for e in markup.find("g", data_select="edge")}
    assert edges == {(e["client"], e["server"]) for e in report["edges"]}
    details = {(d["data-detail"], d["data-key"]) for d in markup.find("section") if "data-detail" in d}
    assert {("edge", p["data-key"]) for p in pills} <= details
    assert ("node", "sqlite") in details


# --------------------------------------------------------------------------- shown text


VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "source", "track", "wbr"})


class Node:
    """An element of a parsed page: tag, attributes, children and text, in order."""

    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.parts: list[Node | str] = []

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    @property
    def text(self) -> str:
        """The text content, as the DOM's ``textContent`` gives it."""
        return "".join(p if isinstance(p, str) else p.text for p in self.parts)

    @property
    def own_text(self) -> str:
        """Only the text directly inside this element (not its children's)."""
        return "".join(p for p in self.parts if isinstance(p, str))

    def all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        """Every descendant matching, in document order."""
        found = []
        for part in self.parts:
            if isinstance(part, Node):
                if ((tag is None or part.tag == tag) and (cls is None or cls in part.classes)
                        and all(part.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())):
                    found.append(part)
                found.extend(part.all(tag, cls, **attrs))
        return found

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, cls, **attrs)
        assert len(found) == 1, (tag, cls, attrs, len(found))
        return found[0]


def parse(html: str) -> Node:
    """The page as a tree of :class:`Node` (enough HTML for the dashboard's own markup)."""
    root = Node("#document", {})
    stack = [root]

    class Builder(HTMLParser):
        def handle_starttag(self, tag, attrs):
            node = Node(tag, dict(attrs))
            stack[-1].parts.append(node)
            if tag not in VOID:
                stack.append(node)

        def handle_startendtag(self, tag, attrs):
            stack[-1].parts.append(Node(tag, dict(attrs)))

        def handle_endtag(self, tag):
            for depth in range(len(stack) - 1, 0, -1):
                if stack[depth].tag == tag:
                    del stack[depth:]
                    return

        def handle_data(self, data):
            stack[-1].parts.append(data)

    builder = Builder(convert_charrefs=True)
    builder.feed(html)
    builder.close()
    return root


def squash(text: str) -> str:
    """Whitespace runs as one space, as a reader sees them."""
    return " ".join(text.split())


def _report(edges=(), endpoints=(), findings=(), services=None) -> dict:
    names = services or sorted({n for e in edges for n in (e["client"], e["server"])}
                               | {e["service"] for e in endpoints})
    return {"schema": "critpath.report/v1", "traces": 120, "spans": 480, "window": "all",
            "generated_at": "2026-12-03T17:00:00Z",
            "services": [{"name": n, "kind": "database" if n == "db" else "service"} for n in names],
            "edges": list(edges), "endpoints": list(endpoints), "findings": list(findings)}


def _edge(client, server, requests, failed, p99_ms, connection_type="", timeout_ms=None) -> dict:
    return {"client": client, "server": server, "connection_type": connection_type,
            "requests": requests, "failed": failed, "p50_ms": p99_ms / 3, "p99_ms": p99_ms,
            "timeout_ms": timeout_ms}


def _static_client(report: dict) -> TestClient:
    app = FastAPI()
    app.include_router(create_dashboard_router(_StaticView(report), CollectorSettings(receivers=False)))
    return TestClient(app)


def edge_labels(html: str) -> dict[str, tuple[str, str | None]]:
    """Each drawn call's label: its first line (rate and p99) and its error line, if any."""
    labels = {}
    for text in parse(html).all("text", cls="edge-label"):
        errors = text.all("tspan", cls="err")
        labels[text.attrs["data-key"]] = (squash(text.own_text), squash(errors[0].text) if errors else None)
    return labels


def test_edge_labels_give_the_rate_over_the_window_the_p99_and_the_error_rate():
    report = _report(edges=[
        _edge("api", "orders", 120, 6, 345.6),      # 2/s over a minute; 5% errors
        _edge("api", "search", 30, 0, 12.34),       # 0.5/s: shown per minute
        _edge("orders", "db", 900, 0, 1234.5, "database"),
        _edge("orders", "billing", 6000, 3, 0.042),  # 100/s; 0.05% errors: not rounded to 0
    ])
    with _static_client(report) as client:
        minute = edge_labels(client.get("/?window=1m").text)
        five = edge_labels(client.get("/?window=5m").text)
        everything = edge_labels(client.get("/?window=all").text)
    assert minute == {
        "api -> orders": ("2.0/s · p99 346 ms", "5% errors"),
        "api -> search": ("30.0/min · p99 12.3 ms", None),
        "orders -> db": ("15.0/s · p99 1.23 s", None),
        "orders -> billing": ("100/s · p99 0.04 ms", "<1% errors"),
    }
    assert five["api -> orders"] == ("24.0/min · p99 346 ms", "5% errors")
    # The all window has no length: the count is shown instead of a rate.
    assert everything["api -> orders"] == ("120 req · p99 346 ms", "5% errors")
    assert everything["orders -> billing"] == ("6,000 req · p99 0.04 ms", "<1% errors")


def test_edge_labels_of_analysed_traces(client, view):
    """On the bank (24 traces: 16 transfers, 4 of them failing in payments)."""
    labels = edge_labels(client.get("/?window=all").text)
    p99 = {f'{e["client"]} -> {e["server"]}': e["p99_ms"] for e in view.report()["edges"]}
    assert labels["web-gateway -> payments"] == (f'16 req · p99 {p99["web-gateway -> payments"]:.0f} ms', "25% errors")
    assert labels["payments -> ledger"] == (f'16 req · p99 {p99["payments -> ledger"]:.1f} ms', None)
    assert labels["web-gateway -> accounts"] == (f'24 req · p99 {p99["web-gateway -> accounts"]:.1f} ms', None)
    assert labels["user -> web-gateway"][1] == "17% errors"  # 4 of 24
    # Over a minute, the same 16 calls are a rate.
    assert edge_labels(client.get("/?window=1m").text)["web-gateway -> payments"][0].startswith("16.0/min · p99 ")


def endpoint_table(html: str) -> dict[str, dict[str, Node]]:
    """The endpoints table: each row's cells by column heading."""
    table = parse(html).one("table", cls="endpoints")
    headings = [squash(th.text).rstrip(" ▲▼") for th in table.all("th")]
    return {row.attrs["data-endpoint"]: dict(zip(headings, row.all("td")))
            for row in table.one("tbody").all("tr")}


def top_services(cell: Node) -> list[str]:
    return [squash(s.text) for s in cell.all("span", cls="svc")]


def test_endpoints_table_shows_critical_path_depth_and_top_services(client):
    rows = endpoint_table(client.get("/endpoints?window=all").text)
    assert set(rows) == {"web-gateway POST /transfer", "web-gateway GET /balance"}
    transfer, balance = rows["web-gateway POST /transfer"], rows["web-gateway GET /balance"]
    # A transfer's latency passes through the gateway, payments and the ledger (the
    # notifier is behind the queue, off the path); a balance read through two services.
    assert squash(transfer["CP depth"].text) == "3 / max 3"
    assert squash(balance["CP depth"].text) == "2 / max 2"
    # The three services owning most of it, largest first, with their shares.
    assert top_services(transfer["Top critical-path services"]) == ["ledger 40%", "accounts 22%", "payments 21%"]
    assert top_services(balance["Top critical-path services"]) == ["accounts 73%", "web-gateway 27%"]
    # The stacked bar holds every service of the profile, not only the top three.
    bar = [squash(t.text) for t in transfer["Top critical-path services"].all("title")]
    assert bar == ["ledger: 40%", "accounts: 22%", "payments: 21%", "web-gateway: 18%"]
    # Sorting by depth puts the deeper endpoint first.
    assert list(endpoint_table(client.get("/endpoints?window=all&sort=depth").text)) == [
        "web-gateway POST /transfer", "web-gateway GET /balance"]


def test_endpoints_table_depth_and_top_services_of_a_given_report():
    endpoints = [
        {"service": "api", "name": "GET /a", "traces": 10, "errors": 0, "p50_ms": 5.0, "p99_ms": 9.0,
         "critical_path": {"depth_p50": 2.5, "depth_max": 4, "services": [
             {"name": "b", "share": 0.1}, {"name": "api", "share": 0.5},
             {"name": "c", "share": 0.3}, {"name": "a", "share": 0.1}]}},
        {"service": "api", "name": "GET /b", "traces": 3, "errors": 1, "p50_ms": 5.0, "p99_ms": 8.0,
         "critical_path": {}},
    ]
    with _static_client(_report(endpoints=endpoints, services=["a", "api", "b", "c"])) as client:
        rows = endpoint_table(client.get("/endpoints").text)
    assert squash(rows["api GET /a"]["CP depth"].text) == "2.5 / max 4"
    # Ties in share are broken by name.
    assert top_services(rows["api GET /a"]["Top critical-path services"]) == ["api 50%", "c 30%", "a 10%"]
    assert squash(rows["api GET /b"]["CP depth"].text) == "–"
    assert top_services(rows["api GET /b"]["Top critical-path services"]) == []


def finding_cards(html: str) -> list[dict]:
    """Each finding on the page, in page order: rule, severity, message and evidence."""
    cards = []
    for article in parse(html).one("div", id="findings-list").all("article", cls="finding"):
        evidence = {}
        for item in article.all("div"):
            dt, dd = item.all("dt"), item.all("dd")
            if dt and dd:
                evidence[squash(dt[0].text)] = (squash(dd[0].text), [a.attrs.get("href") for a in dd[0].all("a")])
        cards.append({
            "rule": squash(article.one("code", cls="rule").text),
            "severity": squash(article.one("span", cls="badge").text),
            "subject": squash(article.one("span", cls="subject").text),
            "message": squash(article.one("p", cls="message").text),
            "evidence": evidence,
        })
    return cards


def test_findings_page_shows_worst_first_with_advice_and_evidence():
    trace_id = "ab" * 16
    findings = [
        {"rule": "fan-out", "severity": "info", "service": "api", "endpoint": "api GET /a",
         "message": "api GET /a makes 12 calls; batch them.", "evidence": {"calls": 12, "p99_ms": 900.0}},
        {"rule": "missing-timeout", "severity": "critical", "client": "api", "server": "orders",
         "endpoint": "api GET /a", "message": "api calls orders with no timeout; set one at 500 ms.",
         "evidence": {"longest_call_ms": 40.0, "calls": 120, "exemplar_trace_id": trace_id}},
        {"rule": "queueable", "severity": "warning", "client": "orders", "server": "billing",
         "endpoint": "api GET /a", "message": "billing could be a queue: nothing waits for its answer.",
         "evidence": {"p99_savings_ms": 2500.0, "caller_share": 0.25}},
        {"rule": "missing-timeout", "severity": "critical", "client": "orders", "server": "db",
         "endpoint": {"service": "api", "name": "GET /a"},
         "message": "orders calls db with no timeout; set a statement timeout.",
         "evidence": {"longest_call_ms": 1234.5, "timeout_ms": None, "retried": False}},
    ]
    endpoints = [{"service": "api", "name": "GET /a", "traces": 120, "errors": 0, "p50_ms": 5.0,
                  "p99_ms": 9.0, "critical_path": {}}]
    report = _report(edges=[_edge("api", "orders", 120, 0, 40.0)], endpoints=endpoints, findings=findings,
                     services=["api", "billing", "db", "orders"])
    with _static_client(report) as client:
        html = client.get("/findings?window=15m").text
    cards = finding_cards(html)
    # Severity first; among equals, the larger latency in the evidence first.
    assert [(c["severity"], c["subject"]) for c in cards] == [
        ("critical", "orders → db api GET /a"),
        ("critical", "api → orders api GET /a"),
        ("warning", "orders → billing api GET /a"),
        ("info", "api api GET /a"),  # the service, then the endpoint
    ]
    assert [c["message"] for c in cards] == [findings[i]["message"] for i in (3, 1, 2, 0)]
    assert cards[0]["evidence"] == {"longest call": ("1.23 s", []), "timeout": ("–", []),
                                    "retried": ("no", [])}
    assert cards[1]["evidence"]["longest call"] == ("40.0 ms", [])
    assert cards[1]["evidence"]["calls"] == ("120", [])
    # A trace id in the evidence links to the trace (keeping the window).
    assert cards[1]["evidence"]["exemplar trace id"] == (
        f"{trace_id[:16]}…", [f"/traces/{trace_id}?window=15m"])
    assert cards[2]["evidence"] == {"p99 savings": ("2.50 s", []), "caller share": ("25%", [])}
    assert cards[3]["evidence"] == {"calls": ("12", []), "p99": ("900 ms", [])}
    counts = [squash(s.text) for s in parse(html).all("span", cls="sev-count")]
    assert counts == ["2 critical", "1 warning", "1 info"]


def test_findings_page_of_analysed_traces(client, view):
    findings = view.report()["findings"]
    assert findings, "the bank's traces should raise findings"
    cards = finding_cards(client.get("/findings?window=all").text)
    assert sorted(c["message"] for c in cards) == sorted(squash(f["message"]) for f in findings)
    by_message = {squash(f["message"]): f for f in findings}
    rank = {"critical": 0, "warning": 1, "info": 2}

    def worst(card):
        f = by_message[card["message"]]
        largest = max((v for k, v in f["evidence"].items() if k.endswith("_ms") and isinstance(v, (int, float))),
                      default=0.0)
        return (rank[f["severity"]], -largest)

    assert [worst(c) for c in cards] == sorted(worst(c) for c in cards)
    for card in cards:
        f = by_message[card["message"]]
        assert card["rule"] == f["rule"] and card["severity"] == f["severity"]
        assert len(card["evidence"]) == len(f["evidence"])
    # The missing timeout on the transfer's slowest call is first, with its numbers.
    first = cards[0]
    assert first["rule"] == "missing-timeout" and first["subject"].startswith("web-gateway → payments")
    assert "no timeout" in first["message"] and "set a" in first["message"]
