"""Renderers: exact text for drawn traces and small reports."""

from __future__ import annotations

from analyzer.aggregate import Aggregate
from analyzer.render import (
    format_ms,
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


def test_report_text_of_the_drawn_traces():
    assert render_report_text(drawn_report()) == """\
critpath: 2 traces, 7 spans, 3 services (2026-12-03T17:00:00Z)

FINDINGS: none

ENDPOINTS (1, slowest p99 first)
  ENDPOINT   TRACES  ERRORS  P50 MS  P99 MS  DEPTH  CRITICAL PATH
  web GET /       2       0    50.0     100    1/2  web 63%, auth 20%, api 17%

CALLS (4 edges, most failures then slowest p99 first)
  CALL              REQUESTS  FAILED  P50 MS  P99 MS  TIMEOUT MS
  user → web               2       0    50.0     100           -
  web → auth               1       0    40.0    40.0        none
  web → api                1       0    30.0    30.0        none
  api → mysql (db)         1       0    20.0    20.0        none
"""


def with_findings(report: dict) -> dict:
    report["findings"] = [
        {"rule": "deferrable-work", "severity": "warning", "client": "web", "server": "audit",
         "endpoint": "web GET /", "service": "web", "message": "queue the audit write",
         "evidence": {}, "impact": 5.0},
        {"rule": "missing-timeout", "severity": "critical", "client": "web", "server": "api",
         "endpoint": "web GET /", "service": "web", "message": "set a timeout | 2 s",
         "evidence": {}, "impact": 1.0},
        {"rule": "critical-path-depth", "severity": "warning", "client": None, "server": None,
         "endpoint": "web GET /", "service": None, "message": "depth 5 > budget 4",
         "evidence": {}, "impact": 9.0},
    ]
    return report


def test_report_text_lists_findings_worst_first():
    text = render_report_text(with_findings(drawn_report()))
    assert text.split("\n\n")[1] == """\
FINDINGS (3, worst first)
  SEVERITY  RULE                 WHERE
  CRITICAL  missing-timeout      web → api
            set a timeout | 2 s
  WARNING   critical-path-depth  web GET /
            depth 5 > budget 4
  WARNING   deferrable-work      web → audit
            queue the audit write"""


def test_long_finding_messages_wrap_under_their_row():
    report = with_findings(drawn_report())
    report["findings"] = report["findings"][:1]
    report["findings"][0]["message"] = "word " * 30
    section = render_report_text(report, message_width=50).split("\n\n")[1].splitlines()
    # 12 columns of indent leave 38 for text: 7 words a line, 30 words in 5 lines
    assert section[3:] == ["            " + " ".join(["word"] * 7)] * 4 + [
        "            word word"]


def test_report_text_cuts_long_lists():
    report = drawn_report()
    report["endpoints"] = report["endpoints"] * 12
    text = render_report_text(report, max_endpoints=10)
    assert "  … 2 more endpoints (--format json lists all)" in text
    assert text.count("web GET /       2") == 10


def test_report_text_of_an_empty_report():
    assert render_report_text(build_report(Aggregate(), generated_at=STAMP)) == """\
critpath: 0 traces, 0 spans, 0 services (2026-12-03T17:00:00Z)

FINDINGS: none

ENDPOINTS: none (no traces)
"""


def test_report_markdown():
    markdown = render_report_markdown(with_findings(drawn_report()))
    assert markdown.startswith("## critpath report\n\n2 traces, 7 spans, generated ")
    assert "| **critical** | `missing-timeout` | web → api | set a timeout \\| 2 s |" in markdown
    assert "| `web GET /` | 2 | 0 | 50.0 | 100 | 1/2 | web 63%, auth 20%, api 17% |" in markdown
    assert "| api → mysql (db) | 1 | 0 | 20.0 | 20.0 | none |" in markdown
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
