"""``analyzer.gate``: the pure judgement and its renderings, on hand-written reports."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from analyzer.config import AnalysisConfig
from analyzer.gate import ReportError, check_report, judge, render

WEB = "web GET /"


def endpoint(service: str = "web", name: str = "GET /", depth: int = 2,
             services: tuple[str, ...] = ("web", "api")) -> dict:
    return {"service": service, "name": name, "traces": 10, "errors": 0, "p50_ms": 1.0,
            "p99_ms": 2.0, "critical_path": {
                "depth_p50": depth, "depth_max": depth,
                "services": [{"name": s, "share": 1 / len(services), "p50_ms": 1.0, "p99_ms": 1.0}
                             for s in services]}}


def finding(rule: str = "missing-timeout", severity: str = "critical", *,
            endpoint_key: str | None = WEB, message: str = "no timeout; set one",
            operation: str = "GET /x") -> dict:
    return {"rule": rule, "severity": severity, "client": "web", "server": "api",
            "endpoint": endpoint_key, "service": "web", "message": message,
            "evidence": {"operation": operation}}


def report(endpoints=(), findings=(), traces: int = 10) -> dict:
    return {"schema": "critpath.report/v1", "generated_at": "2026-01-01T00:00:00Z",
            "traces": traces, "spans": 40, "services": [], "edges": [],
            "endpoints": list(endpoints), "findings": list(findings)}


def failures(result) -> list[tuple[str, str, str]]:
    return [(c.endpoint, c.name, v.message) for c in result.checks for v in c.failures]


def test_one_check_per_endpoint_and_rule_plus_baseline():
    result = judge(report([endpoint()]), AnalysisConfig(), report([endpoint()]))
    assert [(c.endpoint, c.name, c.passed) for c in result.checks] == [
        (WEB, "missing-timeout", True), (WEB, "timeout-inversion", True),
        (WEB, "deferrable-work", True), (WEB, "soft-dependency", True),
        (WEB, "critical-path-depth", True), (WEB, "baseline", True),
    ]
    assert result.passed


@pytest.mark.parametrize(
    ("fail_on", "severity", "fails"),
    [
        pytest.param(("critical",), "critical", True, id="severity-listed"),
        pytest.param(("critical",), "warning", False, id="severity-not-listed"),
        pytest.param(("missing-timeout",), "info", True, id="rule-listed"),
        pytest.param((), "critical", False, id="nothing-listed"),
    ],
)
def test_fail_on(fail_on, severity, fails):
    result = judge(report([endpoint()], [finding(severity=severity)]), AnalysisConfig(fail_on=fail_on))
    assert result.passed is not fails
    check = next(c for c in result.checks if c.name == "missing-timeout")
    assert (len(check.failures), len(check.notes)) == ((1, 0) if fails else (0, 1))


def test_a_finding_without_an_endpoint_gets_its_own_checks():
    result = judge(report([], [finding(endpoint_key=None)]))
    assert failures(result) == [("(no endpoint)", "missing-timeout", "web → api: no timeout; set one")]


def test_baseline_regressions_and_notes():
    base = report([endpoint(), endpoint(name="GET /old")], [finding()])
    now = report(
        [endpoint(depth=3, services=("web", "api", "db", "cache")), endpoint(name="GET /new")],
        [finding(), finding("soft-dependency", "info", operation="GET /y")],
    )
    result = judge(now, AnalysisConfig(), base)
    assert failures(result) == [
        (WEB, "missing-timeout", "web → api: no timeout; set one"),
        (WEB, "baseline", "critical-path depth grew from 2 to 3 since the baseline"),
        (WEB, "baseline", "critical path gained services cache, db since the baseline"),
        (WEB, "baseline", "new soft-dependency finding: web → api: no timeout; set one"),
    ]
    new_endpoint = next(c for c in result.checks if c.endpoint == "web GET /new" and c.name == "baseline")
    assert [v.message for v in new_endpoint.notes] == ["new endpoint: not in the baseline"]
    assert result.notes == ("endpoints in the baseline but not seen now: web GET /old",)


def test_new_findings_off():
    base = report([endpoint()])
    now = report([endpoint()], [finding(severity="warning")])
    assert judge(now, AnalysisConfig(new_findings="off"), base).passed
    assert not judge(now, AnalysisConfig(new_findings="warning"), base).passed
    assert judge(now, AnalysisConfig(new_findings="critical"), base).passed


def test_github_escapes_newlines_percent_and_property_separators():
    result = judge(report([endpoint(name="GET /a,b:c")],
                          [finding(endpoint_key="web GET /a,b:c", message="100% down\nnow")]))
    [error, headline] = render(result, "github").splitlines()
    assert error == ("::error title=critpath missing-timeout%3A web GET /a%2Cb%3Ac::"
                     "web → api: 100%25 down%0Anow")
    assert headline == (
        "critpath gate FAILED: 1 failure in 1 of 5 checks (1 endpoint × 5 rules); 10 traces")


def test_markdown_escapes_pipes_in_cells():
    result = judge(report([endpoint(name="GET /a|b")], [finding(endpoint_key="web GET /a|b")]))
    assert "| web GET /a\\|b | ❌ failed | missing-timeout |" in render(result, "markdown")


def test_junit_is_well_formed_even_with_markup_in_messages():
    result = judge(report([endpoint()], [finding(message='<b>"x" & y</b>')]))
    root = ET.fromstring(render(result, "junit").encode())
    [failure] = root.iter("failure")
    assert failure.get("message") == 'web → api: <b>"x" & y</b>'


def test_unknown_format_is_an_error():
    with pytest.raises(ValueError, match="unknown format 'html'"):
        render(judge(report()), "html")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param([], "r: not a critpath report (expected a JSON object)", id="not-an-object"),
        pytest.param({"schema": "critpath.paths/v1"},
                     "r: schema is 'critpath.paths/v1', expected 'critpath.report/v1'", id="other-schema"),
        pytest.param({**report(), "traces": "10"}, "r: 'traces' must be an integer", id="traces-string"),
        pytest.param({**report(), "endpoints": {}}, "r: 'endpoints' must be a list of objects",
                     id="endpoints-not-a-list"),
        pytest.param(report([{"service": "web"}]), "r: every endpoint needs a 'service' and a 'name'",
                     id="endpoint-without-name"),
        pytest.param(report([], [{"rule": "x", "severity": "fatal"}]),
                     "r: every finding needs a 'rule' and a 'severity' in critical, warning, info",
                     id="unknown-severity"),
    ],
)
def test_check_report_says_what_is_wrong(document, message):
    with pytest.raises(ReportError) as caught:
        check_report(document, "r")
    assert str(caught.value) == message
