"""Renderers: exact text for drawn traces and small reports.

The text report is read at 3 a.m.: one line per finding (alike findings folded into one
line showing the worst), worst first, columns that fit the width, and ``verbose`` for the
evidence behind each finding.
"""

from __future__ import annotations

import pytest

from analyzer.aggregate import Aggregate
from analyzer.config import RULE_IDS
from analyzer.render import (
    advice,
    fit_items,
    format_ms,
    group_findings,
    key_number,
    render_path_text,
    render_paths_text,
    render_report_markdown,
    render_report_text,
    table,
)
from analyzer.report import build_report, trace_document
from tests.report.spans import one_trace, span
from tests.report.test_profile import bare_trace, busy_trace

STAMP = "2026-12-03T17:00:00Z"


def drawn_report() -> dict:
    aggregate = Aggregate()
    aggregate.add_traces([busy_trace(), bare_trace()])
    return build_report(aggregate, generated_at=STAMP)


def test_format_ms_keeps_three_significant_digits_or_so():
    assert [format_ms(v) for v in (None, 0.0421, 3.214, 45.66, 1234.4)] == [
        "-", "0.042", "3.21", "45.7", "1234"]


def test_table_aligns_and_leaves_no_trailing_spaces():
    assert table(("NAME", "N", "NOTE"), [("a", "1", ""), ("long name", "100", "x")], "<><") == [
        "NAME         N  NOTE",
        "a            1",
        "long name  100  x",
    ]


def test_table_fits_the_width_by_cutting_the_last_column_then_the_shrinkable_one():
    rows = [("short", "1", "a very long note that cannot fit"), ("a much longer name", "22", "ok")]
    assert table(("NAME", "N", "NOTE"), rows, "<><", width=30) == [
        "NAME                 N  NOTE",
        "short                1  a ver…",
        "a much longer name  22  ok",
    ]
    # the last column wants at least min_last columns: the name column gives them (down to 16)
    assert table(("NAME", "N", "NOTE"), rows, "<><", width=30, shrink=0, min_last=8) == [
        "NAME               N  NOTE",
        "short              1  a very …",
        "a much longer n…  22  ok",
    ]


@pytest.mark.parametrize(("room", "expected"), [
    (None, "web 63%, auth 20%, api 17%"),
    (26, "web 63%, auth 20%, api 17%"),
    (25, "web 63%, auth 20%, … +1"),
    (20, "web 63%, … +2"),
    (12, "web 63% … +2"),
    (10, "web 63% +2"),
    (6, "we… +2"),
], ids=["no-limit", "all-fit", "two-fit", "one-fits", "one-barely", "one-no-ellipsis",
        "first-cut"])
def test_critical_path_chain_keeps_whole_items_and_counts_the_rest(room, expected):
    assert fit_items(["web 63%", "auth 20%", "api 17%"], room) == expected


def test_report_text_of_the_drawn_traces():
    assert render_report_text(drawn_report()) == """\
critpath: 2 traces, 7 spans, 3 services (2026-12-03T17:00:00Z)

FINDINGS: none

ENDPOINTS (1, slowest p99 first; DEPTH: services deep on the critical path, p50/max)
  ENDPOINT   TRACES  ERRORS  P50 MS  P99 MS  DEPTH  CRITICAL PATH
  web GET /       2       0    50.0     100    1/2  web 63%, auth 20%, api 17%

CALLS (4 edges, most failures then slowest p99 first)
  CALL              REQUESTS  FAILED  P50 MS  P99 MS  TIMEOUT MS
  user → web               2       0    50.0     100           -
  web → auth               1       0    40.0    40.0        none
  web → api                1       0    30.0    30.0        none
  api → mysql (db)         1       0    20.0    20.0        none
"""


def finding(rule: str, severity: str, client: str | None, server: str | None, impact: float,
            message: str = "", **evidence) -> dict:
    return {"rule": rule, "severity": severity, "client": client, "server": server,
            "endpoint": "web GET /", "service": client or "web",
            "message": message or f"{client} → {server}: {rule}", "evidence": evidence,
            "impact": impact}


def with_findings(report: dict) -> dict:
    report["findings"] = [
        finding("deferrable-work", "warning", "web", "audit", 5.0, "queue the audit write",
                saved_p50_ms=3.0, saved_p99_ms=5.0),
        finding("missing-timeout", "critical", "web", "api", 1.0, "set a timeout | 2 s",
                calls=7, max_ms=1.0),
        finding("critical-path-depth", "warning", None, None, 9.0, "depth 5 > budget 4",
                budget=4, depth_max=5),
    ]
    return report


def test_report_text_lists_findings_one_line_each_worst_first():
    text = render_report_text(with_findings(drawn_report()))
    assert text.split("\n\n")[1] == """\
FINDINGS (3, worst first)
  SEVERITY  RULE                 WHERE        HOW BAD            WHAT TO DO
  CRITICAL  missing-timeout      web → api    max 1.00 ms        set a client timeout
  WARNING   critical-path-depth  web GET /    depth 5 > 4        cut hops, call in parallel
  WARNING   deferrable-work      web → audit  saves 5.00 ms p99  queue it, answer at once
  -v lists each finding with its evidence"""


def test_verbose_text_puts_each_message_and_its_evidence_under_its_row():
    text = render_report_text(with_findings(drawn_report()), verbose=True)
    assert text.split("\n\n")[1] == """\
FINDINGS (3, worst first)
  SEVERITY  RULE                 WHERE        HOW BAD            WHAT TO DO
  CRITICAL  missing-timeout      web → api    max 1.00 ms        set a client timeout
            set a timeout | 2 s
            evidence: calls 7, max_ms 1.0
  WARNING   critical-path-depth  web GET /    depth 5 > 4        cut hops, call in parallel
            depth 5 > budget 4
            evidence: budget 4, depth_max 5
  WARNING   deferrable-work      web → audit  saves 5.00 ms p99  queue it, answer at once
            queue the audit write
            evidence: saved_p50_ms 3.0, saved_p99_ms 5.0"""


def many_missing_timeouts(report: dict) -> dict:
    """Five critical missing timeouts (impact 50, 40, … 10), two warnings, one deferrable."""
    report["findings"] = [
        finding("missing-timeout", "critical", "web", f"svc{i}", ms, max_ms=ms)
        for i, ms in enumerate((50.0, 40.0, 30.0, 20.0, 10.0))
    ] + [
        finding("missing-timeout", "warning", "api", "db", 0.3, max_ms=0.3),
        finding("missing-timeout", "warning", "api", "cache", 0.2, max_ms=0.2),
        finding("deferrable-work", "warning", "web", "audit", 7.0, saved_p99_ms=7.0),
    ]
    return report


def test_alike_findings_fold_into_one_line_showing_the_worst():
    text = render_report_text(many_missing_timeouts(drawn_report()))
    assert text.split("\n\n")[1] == """\
FINDINGS (8 on 4 lines, worst first)
  SEVERITY  RULE                WHERE        HOW BAD            WHAT TO DO
  CRITICAL  missing-timeout ×5  web → svc0   max 50.0 ms        set a client timeout
  WARNING   deferrable-work     web → audit  saves 7.00 ms p99  queue it, answer at once
  WARNING   missing-timeout     api → db     max 0.300 ms       set a client timeout
  WARNING   missing-timeout     api → cache  max 0.200 ms       set a client timeout
  ×5: 5 findings of one rule and severity, the worst shown; -v lists each finding with its evidence"""


def test_group_findings_keeps_order_and_folds_from_the_threshold():
    findings = many_missing_timeouts(drawn_report())["findings"]
    findings.sort(key=lambda f: ({"critical": 0, "warning": 1}[f["severity"]], -f["impact"]))
    lines = group_findings(findings)
    assert [(f["rule"], f["server"], n) for f, n in lines] == [
        ("missing-timeout", "svc0", 5), ("deferrable-work", "audit", 1),
        ("missing-timeout", "db", 1), ("missing-timeout", "cache", 1)]
    assert [n for _, n in group_findings(findings, group_from=2)] == [5, 1, 2]
    assert [n for _, n in group_findings(findings, group_from=100)] == [1] * 8


def test_verbose_text_folds_nothing():
    text = render_report_text(many_missing_timeouts(drawn_report()), verbose=True)
    assert "×" not in text
    assert [f"web → svc{i}" in text for i in range(5)] == [True] * 5


def test_findings_past_the_limit_are_counted():
    report = many_missing_timeouts(drawn_report())
    section = render_report_text(report, max_findings=2).split("\n\n")[1].splitlines()
    assert len(section) == 2 + 2 + 1
    assert section[-1] == ("  ×5: 5 findings of one rule and severity, the worst shown; … 2 more "
                           "in 2 lines; -v lists each finding with its evidence")


@pytest.mark.parametrize(("rule", "evidence", "number", "todo"), [
    ("missing-timeout", {"max_ms": 153.6}, "max 154 ms", "set a client timeout"),
    ("timeout-inversion", {"cause": "timeout", "timeout_ms": 2500.0, "caller_budget_ms": 2000.0},
     "2500 ≥ 2000 ms", "set it below the caller's"),
    ("timeout-inversion", {"cause": "retries", "max_attempts": 3, "retry_total_max_ms": 2400.0,
                           "caller_budget_ms": 2000.0}, "3 tries 2400 > 2000 ms",
     "stop retries at the deadline"),
    ("deferrable-work", {"saved_p50_ms": 12.0, "saved_p99_ms": 40.5}, "saves 40.5 ms p99",
     "queue it, answer at once"),
    ("soft-dependency", {"p99_ms": 8.25}, "p99 8.25 ms", "short timeout + fallback"),
    ("critical-path-depth", {"budget": 4, "depth_max": 6}, "depth 6 > 4",
     "cut hops, call in parallel"),
], ids=["missing-timeout", "timeout-inversion", "retries-over-budget", "deferrable-work",
        "soft-dependency", "critical-path-depth"])
def test_each_rule_has_its_key_number_and_short_advice(rule, evidence, number, todo):
    f = finding(rule, "warning", "web", "api", 1.0, **evidence)
    assert (key_number(f), advice(f)) == (number, todo)


def test_every_rule_id_is_covered_and_unknown_rules_fall_back_to_their_message():
    assert {"missing-timeout", "timeout-inversion", "deferrable-work", "soft-dependency",
            "critical-path-depth"} == set(RULE_IDS)
    f = finding("new-rule", "info", "web", "api", 1.0, "web calls api twice: merge the calls.")
    assert (key_number(f), advice(f)) == ("", "merge the calls")


def test_long_names_and_chains_are_cut_to_the_width_keeping_the_depth():
    report = drawn_report()
    [endpoint] = report["endpoints"]
    endpoint["name"] = "/api/v1/" + "very-long-segment/" * 4
    endpoint["critical_path"]["services"] = [
        {"name": f"service-number-{i}", "share": 0.1, "p50_ms": 1.0, "p99_ms": 2.0}
        for i in range(10)]
    endpoint["critical_path"]["depth_max"] = 10
    text = render_report_text(report, width=100)
    assert max(len(line) for line in text.splitlines()) <= 100
    [row] = [line for line in text.splitlines() if line.startswith("  web /api")]
    assert row.startswith("  web /api/v1/very-long-segmen…  ")
    assert row.endswith("  1/10  service-number-0 10%, … +9")


def test_report_text_cuts_long_lists():
    report = drawn_report()
    report["endpoints"] = report["endpoints"] * 12
    text = render_report_text(report, max_endpoints=10)
    assert "  … 2 more endpoints (-v or --format json lists all)" in text
    assert text.count("web GET /       2") == 10
    assert render_report_text(report, verbose=True).count("web GET /       2") == 12


def test_report_text_of_an_empty_report():
    assert render_report_text(build_report(Aggregate(), generated_at=STAMP)) == """\
critpath: 0 traces, 0 spans, 0 services (2026-12-03T17:00:00Z)

FINDINGS: none

ENDPOINTS: none (no traces)
"""


def test_report_markdown_folds_alike_findings_like_the_text():
    report = with_findings(drawn_report())
    report["findings"] += many_missing_timeouts(drawn_report())["findings"]
    markdown = render_report_markdown(report)
    assert markdown.startswith("## critpath report\n\n2 traces, 7 spans, generated ")
    assert ("| **critical** | `missing-timeout` ×6 | web → svc0 (and 5 more) | max 50.0 ms | "
            "set a client timeout |") in markdown
    assert "| `web GET /` | 2 | 0 | 50.0 | 100 | 1/2 | web 63%, auth 20%, api 17% |" in markdown
    assert "| api → mysql (db) | 1 | 0 | 20.0 | 20.0 | none |" in markdown
    assert "×N: N findings of one rule and severity, the worst shown." in markdown
    assert markdown.index("**critical**") < markdown.index("`deferrable-work`")
    assert "set a timeout" not in markdown  # messages are for -v


def test_verbose_markdown_gives_every_message_and_its_evidence():
    markdown = render_report_markdown(with_findings(drawn_report()), verbose=True)
    assert ("| **critical** | `missing-timeout` | web → api | set a timeout \\| 2 s | "
            "calls 7, max_ms 1.0 |") in markdown
    assert markdown.index("**critical**") < markdown.index("`critical-path-depth`")


def drawn_trace():
    r"""
        web  GET /        |0===========================================100|
        web  warm cache   |0========30|
        web  GET api            |10=============60|
        api  handle (error)          |20======50|
    """
    return one_trace(
        span("r", None, "web", "GET /", "server", 0, 100),
        span("c", "r", "web", "GET api", "client", 10, 60),
        span("s", "c", "api", "handle", "server", 20, 50, error=True),
        span("w", "r", "web", "warm cache", "internal", 0, 30),
    )


def test_path_waterfall_marks_critical_cells():
    # 25 cells of 4 ms. Critical: GET / 0–10 and 60–100, GET api 10–20 and 50–60,
    # handle 20–50; warm cache is never critical (GET api ends later, at 60).
    assert render_path_text(trace_document(drawn_trace()), width=60) == """\
trace t1  web GET /  100 ms  critical-path depth 2
█ on the critical path   ░ running, not critical   ! error
                        0                  100 ms
GET /         web      │███░░░░░░░░░░░░██████████│   100 ms
  warm cache  web      │░░░░░░░░                 │  30.0 ms
  GET api     web      │  ███░░░░░░░███          │  50.0 ms
    handle !  api      │     ████████            │  30.0 ms
"""


def test_path_waterfall_keeps_tiny_spans_visible():
    trace = one_trace(span("r", None, "web", "GET /", "server", 0, 1000),
                      span("z", "r", "web", "cache hit", "internal", 500, 500))
    lines = render_path_text(trace_document(trace), width=40).splitlines()
    bar = lines[-1].split("│")[1]
    assert bar.strip() == "░"


def test_paths_text_separates_traces_with_a_blank_line():
    text = render_paths_text([trace_document(bare_trace()), trace_document(bare_trace("t3"))],
                             width=50)
    assert text.count("\n\ntrace ") == 1
    assert text.startswith("trace t2  web GET /  50.0 ms  critical-path depth 1\n")
