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
