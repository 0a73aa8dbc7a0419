"""``analyzer.gate.render_text``: the gate's CI-log text — headline, width, grouping, order,
and ``verbose`` — on hand-written reports."""

from __future__ import annotations

from analyzer.config import AnalysisConfig
from analyzer.gate import judge, render, render_text

WEB = "web GET /"


def endpoint(service: str = "web", name: str = "GET /", depth: int = 2,
             services: tuple[str, ...] = ("web", "api")) -> dict:
    return {"service": service, "name": name, "traces": 10, "errors": 0, "p50_ms": 1.0,
            "p99_ms": 2.0, "critical_path": {
                "depth_p50": depth, "depth_max": depth,
                "services": [{"name": s, "share": 1 / len(services), "p50_ms": 1.0, "p99_ms": 1.0}
                             for s in services]}}


def timeout_finding(client: str = "web", server: str = "api", *, max_ms: float = 100.0,
                    severity: str = "critical", endpoint_key: str = WEB) -> dict:
    """A missing-timeout finding with a message as long as the real ones."""
    return {
        "rule": "missing-timeout", "severity": severity, "client": client, "server": server,
        "endpoint": endpoint_key, "service": client, "impact": max_ms,
        "message": f"{client} calls {server} (GET /x) with no timeout (none declared, none seen "
                   f"firing) on the critical path of {endpoint_key}: if {server} stalls, every "
                   f"request waits with it (longest call seen {max_ms:.0f} ms); set a client "
                   "timeout below the caller's own budget and send it as a deadline header.",
        "evidence": {"operation": "GET /x", "calls": 10, "max_ms": max_ms,
                     "longest_stall_trace_id": "00000000000000000000000000000abc"},
    }


def report(endpoints=(), findings=(), traces: int = 10) -> dict:
    return {"schema": "critpath.report/v1", "generated_at": "2026-01-01T00:00:00Z",
            "traces": traces, "spans": 40, "services": [], "edges": [],
            "endpoints": list(endpoints), "findings": list(findings)}


def body(text: str) -> list[str]:
    """The lines after the headline and the column headers."""
    return text.splitlines()[2:]


# -- the headline ---------------------------------------------------------------------------


def test_headline_counts_failures_and_says_what_a_check_is():
    # Three failures in web's missing-timeout check, one in shop's: 4 failures, 2 checks.
    findings = [timeout_finding(server=s) for s in ("a", "b", "c")]
    findings.append(timeout_finding(endpoint_key="shop GET /"))
    text = render_text(judge(report([endpoint(), endpoint("shop")], findings)))
    assert text.splitlines()[0] == ("critpath gate FAILED: 4 failures in 2 of 10 checks "
                                    "(2 endpoints × 5 rules); 10 traces")
    # …shown on two lines: web's three fold into one (its worst), with their count.
    fails = [line for line in text.splitlines() if line.lstrip().startswith("FAIL ")]
    assert [("×3" in line) for line in fails] == [False, True]  # equal: by endpoint name


def test_headline_when_passing_and_against_a_baseline():
    assert render_text(judge(report([endpoint()]))) == (
        "critpath gate passed: all 5 checks held (1 endpoint × 5 rules); 10 traces\n")
    result = judge(report([endpoint()], [timeout_finding(severity="warning")]),
                   AnalysisConfig(new_findings="off"), report([endpoint()]))
    assert render_text(result).splitlines()[0] == (
        "critpath gate passed: all 6 checks held (1 endpoint × 5 rules + baseline); "
        "2 other findings; 10 traces")  # the warning, and that it is new


# -- width ----------------------------------------------------------------------------------


def test_lines_fit_the_width_and_long_subjects_keep_both_names():
    long_a = "recommendation-aggregation-service"
    long_b = "customer-preference-profile-store"
    result = judge(report([endpoint()], [timeout_finding(long_a, long_b),
                                         timeout_finding("web", "api", max_ms=5.0)]))
    for width in (120, 100, 80):
        text = render_text(result, width=width)
        # The headline stays one line (83 columns here); the table fits.
        assert max(map(len, body(text))) <= width, (width, text)
        [cut] = [line for line in body(text) if "→" in line and "recommenda" in line]
        assert "…" in cut and "→ customer" in cut  # the server's name starts after the arrow
    # Wide enough: nothing is cut.
    text = render_text(result, width=200)
    assert f"{long_a} → {long_b}" in text and "…" not in text


def test_a_long_endpoint_heading_keeps_service_method_and_the_end_of_its_route():
    name = "GET /v2/customers/{customer_id}/accounts/{account_id}/transactions/{tx}/receipt"
    key = f"gateway {name}"
    result = judge(report([endpoint("gateway", name)], [timeout_finding(endpoint_key=key)]))
    assert f"  {key}" in render_text(result, width=120).splitlines()
    heading = render_text(result, width=60).splitlines()[2]
    assert heading == "  gateway GET …/{account_id}/transactions/{tx}/receipt"
    assert len(heading) <= 60


def test_each_line_is_short_where_the_message_was_long():
    text = render_text(judge(report([endpoint()], [timeout_finding()])))
    assert text.splitlines() == [
        "critpath gate FAILED: 1 failure in 1 of 5 checks (1 endpoint × 5 rules); 10 traces",
        "    STATUS  RULE             SUBJECT    HOW BAD     WHAT TO DO",
        "  web GET /",
        "    FAIL    missing-timeout  web → api  max 100 ms  set a client timeout",
        "  -v prints each with its full message and evidence",
    ]


# -- grouping -------------------------------------------------------------------------------


def test_three_or_more_failures_of_one_rule_on_one_endpoint_fold_into_the_worst():
    findings = [timeout_finding(server=s, max_ms=ms)
                for s, ms in (("slow", 300.0), ("mid", 40.0), ("fast", 2.0), ("tiny", 1.0))]
    # Two on another endpoint stay a line each.
    findings += [timeout_finding(server=s, endpoint_key="shop GET /") for s in ("x", "y")]
    text = render_text(judge(report([endpoint(), endpoint("shop")], findings)))
    assert body(text) == [
        "  web GET /",
        "    FAIL    missing-timeout ×4  web → slow  max 300 ms  set a client timeout",
        "  shop GET /",
        "    FAIL    missing-timeout     web → x     max 100 ms  set a client timeout",
        "    FAIL    missing-timeout     web → y     max 100 ms  set a client timeout",
        "  ×4: 4 of one rule on one endpoint, the worst shown; -v prints each with its full "
        "message and evidence",
    ]
    # The headline still counts every failure.
    assert text.startswith("critpath gate FAILED: 6 failures in 2 of 10 checks")


def test_failures_and_warnings_of_one_rule_fold_apart():
    findings = [timeout_finding(server=f"f{i}") for i in range(3)]
    findings += [timeout_finding(server=f"w{i}", severity="warning") for i in range(3)]
    lines = body(render_text(judge(report([endpoint()], findings))))
    assert [line.split()[:2] for line in lines[1:3]] == [["FAIL", "missing-timeout"],
                                                         ["warning", "missing-timeout"]]
    assert all("×3" in line for line in lines[1:3])


# -- order ----------------------------------------------------------------------------------


def test_worst_first_failures_then_warnings_endpoints_by_their_worst():
    findings = [
        timeout_finding(server="warned", max_ms=900.0, severity="warning", endpoint_key="a GET /"),
        timeout_finding(server="small", max_ms=5.0, endpoint_key="b GET /"),
        timeout_finding(server="medium", max_ms=50.0, endpoint_key="c GET /"),
        timeout_finding(server="big", max_ms=500.0, endpoint_key="c GET /"),
    ]
    config = AnalysisConfig(depth_budgets={"b GET /": 1})
    text = render_text(judge(report([endpoint(s) for s in "abc"], findings), config))
    # A broken budget before findings; then c, holding the worst finding, the slowest call
    # first; a's warning, though its call was the slowest of all, does not fail: last.
    assert [" ".join(line.split()[:3]) for line in body(text)[:-1]] == [
        "b GET /", "FAIL critical-path-depth -", "FAIL missing-timeout web",
        "c GET /", "FAIL missing-timeout web", "FAIL missing-timeout web",
        "a GET /", "warning missing-timeout web",
    ]
    assert [line.split()[4] for line in body(text)[:-1] if "→" in line] == [
        "small", "big", "medium", "warned"]


def test_depth_budget_and_baseline_regressions_say_their_number():
    base = report([endpoint()])
    now = report([endpoint(depth=3, services=("web", "api", "db", "cache"))],
                 [timeout_finding(severity="warning")])
    result = judge(now, AnalysisConfig(depth_budgets={WEB: 2}, new_findings="warning"), base)
    rows = [" ".join(line.split()) for line in body(render_text(result))]
    assert rows[1:5] == [
        "FAIL critical-path-depth - depth 3 > budget 2 cut hops, call in parallel",
        "FAIL baseline - depth 2 → 3 cut the new hop",
        "FAIL baseline - +cache, +db take it off the path",
        "FAIL new missing-timeout web → api max 100 ms set a client timeout",
    ]


# -- verbose --------------------------------------------------------------------------------


def test_verbose_lists_each_with_its_full_message_and_evidence():
    findings = [timeout_finding(server=f"s{i}", max_ms=100.0 - i) for i in range(4)]
    result = judge(report([endpoint()], findings))
    short, verbose = render_text(result), render(result, "text", verbose=True)
    assert "×4" in short and "×" not in verbose.split("\n", 1)[1]
    assert sum(line.lstrip().startswith("FAIL") for line in verbose.splitlines()) == 4
    flat = " ".join(line.strip() for line in verbose.splitlines())
    for finding in findings:
        assert finding["message"] in flat  # whole, once per finding, wrapped
    assert flat.count("evidence: operation GET /x, calls 10") == 4
    assert "-v prints" not in verbose
    assert max(map(len, verbose.splitlines())) <= 120
