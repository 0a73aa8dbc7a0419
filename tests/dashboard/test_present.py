"""collector.dashboard.present: the numbers and geometry behind the pages, without a browser."""

from __future__ import annotations

import pytest

from collector.dashboard import present
from tests.dashboard.livedata import DEMO_BANK_CALLS, AnalyzedView, bank_traces, demo_bank_report


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, "–", id="none"),
        pytest.param(0.4213, "0.42 ms", id="sub-ms"),
        pytest.param(42.17, "42.2 ms", id="tens"),
        pytest.param(421.7, "422 ms", id="hundreds"),
        pytest.param(4217.0, "4.22 s", id="seconds"),
    ],
)
def test_fmt_ms(value, expected):
    assert present.fmt_ms(value) == expected


@pytest.mark.parametrize(
    ("requests", "seconds", "expected"),
    [
        pytest.param(600, 60, "10.0/s", id="per-second"),
        pytest.param(30, 300, "6.0/min", id="slow-per-minute"),
        pytest.param(12_345, None, "12,345 req", id="all-window-count"),
        pytest.param(90_000, 300, "300/s", id="busy"),
    ],
)
def test_fmt_rate(requests, seconds, expected):
    assert present.fmt_rate(requests, seconds) == expected


def test_percentages_keep_tiny_shares_visible():
    assert present.fmt_pct(0.004) == "<1%"
    assert present.fmt_pct(0.0) == "0%"
    assert present.fmt_pct(0.456) == "46%"


def test_evidence_values_are_formatted_by_their_key():
    assert present.fmt_value("p99_savings_ms", 81.25) == "81.2 ms"
    assert present.fmt_value("error_ratio", 0.25) == "25%"
    assert present.fmt_value("calls", 1234) == "1,234"
    assert present.fmt_value("tolerated", True) == "yes"
    assert present.fmt_value("timeouts_ms", [100, 2000]) == "100 ms, 2.00 s"
    assert present.humanize_key("p99_savings_ms") == "p99 savings"
    assert present.humanize_key("budget_s") == "budget (s)"


def test_service_colours_are_distinct_while_the_palette_lasts_and_stable():
    names = [f"service-{i}" for i in range(len(present.SERVICE_PALETTE))]
    colours = present.service_colours(names)
    assert sorted(colours.values()) == sorted(present.SERVICE_PALETTE)
    assert present.service_colours(reversed(names)) == colours
    more = present.service_colours(names + ["one-too-many"])
    assert set(more.values()) <= set(present.SERVICE_PALETTE) and len(more) == len(names) + 1


def test_waterfall_uses_the_given_colours_and_colours_unknown_services_too():
    span = {"span_id": "a", "parent_id": None, "service": "web", "name": "GET /", "kind": "server",
            "start_ns": 0, "end_ns": 10, "status": "ok", "attributes": {}, "depth": 1}
    other = dict(span, span_id="b", parent_id="a", service="new-one")
    wf = present.build_waterfall({"spans": [span, other], "critical_path": []}, {"web": "#123456"})
    assert wf.rows[0].colour == "#123456"
    assert wf.rows[1].colour in present.SERVICE_PALETTE


def test_critical_path_shares_weigh_endpoints_by_their_critical_path_time():
    report = {"endpoints": [
        {"service": "gw", "name": "a", "traces": 10, "p50_ms": 100.0,
         "critical_path": {"services": [{"name": "db-heavy", "share": 0.5}, {"name": "gw", "share": 0.5}]}},
        {"service": "gw", "name": "b", "traces": 30, "p50_ms": 10.0,
         "critical_path": {"services": [{"name": "gw", "share": 1.0}]}},
        {"service": "gw", "name": "idle", "traces": 0, "p50_ms": None, "critical_path": {"services": []}},
    ]}
    shares = present.critical_path_shares(report)
    # a: 1000 ms·traces, half db-heavy; b: 300, all gw.
    assert shares["db-heavy"] == pytest.approx(500 / 1300)
    assert shares["gw"] == pytest.approx(800 / 1300)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert present.critical_path_shares({"endpoints": []}) == {}


def test_findings_worst_first():
    findings = [
        {"rule": "critical-path-depth", "severity": "info", "endpoint": "gw a", "evidence": {}},
        {"rule": "missing-timeout", "severity": "warning", "client": "a", "server": "b", "evidence": {"p99_ms": 10}},
        {"rule": "missing-timeout", "severity": "critical", "client": "a", "server": "c", "evidence": {"p99_ms": 5}},
        {"rule": "deferrable-work", "severity": "critical", "client": "a", "server": "d",
         "evidence": {"p99_savings_ms": 90}},
    ]
    ordered = present.sorted_findings(findings)
    assert [(f["severity"], f.get("server")) for f in ordered] == [
        ("critical", "d"), ("critical", "c"), ("warning", "b"), ("info", None),
    ]
    assert present.severity_counts(findings) == {"critical": 2, "warning": 1, "info": 1}


@pytest.fixture(scope="module")
def view() -> AnalyzedView:
    view = AnalyzedView()
    view.add_otlp(bank_traces(12))
    return view


def test_graph_scene_of_the_bank(view):
    report = view.report()
    scene = present.build_graph(report, 300)
    nodes = {n.name: n for n in scene.nodes}
    assert set(nodes) == {s["name"] for s in report["services"]}
    # Layered by call depth, left to right: user, gateway, its callees, theirs.
    x = {name: n.box.x for name, n in nodes.items()}
    assert x["user"] < x["web-gateway"] < x["payments"] < x["ledger"] < x["postgresql"]
    assert nodes["postgresql"].is_peer and nodes["postgresql"].kind == "database"
    assert nodes["user"].kind == "virtual"
    assert not nodes["web-gateway"].is_peer
    # The hottest service is drawn hottest; peers are not coloured by share.
    hottest = max((n for n in scene.nodes if not n.is_peer), key=lambda n: n.share)
    assert hottest.fill == present.heat(hottest.share)[0]
    assert nodes["postgresql"].fill not in {present.heat(n.share)[0] for n in scene.nodes if not n.is_peer}
    edges = {(e.client, e.server): e for e in scene.edges}
    assert edges[("payments", "notifier")].is_async
    assert not edges[("web-gateway", "payments")].is_async
    assert edges[("web-gateway", "payments")].failed > 0
    assert nodes["payments"].calls_in == (edges[("web-gateway", "payments")],)
    for e in scene.edges:
        assert e.path_d.startswith("M ") and " C " in e.path_d
        assert 0 <= e.label_x <= scene.width and 0 <= e.label_y <= scene.height


def test_unknown_node_kinds_are_drawn_as_virtual_peers():
    report = {"services": [{"name": "a", "kind": "service"}, {"name": "b", "kind": "<script>"}],
              "edges": [{"client": "a", "server": "b", "connection_type": "", "requests": 3, "failed": 0,
                         "p50_ms": 1.0, "p99_ms": 2.0, "timeout_ms": None},
                        {"client": "", "server": "a", "connection_type": "", "requests": 1, "failed": 0,
                         "p50_ms": None, "p99_ms": None, "timeout_ms": None}],
              "endpoints": [], "findings": []}
    scene = present.build_graph(report, None)
    assert {n.name: n.kind for n in scene.nodes} == {"a": "service", "b": "virtual"}
    assert [(e.client, e.server, e.rate) for e in scene.edges] == [("a", "b", "3 req")]


def test_waterfall_of_a_bank_trace(view):
    ep = next(e for e in view.report()["endpoints"] if e["name"] == "POST /transfer")
    doc = view.trace(view.exemplars(ep["service"], ep["name"])[0]["trace_id"])
    wf = present.build_waterfall(doc)
    assert [r.span_id for r in wf.rows] == [s["span_id"] for s in doc["spans"]]
    root = wf.rows[0]
    assert root.tree_depth == 0 and root.bar_x == pytest.approx(wf.bar_left)
    # The notifier consumes after the response: its bar may run past the root's end,
    # and the axis covers it.
    assert max(r.bar_x + r.bar_width for r in wf.rows) == pytest.approx(wf.bar_right)
    by_id = {r.span_id: r for r in wf.rows}
    critical_ms = sum((s["end_ns"] - s["start_ns"]) / 1e6 for s in doc["critical_path"])
    assert wf.critical_ms == pytest.approx(critical_ms)
    assert wf.critical_ms == pytest.approx(doc["duration_ms"], rel=1e-3)
    for seg in doc["critical_path"]:
        row = by_id[seg["span_id"]]
        assert row.on_critical_path
        for x, w in row.critical:  # drawn inside the span's own bar
            assert row.bar_x - 1e-6 <= x and x + w <= row.bar_x + row.bar_width + 1.0
    notifier = next(r for r in wf.rows if r.service == "notifier")
    assert not notifier.on_critical_path
    assert [t[1] for t in wf.ticks][0] == "0" and len(wf.ticks) >= 4
    depths = [r.tree_depth for r in wf.rows]
    assert all(b <= a + 1 for a, b in zip(depths, depths[1:]))  # children right after parents


def test_waterfall_puts_orphans_after_the_root_and_survives_parent_cycles():
    def span(sid, parent, start, end):
        return {"span_id": sid, "parent_id": parent, "service": "s", "name": sid,
                "kind": "internal", "start_ns": start, "end_ns": end, "status": "unset",
                "attributes": {"k": ("a", "b")}, "depth": 1}

    doc = {"spans": [span("orphan", "missing", 5, 8), span("root", None, 0, 10),
                     span("kid", "root", 1, 4), span("x", "y", 2, 3), span("y", "x", 2, 3)],
           "critical_path": [{"span_id": "root", "start_ns": 0, "end_ns": 10}]}
    wf = present.build_waterfall(doc)
    assert [r.span_id for r in wf.rows] == ["root", "kid", "orphan"]
    assert wf.rows[0].attributes == (("k", "a, b"),)
    assert present.build_waterfall({"spans": []}).rows == ()


def test_a_database_most_services_call_is_drawn_on_each_caller():
    """The demo bank: every service keeps its data in one sqlite. One node would pull 15
    long edges across the picture; instead each caller carries a small sqlite pill."""
    report = demo_bank_report()
    scene = present.build_graph(report, None)
    callers = {c for c, s, *_ in DEMO_BANK_CALLS if s == "sqlite"}
    assert present.shared_peers({s["name"]: s["kind"] for s in report["services"]},
                                [(c, s) for c, s, *_ in DEMO_BANK_CALLS]) == {"sqlite"}
    # The data model is untouched: one sqlite node, called by every caller.
    sqlite = next(n for n in scene.nodes if n.name == "sqlite")
    assert sqlite.box is None and sqlite not in scene.drawn_nodes
    assert {e.client for e in sqlite.calls_in} == callers
    # One pill per call, keyed like the call, hanging from its caller's box.
    assert sorted(s.key for s in scene.stubs) == sorted(f"{c} -> sqlite" for c in callers)
    boxes = {n.name: n.box for n in scene.drawn_nodes}
    for stub in scene.stubs:
        caller = boxes[stub.client]
        assert caller.left <= stub.box.left and stub.box.right <= caller.right
        assert stub.box.top < caller.bottom < stub.box.bottom
        edge = next(e for e in scene.edges if e.key == stub.key)
        assert edge.stub == stub and not edge.label_always
    # Nothing overlaps: boxes with each other, pills with other services' boxes.
    drawn = [(n.name, present._pad(n.box, 0)) for n in scene.drawn_nodes] + [
        (s.client, present._pad(s.box, 0)) for s in scene.stubs]
    for i, (owner_a, a) in enumerate(drawn):
        for owner_b, b in drawn[i + 1:]:
            assert owner_a == owner_b or not present._overlap(a, b), (owner_a, owner_b)
    # Nor the labels shown all the time, with each other or with any box.
    shown = [present._label_area(e.label_x, e.label_y, len(f"{e.rate} · p99 {present.fmt_ms(e.p99_ms)}")
                                 * present.LABEL_CHAR_WIDTH, 2 if e.failed else 1)
             for e in scene.edges if e.label_always]
    assert len(shown) >= len([e for e in scene.edges if not e.stub]) // 2
    for i, a in enumerate(shown):
        assert not any(present._overlap(a, b) for b in shown[i + 1:])
        assert not any(present._overlap(a, box) for _, box in drawn)


def test_a_bank_sized_graph_is_never_shrunk_below_a_readable_size():
    scene = present.build_graph(demo_bank_report(), None)
    width, height = scene.display_size
    scale = width / (scene.width + 2 * present.GRAPH_PADDING)
    assert scale == pytest.approx(scene.scale, abs=0.01)
    assert scale >= present.GRAPH_MIN_SCALE - 0.005  # display sizes are whole pixels
    assert 12.5 * present.GRAPH_MIN_SCALE >= 11  # node names, 12.5 px in dashboard.css
    # It fits a 1280 px screen's panel across; what does not fit downwards scrolls.
    assert width <= present.GRAPH_FIT_WIDTH


def test_a_small_graph_keeps_one_node_per_database_and_its_natural_size(view):
    scene = present.build_graph(view.report(), 300)
    assert scene.stubs == () and scene.scale == 1.0
    assert all(e.label_always for e in scene.edges)
    assert scene.display_size == (round(scene.width + 2 * present.GRAPH_PADDING),
                                  round(scene.height + 2 * present.GRAPH_PADDING))
