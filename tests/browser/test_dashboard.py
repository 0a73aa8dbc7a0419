"""The dashboard in headless Chromium, served by the real collector and fed real OTLP."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect

from analyzer.assemble import assemble
from analyzer.decode import decode
from collector.dashboard import create_dashboard_router
from collector.settings import CollectorSettings
from collector.state import LiveState
from tests.browser.conftest import Collector, Watch, serving
from tests.dashboard.livedata import (
    DEMO_BANK_CALLS, HOSTILE, XSS_PAYLOADS, AnalyzedView, bank_builder, bank_traces, demo_bank_report,
)
from tests.support.sdk import TraceBuilder

pytestmark = pytest.mark.browser


def keys(page: Page, selector: str, attribute: str = "key") -> list[str]:
    """The ``data-<attribute>`` values of every element matching ``selector``."""
    return page.locator(selector).evaluate_all(f"els => els.map(e => e.dataset.{attribute})")


def overlaps(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def test_the_graph_shows_what_the_collector_saw_and_clicking_shows_details(collector: Collector, page: Page):
    collector.export_and_wait(bank_builder(24))
    page.goto(collector.base_url + "/?window=all")

    graph = collector.api("/api/graph?window=all")
    expect(page.locator("svg.graph g.node")).to_have_count(len(graph["services"]))
    assert set(keys(page, "svg.graph g.node")) == {s["name"] for s in graph["services"]}
    drawn_edges = set(zip(keys(page, "svg.graph g.edge", "client"), keys(page, "svg.graph g.edge", "server")))
    assert drawn_edges == {(e["client"], e["server"]) for e in graph["edges"] if e["client"] and e["server"]}

    boxes = [node.bounding_box() for node in page.locator("svg.graph g.node").all()]
    assert all(box and box["width"] > 40 and box["height"] > 20 for box in boxes)
    assert not any(overlaps(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    # Layered by call depth: the user left of the gateway, left of payments, left of the ledger.
    x = {name: page.locator(f'svg.graph g.node[data-key="{name}"]').bounding_box()["x"]
         for name in ("user", "web-gateway", "payments", "ledger")}
    assert x["user"] < x["web-gateway"] < x["payments"] < x["ledger"]
    assert "async" in page.locator('svg.graph g.edge[data-key="payments -> notifier"]').get_attribute("class")

    # Each call's label: requests in the window (the all window counts them), p99 and, when
    # any failed, the error rate. 16 of the 24 traces are transfers; 4 fail in payments.
    p99 = {f'{e["client"]} -> {e["server"]}': e["p99_ms"] for e in graph["edges"]}
    label = page.locator('svg.graph text.edge-label[data-key="web-gateway -> payments"]')
    expect(label).to_be_visible()
    expect(label).to_have_text(f'16 req · p99 {p99["web-gateway -> payments"]:.0f} ms25% errors')
    expect(label.locator("tspan.err")).to_have_text("25% errors")
    expect(label.locator("tspan.err")).to_have_css("fill", "rgb(198, 47, 47)")  # in red (--bad)
    ledger = page.locator('svg.graph text.edge-label[data-key="payments -> ledger"]')
    expect(ledger).to_have_text(f'16 req · p99 {p99["payments -> ledger"]:.1f} ms')
    expect(page.locator('svg.graph text.edge-label[data-key="web-gateway -> accounts"]')).to_have_text(
        f'24 req · p99 {p99["web-gateway -> accounts"]:.1f} ms')

    page.locator('svg.graph g.node[data-key="ledger"]').click()
    details = page.locator('[data-detail="node"][data-key="ledger"]')
    expect(details).to_be_visible()
    expect(details).to_contain_text("of all critical-path time")
    expect(details).to_contain_text("postgresql")
    expect(page.locator("svg.graph g.node.selected")).to_have_attribute("data-key", "ledger")
    assert page.url.endswith("#node=ledger")

    page.locator('svg.graph text.edge-label[data-key="payments -> notifier"]').click()
    expect(details).to_be_hidden()
    edge = page.locator('[data-detail="edge"][data-key="payments -> notifier"]')
    expect(edge).to_be_visible()
    expect(edge).to_contain_text("messaging_system")
    expect(edge).to_contain_text("Asynchronous")

    # The link (window and selection) can be pasted elsewhere and opens the same view.
    pasted = page.context.new_page()
    pasted.goto(page.url)
    expect(pasted.locator('[data-detail="edge"][data-key="payments -> notifier"]')).to_be_visible()
    expect(pasted.locator('.window-select a[aria-current="true"]')).to_have_text("all")
    pasted.close()

    page.keyboard.press("Escape")
    expect(edge).to_be_hidden()


def test_clicking_through_endpoints_to_an_endpoint_and_a_trace(collector: Collector, page: Page):
    collector.export_and_wait(bank_builder(24))
    page.goto(collector.base_url + "/endpoints?window=all")
    rows = page.locator("table.endpoints tbody tr")
    expect(rows).to_have_count(2)

    page.locator("table.endpoints thead a[data-sort=traces]").click()
    expect(page).to_have_url(re.compile(r"sort=traces"))
    expect(page.locator("table.endpoints th.sorted")).to_contain_text("Traces")
    assert keys(page, "table.endpoints tbody tr", "endpoint")[0] == "web-gateway POST /transfer"

    # The critical-path columns: depth (p50 / max) and the three services owning most of it.
    transfer = page.locator('table.endpoints tbody tr[data-endpoint="web-gateway POST /transfer"]')
    balance = page.locator('table.endpoints tbody tr[data-endpoint="web-gateway GET /balance"]')
    expect(transfer.locator("td.depth")).to_have_text("3 / max 3")
    expect(balance.locator("td.depth")).to_have_text("2 / max 2")
    expect(transfer.locator("td.top-services .svc")).to_have_text(["ledger 40%", "accounts 22%", "payments 21%"])
    expect(balance.locator("td.top-services .svc")).to_have_text(["accounts 73%", "web-gateway 27%"])
    expect(transfer.locator("td.top-services svg.stack rect[fill]")).to_have_count(4)

    page.locator("a.endpoint-link", has_text="POST /transfer").click()
    expect(page.locator("h1.title")).to_have_text("web-gateway POST /transfer")
    endpoint = next(e for e in collector.api("/api/endpoints?window=all")["endpoints"]
                    if e["name"] == "POST /transfer")
    profile = keys(page, "table.profile tbody tr", "service")
    assert profile == [s["name"] for s in sorted(endpoint["critical_path"]["services"],
                                                 key=lambda s: (-s["share"], s["name"]))]
    expect(page.locator("a.trace-link").first).to_be_visible()

    page.locator("a.trace-link").first.click()
    expect(page).to_have_url(re.compile(r"/traces/[0-9a-f]{32}"))
    trace_id = re.search(r"/traces/([0-9a-f]{32})", page.url).group(1)
    doc = collector.api(f"/api/traces/{trace_id}")
    expect(page.locator("svg.waterfall g.span-row")).to_have_count(len(doc["spans"]))
    owners = {seg["span_id"] for seg in doc["critical_path"]}
    assert set(keys(page, "svg.waterfall g.span-row.critical")) == owners
    expect(page.locator("svg.waterfall rect.cp-seg")).to_have_count(len(doc["critical_path"]))

    insert = next(s for s in doc["spans"] if s["name"] == "INSERT entries")
    page.locator(f'svg.waterfall g.span-row[data-key="{insert["span_id"]}"]').click()
    details = page.locator(f'[data-detail="span"][data-key="{insert["span_id"]}"]')
    expect(details).to_be_visible()
    expect(details).to_contain_text("db.system")
    expect(details).to_contain_text("postgresql")

    page.locator("#cp-only").click()
    expect(page.locator("svg.waterfall")).to_have_class(re.compile("cp-only"))

    page.locator("nav.crumbs a", has_text="POST /transfer").click()
    expect(page.locator("h1.title")).to_have_text("web-gateway POST /transfer")


def test_live_update_changes_the_page_without_losing_the_readers_place(collector: Collector, page: Page):
    collector.export_and_wait(bank_builder(12))
    page.goto(collector.base_url + "/?window=all")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    page.locator('svg.graph g.node[data-key="payments"]').click()
    traces = page.locator('#summary [data-metric="traces"]')
    expect(traces).to_have_text("12")
    page.evaluate("window.__sameDocument = true")

    collector.export_and_wait(bank_builder(12, seed=11, fraud_check="fraud-check"))

    expect(page.locator('svg.graph g.node[data-key="fraud-check"]')).to_have_count(1)
    expect(traces).to_have_text("24")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded instead of updating"
    assert page.url.endswith("/?window=all#node=payments")
    expect(page.locator("svg.graph g.node.selected")).to_have_attribute("data-key", "payments")
    details = page.locator('[data-detail="node"][data-key="payments"]')
    expect(details).to_be_visible()
    expect(details).to_contain_text("fraud-check")

    # The endpoints table keeps its sort order through an update.
    page.goto(collector.base_url + "/endpoints?window=all&sort=traces&order=asc")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    first_count = page.locator("table.endpoints tbody tr").first.locator("td").nth(1)
    old = first_count.inner_text()
    collector.export_and_wait(bank_builder(30, seed=5))
    expect(first_count).not_to_have_text(old)
    expect(page.locator("table.endpoints th.sorted")).to_contain_text("Traces")
    counts = page.locator("table.endpoints tbody tr td:nth-child(2)").all_inner_texts()
    assert [int(c.replace(",", "")) for c in counts] == sorted(int(c.replace(",", "")) for c in counts)

    # A reader scrolled down the findings stays where they are while the numbers change.
    page.goto(collector.base_url + "/findings?window=all")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    page.evaluate("window.scrollTo(0, 240)")
    findings = page.locator("#findings-list")
    old = findings.inner_text()
    collector.export_and_wait(bank_builder(12, seed=8))
    expect(findings).not_to_have_text(old)
    assert page.evaluate("window.scrollY") == 240


def test_span_data_full_of_markup_is_shown_as_text_and_never_runs(collector: Collector, page: Page, watch: Watch):
    builder = TraceBuilder()
    bank_builder(6, builder=builder)
    bank_builder(9, names=HOSTILE, seed=3, builder=builder)
    collector.export_and_wait(builder)
    base = collector.base_url

    page.goto(base + "/?window=all")
    names = set(keys(page, "svg.graph g.node"))
    for hostile in (HOSTILE.gateway, HOSTILE.accounts, HOSTILE.ledger, HOSTILE.database):
        assert hostile in names
    for node in page.locator("svg.graph g.node").all():
        node.click()
    expect(page.locator("svg.graph g.node.selected")).to_have_count(1)
    assert HOSTILE.gateway in page.locator("svg.graph").text_content()

    for path in ("/endpoints?window=all", "/findings?window=all"):
        page.goto(base + path)
        expect(page.locator("main")).to_be_visible()
    page.goto(base + "/endpoints?window=all")
    page.locator("a.endpoint-link", has_text=HOSTILE.transfer).click()
    expect(page.locator("h1.title")).to_contain_text(HOSTILE.transfer)
    page.locator("a.trace-link").first.click()
    expect(page.locator("svg.waterfall")).to_be_visible()
    page.locator("svg.waterfall g.span-row").first.click()
    details = page.locator('[data-detail="span"]:not([hidden])')
    expect(details).to_be_visible()
    trace_id = re.search(r"/traces/([0-9a-f]{32})", page.url).group(1)
    root = collector.api(f"/api/traces/{trace_id}")["spans"][0]
    shown = details.inner_text()
    # Shown as text, exactly as the span carried it (the collector keeps the attributes
    # the analysis reads, http.route among them; the test below shows every attribute).
    for text in (root["service"], root["name"], *map(str, root["attributes"].values())):
        assert text in shown
    assert {HOSTILE.gateway, HOSTILE.transfer} <= {root["service"], root["name"]}
    # None of the payloads became an element.
    assert page.locator("img, iframe, main script, svg [onload], [onerror], [onmouseover]").count() == 0
    page.wait_for_timeout(300)  # give any injected handler a chance to fire before the check
    watch.assert_clean()


def test_hostile_attribute_values_are_shown_as_text_and_never_run(page: Page, watch: Watch):
    """Every attribute of a span reaches the browser: the collector keeps only those the
    analysis reads (so the test above never sees ``payload.N``), so this serves the
    dashboard's router over a view that keeps all of them (``AnalyzedView`` decodes with
    ``keep_attributes=None``), fed the hostile bank's OTLP."""
    view = AnalyzedView()
    builder = TraceBuilder()
    bank_builder(3, builder=builder)
    bank_builder(6, names=HOSTILE, seed=3, builder=builder)
    view.add_otlp(builder.otlp_protobuf())
    exemplars = view.exemplars(HOSTILE.gateway, HOSTILE.transfer)
    assert exemplars
    doc = view.trace(exemplars[0]["trace_id"])
    root = next(s for s in doc["spans"] if s["name"] == HOSTILE.transfer)
    hostile = {f"payload.{i}": p for i, p in enumerate(XSS_PAYLOADS)}
    assert {k: root["attributes"].get(k) for k in hostile} == hostile, "the payloads must reach the page"

    app = FastAPI()
    app.include_router(create_dashboard_router(view, CollectorSettings(receivers=False)))
    with serving(app) as base:
        page.goto(base + "/endpoints?window=all")
        page.locator("a.endpoint-link", has_text=HOSTILE.transfer).click()
        expect(page.locator("h1.title")).to_contain_text(HOSTILE.transfer)
        page.locator(f'a.trace-link[href^="/traces/{doc["trace_id"]}"]').click()
        expect(page).to_have_url(re.compile(doc["trace_id"]))
        for row in page.locator("svg.waterfall g.span-row").all():  # hover and open every span
            row.hover()
            row.click()
        page.locator(f'svg.waterfall g.span-row[data-key="{root["span_id"]}"]').click()
        details = page.locator(f'[data-detail="span"][data-key="{root["span_id"]}"]')
        expect(details).to_be_visible()
        # Each attribute in its own row, name and value exactly as the span carried them.
        shown = dict(zip(details.locator("table.attrs th").all_inner_texts(),
                         details.locator("table.attrs td").all_inner_texts()))
        for key, payload in hostile.items():
            assert shown.get(key) == payload, (key, shown.get(key))
        assert shown["http.route"] == HOSTILE.transfer
        # Text nodes only: no payload became an element or an attribute anywhere on the page.
        assert details.locator("table.attrs td *").count() == 0
        assert page.locator("img, iframe, main script, svg svg, [onload], [onerror], [onmouseover]").count() == 0
        assert page.evaluate("document.title").startswith("Trace ")
        page.wait_for_timeout(300)  # give any injected handler a chance to fire before the check
    watch.assert_clean()


def test_the_page_watch_would_catch_markup_that_got_through(collector: Collector, page: Page, watch: Watch):
    """The guard of the test above works: injected markup is blocked by the CSP and seen."""
    page.goto(collector.base_url + "/")
    page.evaluate("""() => {
        const box = document.createElement('div');
        box.innerHTML = '<img src="x" onerror="alert(1)">';
        document.body.appendChild(box);
    }""")
    def seen(source: str) -> bool:
        return any(v.startswith(source) for v in watch.csp_violations)

    for _ in range(60):  # the image's error fires, the CSP blocks its handler and reports it
        if seen("event: script-src") and seen("console: "):
            break
        page.wait_for_timeout(50)
    assert watch.dialogs == [], "the CSP let an inline handler run"
    assert seen("event: script-src") and seen("console: "), watch.csp_violations
    watch.csp_violations.clear()


def test_the_findings_page_shows_each_findings_advice_and_evidence_worst_first(collector: Collector, page: Page):
    collector.export_and_wait(bank_builder(24))
    findings = collector.api("/api/findings?window=all")["findings"]
    assert len(findings) == 3, findings  # a missing timeout on each synchronous call on a path
    page.goto(collector.base_url + "/findings?window=all")
    cards = page.locator("#findings-list article.finding")
    expect(cards).to_have_count(3)
    # Worst first: all critical, so the largest latency in the evidence leads.
    expect(cards.locator(".subject-call")).to_have_text(
        ["web-gateway → payments", "payments → ledger", "web-gateway → accounts"])
    by_call = {(f["client"], f["server"]): f for f in findings}
    for i, call in enumerate([("web-gateway", "payments"), ("payments", "ledger"), ("web-gateway", "accounts")]):
        card, finding = cards.nth(i), by_call[call]
        expect(card.locator(".badge")).to_have_text("critical")
        expect(card.locator("code.rule")).to_have_text("missing-timeout")
        # The advice, whole: what is wrong, why it matters and what to do.
        expect(card.locator("p.message")).to_have_text(finding["message"])
        expect(card.locator("p.message")).to_contain_text("set a client timeout")
        # The evidence: every number behind it, named and with its unit.
        expect(card.locator("dl.evidence > div")).to_have_count(len(finding["evidence"]))
        calls = card.locator("dl.evidence > div", has=page.locator("dt", has_text=re.compile(r"^calls$")))
        expect(calls.locator("dd")).to_have_text(str(finding["evidence"]["calls"]))
        p99 = card.locator("dl.evidence > div", has=page.locator("dt", has_text=re.compile(r"^p99$")))
        expect(p99.locator("dd")).to_have_text(re.compile(r"^\d+(\.\d+)? ms$"))
        stall = card.locator('dl.evidence a[href^="/traces/"]')
        expect(stall).to_have_attribute(
            "href", f'/traces/{finding["evidence"]["longest_stall_trace_id"]}?window=all')
    expect(cards.first.locator("dd", has_text="16")).not_to_have_count(0)
    expect(page.locator("#findings-list .sev-count")).to_have_text(["3 critical", "0 warning", "0 info"])


def test_the_window_selector_changes_what_is_shown(page: Page):
    """The real live state (``collector.state.LiveState``, which buckets traces by arrival
    time) on a clock the test moves: traces that arrived two minutes ago are gone from
    the 1m window and still in 5m and all."""
    now = [1_800_000_000.0]
    settings = CollectorSettings(receivers=False)
    state = LiveState(settings, clock=lambda: now[0])

    def arrive(builder: TraceBuilder) -> None:
        state.consume(assemble(decode(builder.otlp_protobuf(), source="test").spans))

    arrive(bank_builder(8, statements=True))  # has GET /statement and the statements service
    now[0] += 120
    arrive(bank_builder(6, seed=2))  # transfers and balance reads only
    app = FastAPI()
    app.include_router(create_dashboard_router(state, settings))
    with serving(app) as base:
        page.goto(base + "/endpoints?window=all&sort=traces&order=desc")
        rows = page.locator("table.endpoints tbody tr")
        expect(rows).to_have_count(3)
        assert "web-gateway GET /statement" in keys(page, "table.endpoints tbody tr", "endpoint")

        page.locator('.window-select a[data-window="1m"]').click()
        expect(page).to_have_url(re.compile(r"window=1m"))
        expect(rows).to_have_count(2)
        assert set(keys(page, "table.endpoints tbody tr", "endpoint")) == {
            "web-gateway POST /transfer", "web-gateway GET /balance"}
        expect(page.locator("#footer")).to_contain_text("6 traces")
        expect(page.locator("#footer")).to_contain_text("window 1m")

        page.locator('.window-select a[data-window="5m"]').click()
        expect(rows).to_have_count(3)
        expect(page.locator("#footer")).to_contain_text("14 traces")

        # The overview: the statements journey's services are drawn only while in the window.
        page.locator("nav.mainnav a", has_text="Overview").click()
        expect(page).to_have_url(re.compile(r"/\?window=5m$"))
        expect(page.locator('svg.graph g.node[data-key="statements"]')).to_have_count(1)
        expect(page.locator('#summary [data-metric="traces"]')).to_have_text("14")
        page.locator('.window-select a[data-window="1m"]').click()
        expect(page.locator('#summary [data-metric="traces"]')).to_have_text("6")
        expect(page.locator('svg.graph g.node[data-key="statements"]')).to_have_count(0)
        expect(page.locator('svg.graph g.node[data-key="redis"]')).to_have_count(0)
        expect(page.locator('svg.graph g.node[data-key="payments"]')).to_have_count(1)
        page.locator('.window-select a[data-window="all"]').click()
        expect(page.locator('svg.graph g.node[data-key="statements"]')).to_have_count(1)
        expect(page.locator('#summary [data-metric="traces"]')).to_have_text("14")

        # A quarter of an hour later every trace has left every sliding window; all keeps them.
        now[0] += 1000
        page.goto(base + "/?window=15m")
        expect(page.locator("svg.graph")).to_have_count(0)
        expect(page.locator("#graph .empty")).to_contain_text("No traces in this window")
        page.locator('.window-select a[data-window="all"]').click()
        expect(page.locator('#summary [data-metric="traces"]')).to_have_text("14")


def test_the_time_window_is_in_the_url_and_kept_when_navigating(collector: Collector, page: Page):
    collector.export_and_wait(bank_builder(6))
    page.goto(collector.base_url + "/endpoints?sort=traces&order=asc")
    expect(page.locator('.window-select a[aria-current="true"]')).to_have_text("5m")
    page.locator('.window-select a[data-window="1m"]').click()
    expect(page).to_have_url(re.compile(r"/endpoints\?sort=traces&order=asc&window=1m$"))
    expect(page.locator('.window-select a[aria-current="true"]')).to_have_text("1m")
    page.locator("nav.mainnav a", has_text="Findings").click()
    expect(page).to_have_url(re.compile(r"/findings\?window=1m$"))
    page.locator("#copy-link").click()
    copied = page.locator("#copy-fallback")
    if copied.is_visible():  # no clipboard permission in headless Chromium: the link is offered
        assert copied.input_value() == page.url
    else:
        expect(page.locator("#copy-link")).to_have_text("Copied")


def test_without_an_event_stream_the_page_polls_and_still_updates(page: Page):
    """The dashboard router alone (no collector API, so no /api/stream) over real analysis."""
    view = AnalyzedView()
    view.add_otlp(bank_traces(6))
    app = FastAPI()
    app.include_router(create_dashboard_router(view, CollectorSettings(receivers=False)))
    with serving(app) as base:
        page.goto(base + "/endpoints?window=all")
        expect(page.locator("#live-status")).to_have_attribute("data-state", "polling")
        expect(page.locator("table.endpoints tbody tr")).to_have_count(2)
        view.add_otlp(bank_traces(8, statements=True, seed=2))
        expect(page.locator("table.endpoints tbody tr")).to_have_count(3)
        expect(page.locator("body")).to_have_attribute("data-version", str(view.version))


class _StaticView:
    """A ``LiveView`` that always shows one report."""

    version = 1

    def __init__(self, report: dict) -> None:
        self._report = report

    def report(self, window: str = "all") -> dict:
        return self._report

    def trace(self, trace_id: str) -> None:
        return None

    def exemplars(self, service: str, name: str) -> list[dict]:
        return []


def test_the_demo_banks_graph_stays_readable_with_sqlite_on_each_caller(page: Page, watch: Watch):
    """The real bank's size at 1280×800: no text scaled below 11 px, the shared sqlite
    drawn as a pill on each of its 15 callers (clicking one shows that call), and the
    labels that fit nowhere shown on hover."""
    report = demo_bank_report()
    callers = sorted(c for c, s, *_ in DEMO_BANK_CALLS if s == "sqlite")
    app = FastAPI()
    app.include_router(create_dashboard_router(_StaticView(report), CollectorSettings(receivers=False)))
    with serving(app) as base:
        page.goto(base + "/?window=all")
        services = {s["name"] for s in report["services"]} - {"sqlite"}
        expect(page.locator("svg.graph g.node")).to_have_count(len(services))
        assert set(keys(page, "svg.graph g.node")) == services
        assert sorted(keys(page, "svg.graph g.stub")) == [f"{c} -> sqlite" for c in callers]
        # Every call is still drawn (the ones to sqlite as the short line into the pill).
        drawn = set(zip(keys(page, "svg.graph g.edge", "client"), keys(page, "svg.graph g.edge", "server")))
        assert drawn == {(c, s) for c, s, *_ in DEMO_BANK_CALLS}

        # Text as the reader sees it: the font size times the drawing's scale on screen.
        sizes = page.locator("svg.graph text.node-name, svg.graph text.stub-name").evaluate_all(
            "els => els.map(e => parseFloat(getComputedStyle(e).fontSize) * e.getScreenCTM().a)")
        assert len(sizes) == len(services) + len(callers)
        assert min(sizes) >= 9.4 and min(sizes[:len(services)]) >= 11, sizes
        # The page never scrolls sideways; a graph taller than the panel scrolls inside it.
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        scroll = page.locator("#graph").evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert scroll[0] <= scroll[1] + 1

        # A pill stands for its call: clicking it selects the call and shows its details.
        pill = page.locator('svg.graph g.stub[data-key="gateway -> sqlite"]')
        label = page.locator('svg.graph text.edge-label[data-key="gateway -> sqlite"]')
        expect(label).to_be_hidden()
        pill.hover()
        expect(label).to_be_visible()
        pill.click()
        details = page.locator('[data-detail="edge"][data-key="gateway -> sqlite"]')
        expect(details).to_be_visible()
        expect(details).to_contain_text("sqlite")
        assert page.url.endswith("#edge=gateway+-%3E+sqlite")
        expect(page.locator('svg.graph g.edge.selected')).to_have_attribute("data-key", "gateway -> sqlite")
        page.mouse.move(0, 0)
        expect(label).to_be_visible()  # still selected
        # The node's own details still list every caller of the one sqlite.
        page.goto(base + "/?window=all#node=sqlite")
        expect(page.locator('[data-detail="node"][data-key="sqlite"]')).to_contain_text("card-processing")
    watch.assert_clean()
