"""``critpath gate``: every exit code, every output format, baselines, and bad input.

Trace files are recorded by the real OpenTelemetry SDK (tests/rules/scenarios.py) and
written as OTLP protobuf, the way a collector's export would hold them.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from critpath.cli import main
from tests.rules.scenarios import at, call, account_read, http as http_attrs, transfer
from tests.support.sdk import TraceBuilder

RULES = ["missing-timeout", "timeout-inversion", "deferrable-work", "soft-dependency",
         "critical-path-depth"]
TRANSFERS = "gateway POST /transfers"

FAILED_ONE = "critpath gate FAILED: 1 failure in 1 of 5 checks (1 endpoint × 5 rules); "
"""The headline of a run with one failure in one of five checks."""


# -- inputs ------------------------------------------------------------------------------------


def write(builder: TraceBuilder, path: Path) -> Path:
    path.write_bytes(builder.otlp_protobuf())
    return path


def healthy(tmp_path: Path, name: str = "healthy.pb") -> Path:
    """Five transfers: every call declares a timeout, nothing fails. Depth 2."""
    b = TraceBuilder()
    for i in range(5):
        transfer(b, i)
    return write(b, tmp_path / name)


def deferrable(tmp_path: Path) -> Path:
    """Five transfers whose audit write fails twice, tolerated: a deferrable-work warning."""
    b = TraceBuilder()
    for i in range(5):
        transfer(b, i, audit_fails=i in (1, 3))
    return write(b, tmp_path / "deferrable.pb")


def no_timeouts(tmp_path: Path) -> Path:
    """Five account reads without any timeout: a critical missing-timeout."""
    b = TraceBuilder()
    for i in range(5):
        account_read(b, i)
    return write(b, tmp_path / "no-timeouts.pb")


def deeper(tmp_path: Path) -> Path:
    """Five transfers whose audit now waits on a new archive service: depth 3."""
    b = TraceBuilder()
    for i in range(5):
        with b.span("gateway", "POST /transfers", at(i, 0), at(i, 100), kind="server",
                    attributes={"http.request.method": "POST"}):
            call(b, i, "gateway", "ledger", "POST /entries", 5, 30, http_attrs("POST", 2000))
            with b.span("gateway", "POST", at(i, 40), at(i, 90), kind="client",
                        attributes=http_attrs("POST", 2000)):
                with b.span("audit", "POST /audit", at(i, 41), at(i, 89), kind="server"):
                    call(b, i, "audit", "archive", "POST /records", 45, 85,
                         http_attrs("POST", 1000))
    return write(b, tmp_path / "deeper.pb")


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "critpath.toml"
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def no_stray_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The gate looks for ./critpath.toml; run where there is none unless a test writes one.
    monkeypatch.chdir(tmp_path)


def gate(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["gate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> list[str]:
    """The text's lines with runs of spaces (the column padding) as one space."""
    return [" ".join(line.split()) for line in out.splitlines()]


# -- exit codes -----------------------------------------------------------------------------


def test_exit_0_when_every_check_holds(tmp_path, capsys):
    code, out, err = gate(capsys, healthy(tmp_path))
    assert code == 0
    assert out == "critpath gate passed: all 5 checks held (1 endpoint × 5 rules); 5 traces\n"
    assert err == ""


def test_without_config_critical_findings_fail_the_gate(tmp_path, capsys):
    code, out, _ = gate(capsys, no_timeouts(tmp_path))
    assert code == 1
    assert out.splitlines() == [
        "critpath gate FAILED: 1 failure in 1 of 5 checks (1 endpoint × 5 rules); 5 traces",
        "    STATUS  RULE             SUBJECT             HOW BAD      WHAT TO DO",
        "  gateway GET /accounts/{id}",
        "    FAIL    missing-timeout  gateway → accounts  max 20.0 ms  set a client timeout",
        "  -v prints each with its full message and evidence",
    ]


JAEGER = Path(__file__).resolve().parents[1] / "data" / "jaeger"


def test_real_jaeger_traces_fail_by_default_on_critical_missing_timeouts(capsys):
    # DeathStarBench declares no timeouts: critical missing-timeouts on both endpoints.
    code, out, _ = gate(capsys, JAEGER, "--format", "junit")
    assert code == 1
    root = ET.fromstring(out.encode())
    assert (root.get("tests"), root.get("failures")) == ("10", "2")
    failing = sorted((c.get("classname"), c.get("name")) for c in root.iter("testcase")
                     if c.find("failure") is not None)
    assert failing == [("nginx-web-server /wrk2-api/home-timeline/read", "missing-timeout"),
                       ("nginx-web-server /wrk2-api/post/compose", "missing-timeout")]


def _failure_count(headline: str) -> int:
    return int(re.search(r"FAILED: (\d+) failures? in", headline).group(1))


def test_real_traces_text_is_a_short_line_per_failure_within_120_columns(capsys):
    """Each failure used to be a line of ~500 columns repeating endpoint, rule and subject in
    its message; now a table line says status, rule, subject, how bad and what to do."""
    code, out, _ = gate(capsys, JAEGER)
    assert code == 1
    lines = out.splitlines()
    assert max(map(len, lines)) <= 120, out
    assert lines[1].split() == ["STATUS", "RULE", "SUBJECT", "HOW", "BAD", "WHAT", "TO", "DO"]
    assert "  nginx-web-server /wrk2-api/home-timeline/read" in lines  # endpoint headings
    assert "  nginx-web-server /wrk2-api/post/compose" in lines
    fails = [row for row in rows(out) if row.startswith("FAIL ")]
    # Folded lines (×N) and single ones add up to the failures the headline counts.
    counts = [int(m.group(1)) if (m := re.search(r" ×(\d+) ", row)) else 1 for row in fails]
    assert sum(counts) == _failure_count(lines[0])
    assert len(fails) < sum(counts)  # something was folded
    assert all(row.endswith("set a client timeout") and " ms " in row for row in fails)
    assert lines[-1].startswith("  ×")
    assert "-v prints each with its full message" in lines[-1]
    # The worst first: the slowest call without a timeout (154 ms) heads the table.
    assert fails[0] == ("FAIL missing-timeout nginx-web-server → home-timeline-service "
                        "max 154 ms set a client timeout")


@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_verbose_prints_each_failure_with_its_full_message(capsys, flag):
    code, out, _ = gate(capsys, JAEGER, flag)
    assert code == 1
    assert max(map(len, out.splitlines())) <= 120
    assert "×" not in out.split("\n", 1)[1]  # nothing folded
    fails = [row for row in rows(out) if row.startswith("FAIL ")]
    assert len(fails) == _failure_count(out.splitlines()[0])
    flat = " ".join(rows(out))
    warnings = [row for row in rows(out) if row.startswith("warning ")]
    assert flat.count("evidence: operation ") == len(fails) + len(warnings)
    # Each finding's message, whole (wrapped over lines), e.g. the worst:
    assert ("nginx-web-server calls home-timeline-service (read_home_timeline_server) with no "
            "timeout (none declared, none seen firing) on the critical path of nginx-web-server "
            "/wrk2-api/home-timeline/read in 6 of 6 calls: if home-timeline-service stalls, every "
            "request waits with it (longest call seen 154 ms); set a client timeout below the "
            "caller's own budget and send it as a deadline header.") in flat
    assert "-v prints" not in out


def test_warnings_are_shown_but_do_not_fail_by_default(tmp_path, capsys):
    code, out, _ = gate(capsys, deferrable(tmp_path))
    assert code == 0
    assert rows(out)[2:4] == [
        TRANSFERS,
        "warning deferrable-work gateway → audit saves 50.0 ms p99 queue it, answer at once"]


def test_fail_on_lists_rule_ids(tmp_path, capsys):
    cfg = config(tmp_path, '[gate]\nfail_on = ["deferrable-work"]\n')
    code, out, _ = gate(capsys, deferrable(tmp_path), "--config", cfg)
    assert code == 1
    assert "FAIL deferrable-work gateway → audit saves 50.0 ms p99 queue it, answer at once" \
        in rows(out)


def test_fail_on_lists_severities(tmp_path, capsys):
    config(tmp_path, '[gate]\nfail_on = ["warning"]\n')  # found in the working directory
    code, _, _ = gate(capsys, deferrable(tmp_path))
    assert code == 1


def test_depth_over_budget_fails(tmp_path, capsys):
    cfg = config(tmp_path, "[rules.critical-path-depth.budgets]\n"
                           f'"{TRANSFERS}" = 1\n')
    code, out, _ = gate(capsys, healthy(tmp_path), "--config", cfg)
    assert code == 1
    assert rows(out)[2:4] == [
        TRANSFERS, "FAIL critical-path-depth - depth 2 > budget 1 cut hops, call in parallel"]


def test_depth_within_budget_passes(tmp_path, capsys):
    cfg = config(tmp_path, "[rules.critical-path-depth]\nbudget = 2\n")
    code, _, _ = gate(capsys, healthy(tmp_path), "--config", cfg)
    assert code == 0


# -- [tool.critpath] in pyproject.toml ------------------------------------------------------------


def pyproject(tmp_path: Path, critpath_tables: str) -> Path:
    """A project's pyproject.toml with other tools' tables around ``[tool.critpath…]``."""
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "shop"\nversion = "1.0"\n\n'
                    '[tool.ruff]\nline-length = 100\n\n' + critpath_tables +
                    '\n[tool.pytest.ini_options]\naddopts = "-q"\n')
    return path


def test_pyproject_tool_critpath_gate_is_the_config(tmp_path, capsys):
    traces = deferrable(tmp_path)  # a deferrable-work warning: passes by default
    assert gate(capsys, traces)[0] == 0
    pyproject(tmp_path, '[tool.critpath.gate]\nfail_on = ["warning"]\n')
    code, out, _ = gate(capsys, traces)  # found in the working directory
    assert code == 1
    assert "FAIL deferrable-work gateway → audit saves 50.0 ms p99 queue it, answer at once" \
        in rows(out)


def test_pyproject_tool_critpath_rules_set_depth_budgets(tmp_path, capsys):
    cfg = pyproject(tmp_path, "[tool.critpath.rules.critical-path-depth.budgets]\n"
                              f'"{TRANSFERS}" = 1\n')
    code, out, _ = gate(capsys, healthy(tmp_path), "--config", cfg)  # named explicitly too
    assert code == 1
    assert "FAIL critical-path-depth - depth 2 > budget 1 cut hops, call in parallel" in rows(out)


def test_a_pyproject_without_tool_critpath_leaves_the_defaults(tmp_path, capsys):
    pyproject(tmp_path, "")
    assert gate(capsys, deferrable(tmp_path))[0] == 0
    assert gate(capsys, no_timeouts(tmp_path))[0] == 1  # defaults: critical fails


def test_critpath_toml_wins_over_pyproject_whole(tmp_path, capsys):
    # Both present: critpath.toml is the config and pyproject.toml is not read at all — not
    # even the tables critpath.toml leaves out (no merging).
    pyproject(tmp_path, '[tool.critpath.gate]\nfail_on = ["warning"]\n'
                        "[tool.critpath.rules.critical-path-depth]\nbudget = 1\n")
    config(tmp_path, '[gate]\nfail_on = ["critical"]\n')
    assert gate(capsys, deferrable(tmp_path))[0] == 0
    # …and the other way round: a critpath.toml with no [gate] still hides pyproject's.
    config(tmp_path, "[rules]\nmin_observations = 5\n")
    assert gate(capsys, deferrable(tmp_path))[0] == 0
    # Without critpath.toml, pyproject's tables apply.
    (tmp_path / "critpath.toml").unlink()
    code, out, _ = gate(capsys, deferrable(tmp_path))
    assert code == 1
    assert "FAIL critical-path-depth - depth 2 > budget 1 cut hops, call in parallel" in rows(out)


def test_a_bad_key_in_tool_critpath_names_pyproject(tmp_path, capsys):
    pyproject(tmp_path, "[tool.critpath.gate]\nfail_when = 1\n")
    code, out, err = gate(capsys, healthy(tmp_path))
    assert code == 2
    assert out == ""
    assert err.startswith(f"critpath gate: {tmp_path / 'pyproject.toml'}: [gate]: unknown key "
                          "'fail_when'"), err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        pytest.param(lambda d: [], "critpath gate: nothing to judge: give trace files (or a "
                     "directory, or - for stdin) or --from URL of a running collector",
                     id="nothing-given"),
        pytest.param(lambda d: [d / "missing.pb"], "critpath gate: {d}/missing.pb: no such file "
                     "or directory", id="missing-file"),
        pytest.param(lambda d: [_file(d / "empty.json", b"")], "critpath gate: {d}/empty.json:",
                     id="empty-file"),
        pytest.param(lambda d: [_file(d / "junk.json", b"{not json")], "critpath gate: "
                     "{d}/junk.json:", id="malformed-file"),
        pytest.param(lambda d: [_file(d / "none.json", b'{"resourceSpans": []}')],
                     "critpath gate: no traces found in {d}/none.json: a gate that saw nothing "
                     "must not pass", id="no-traces"),
        pytest.param(lambda d: [healthy(d), "--from", "http://127.0.0.1:1"],
                     "critpath gate: give trace files or --from URL, not both", id="both-inputs"),
        pytest.param(lambda d: [healthy(d), "--update-baseline"], "critpath gate: "
                     "--update-baseline needs --baseline FILE (where to write it)",
                     id="update-without-baseline"),
        pytest.param(lambda d: [healthy(d), "--baseline", d / "base.json"], "critpath gate: "
                     "{d}/base.json: no such baseline (create it with --update-baseline, or pass "
                     "--baseline-missing-ok to judge without one until it exists)",
                     id="missing-baseline"),
        pytest.param(lambda d: [healthy(d), "--baseline", _dir(d / "base.json"),
                                "--baseline-missing-ok"],
                     "critpath gate: {d}/base.json: cannot read the baseline (",
                     id="baseline-is-a-directory"),
        pytest.param(lambda d: [healthy(d), "--settle", "5"], "critpath gate: --settle needs "
                     "--from URL (trace files are complete already)", id="settle-without-from"),
        pytest.param(lambda d: [healthy(d), "--baseline", _file(d / "base.json", b"[1, 2")],
                     "critpath gate: {d}/base.json: the baseline is not JSON", id="baseline-not-json"),
        pytest.param(lambda d: [healthy(d), "--baseline", _file(d / "base.json", b'{"schema": "x"}')],
                     "critpath gate: {d}/base.json: schema is 'x', expected 'critpath.report/v1'",
                     id="baseline-not-a-report"),
        pytest.param(lambda d: [healthy(d), "--config", config(d, "[gate]\nfail_when = 1\n")],
                     "critpath gate: {d}/critpath.toml: [gate]: unknown key 'fail_when'; valid keys: "
                     "fail_on, new_findings", id="bad-config-key"),
        pytest.param(lambda d: [healthy(d), "--config", d / "nope.toml"], "critpath gate: "
                     "{d}/nope.toml: no such config file", id="missing-config"),
        pytest.param(lambda d: ["--from", f"http://127.0.0.1:{_closed_port()}"],
                     "critpath gate: cannot reach the collector at http://127.0.0.1:", id="unreachable"),
        pytest.param(lambda d: ["--from", "ftp://example.invalid"], "critpath gate: --from "
                     "ftp://example.invalid: not an http:// or https:// URL", id="not-http"),
    ],
)
def test_exit_2_on_bad_input_with_a_clear_message(tmp_path, capsys, make_args, message):
    code, out, err = gate(capsys, *make_args(tmp_path))
    assert code == 2
    assert out == ""
    assert err.startswith(message.format(d=tmp_path)), err
    assert err.count("\n") == 1  # one line, no traceback


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


# A trace file the gate may not read. chmod 000 stops everyone but root, and the tests may
# run as root (containers, CI images), where it stops nothing; a write-only sysctl
# (mode 0200) refuses reading with EACCES even to root, so the second case holds there.
WRITE_ONLY_SYSCTL = Path("/proc/sys/vm/drop_caches")


def _mode_000(d: Path) -> Path:
    path = healthy(d, "secret.pb")
    path.chmod(0)
    return path


@pytest.mark.parametrize(
    "make_path",
    [
        pytest.param(_mode_000, marks=pytest.mark.skipif(
            hasattr(os, "geteuid") and os.geteuid() == 0,
            reason="running as root, which reads a chmod 000 file anyway; the "
            "write-only-sysctl case checks permission denied as root"), id="chmod-000"),
        pytest.param(lambda d: WRITE_ONLY_SYSCTL, marks=pytest.mark.skipif(
            not WRITE_ONLY_SYSCTL.exists() or os.access(WRITE_ONLY_SYSCTL, os.R_OK),
            reason=f"needs Linux's write-only {WRITE_ONLY_SYSCTL} (mode 0200)"),
            id="write-only-sysctl"),
    ],
)
def test_exit_2_on_a_trace_file_it_may_not_read(tmp_path, capsys, make_path):
    path = make_path(tmp_path)
    with pytest.raises(PermissionError):  # the premise: this process may not read it
        path.read_bytes()
    code, out, err = gate(capsys, healthy(tmp_path), path)
    assert code == 2
    assert out == ""
    assert err == f"critpath gate: {path}: cannot read (Permission denied)\n"


def test_help_documents_the_exit_codes(capsys):
    code, out, _ = gate(capsys, "--help")
    assert code == 0
    assert "exit codes:\n  0  every check held\n  1  a check failed" in out
    assert "  2  bad arguments, unreadable or malformed input" in out
    assert "-v, --verbose" in out


# -- output formats ---------------------------------------------------------------------------


def test_junit_has_one_testcase_per_endpoint_and_rule(tmp_path, capsys):
    b = TraceBuilder()
    for i in range(5):
        transfer(b, i, audit_fails=i in (1, 3))
        account_read(b, 10 + i)
    code, out, _ = gate(capsys, write(b, tmp_path / "mixed.pb"), "--format", "junit")
    assert code == 1
    root = ET.fromstring(out.encode())
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures")) == ("10", "1")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert sorted(suites) == ["gateway GET /accounts/{id}", TRANSFERS]
    for name, suite in suites.items():
        cases = suite.findall("testcase")
        assert [c.get("name") for c in cases] == RULES
        assert {c.get("classname") for c in cases} == {name}
    failing = [(c.get("classname"), c.get("name")) for c in root.iter("testcase")
               if c.find("failure") is not None]
    assert failing == [("gateway GET /accounts/{id}", "missing-timeout")]
    [failure] = root.iter("failure")
    assert failure.get("type") == "finding"
    assert failure.get("message").startswith("gateway → accounts: gateway calls accounts")
    deferrable_case = next(c for c in suites[TRANSFERS] if c.get("name") == "deferrable-work")
    assert deferrable_case.findtext("system-out").startswith("warning: gateway → audit:")


def test_markdown_for_a_pull_request_comment(tmp_path, capsys):
    code, out, _ = gate(capsys, no_timeouts(tmp_path), "--format", "markdown")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == ("### ❌ critpath gate FAILED: 1 failure in 1 of 5 checks "
                        "(1 endpoint × 5 rules); 5 traces")
    assert lines[2:5] == [
        "| endpoint | result | failed checks |",
        "| --- | --- | --- |",
        "| gateway GET /accounts/{id} | ❌ failed | missing-timeout |",
    ]
    assert "#### Failures" in lines
    assert any(line.startswith("- **gateway GET /accounts/{id}** `missing-timeout`: gateway → "
                               "accounts: gateway calls accounts") for line in lines)


def test_github_annotations(tmp_path, capsys):
    b = TraceBuilder()
    for i in range(5):
        transfer(b, i, audit_fails=i in (1, 3))
        account_read(b, 10 + i)
    code, out, _ = gate(capsys, write(b, tmp_path / "mixed.pb"), "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("::error title=critpath missing-timeout%3A gateway GET "
                               "/accounts/{id}::gateway → accounts: gateway calls accounts")
    assert lines[1].startswith(f"::warning title=critpath deferrable-work%3A {TRANSFERS}::gateway "
                               "→ audit:")
    assert lines[-1] == ("critpath gate FAILED: 1 failure in 1 of 10 checks (2 endpoints × 5 rules); "
                         "1 other finding; 10 traces")


def test_the_sample_in_docs_gate_md_is_what_gate_prints(capsys):
    """docs/gate.md shows the text verdict on the DeathStarBench traces: keep it true."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "gate.md").read_text()
    sample = doc.split("$ critpath gate tests/data/jaeger\n", 1)[1].split("```", 1)[0]
    code, out, _ = gate(capsys, JAEGER)
    assert code == 1
    assert out == sample


def test_output_file_gets_the_document_and_stderr_the_verdict(tmp_path, capsys):
    target = tmp_path / "reports" / "gate.xml"
    code, out, err = gate(capsys, healthy(tmp_path), "--format", "junit", "--output", target)
    assert code == 0
    assert out == ""
    assert err == f"critpath gate passed: junit written to {target}\n"
    assert ET.parse(target).getroot().get("failures") == "0"


# -- baselines -----------------------------------------------------------------------------------


def test_update_baseline_then_judge_against_it(tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    code, _, err = gate(capsys, healthy(tmp_path), "--baseline", baseline, "--update-baseline")
    assert code == 0
    assert err == f"critpath gate: baseline written to {baseline} (5 traces)\n"
    document = json.loads(baseline.read_text())
    assert (document["schema"], document["traces"]) == ("critpath.report/v1", 5)

    code, out, _ = gate(capsys, healthy(tmp_path, "again.pb"), "--baseline", baseline)
    assert code == 0
    assert out == ("critpath gate passed: all 6 checks held (1 endpoint × 5 rules + baseline); "
                   "5 traces\n")


def test_a_critical_path_that_gains_a_service_and_depth_is_a_regression(tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    gate(capsys, healthy(tmp_path), "--baseline", baseline, "--update-baseline")
    code, out, _ = gate(capsys, deeper(tmp_path), "--baseline", baseline)
    assert code == 1
    assert rows(out)[2:5] == [TRANSFERS, "FAIL baseline - depth 2 → 3 cut the new hop",
                              "FAIL baseline - +archive take it off the path"]
    # -v gives the reasons in full.
    code, out, _ = gate(capsys, deeper(tmp_path), "--baseline", baseline, "-v")
    assert "critical-path depth grew from 2 to 3 since the baseline" in rows(out)
    assert "critical path gained service archive since the baseline" in rows(out)


def test_a_new_finding_is_a_regression(tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    gate(capsys, healthy(tmp_path), "--baseline", baseline, "--update-baseline")
    code, out, _ = gate(capsys, deferrable(tmp_path), "--baseline", baseline)
    assert code == 1
    assert rows(out)[2:5] == [
        TRANSFERS,
        "FAIL new deferrable-work gateway → audit saves 50.0 ms p99 queue it, answer at once",
        "warning deferrable-work gateway → audit saves 50.0 ms p99 queue it, answer at once",
    ]


def test_new_findings_below_the_configured_severity_only_show(tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    gate(capsys, healthy(tmp_path), "--baseline", baseline, "--update-baseline")
    cfg = config(tmp_path, '[gate]\nnew_findings = "critical"\n')
    code, out, _ = gate(capsys, deferrable(tmp_path), "--baseline", baseline, "--config", cfg)
    assert code == 0
    assert ("warning new deferrable-work gateway → audit saves 50.0 ms p99 queue it, answer at "
            "once") in rows(out)


def test_baseline_missing_ok_judges_the_first_run_without_one(tmp_path, capsys):
    baseline = tmp_path / ".critpath" / "baseline.json"
    code, out, err = gate(capsys, deferrable(tmp_path), "--baseline", baseline,
                          "--baseline-missing-ok")
    assert code == 0
    assert out.startswith("critpath gate passed: all 5 checks held")
    assert err == (f"critpath gate: no baseline at {baseline} yet: judged without one "
                   "(--baseline-missing-ok; create it with --update-baseline)\n")
    # The budget and rule checks still run without a baseline.
    code, _, _ = gate(capsys, no_timeouts(tmp_path), "--baseline", baseline,
                      "--baseline-missing-ok")
    assert code == 1
    # Once the baseline exists, it is compared against as usual.
    gate(capsys, healthy(tmp_path), "--baseline", baseline, "--update-baseline")
    code, out, err = gate(capsys, deferrable(tmp_path), "--baseline", baseline,
                          "--baseline-missing-ok")
    assert code == 1
    assert any(row.startswith("FAIL new deferrable-work gateway → audit") for row in rows(out))
    assert err == ""


def test_baseline_missing_ok_does_not_excuse_a_broken_baseline(tmp_path, capsys):
    baseline = _file(tmp_path / "baseline.json", b"{not json")
    code, _, err = gate(capsys, healthy(tmp_path), "--baseline", baseline,
                        "--baseline-missing-ok")
    assert code == 2
    assert err.startswith(f"critpath gate: {baseline}: the baseline is not JSON"), err


def test_a_finding_already_in_the_baseline_is_not_new(tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    gate(capsys, deferrable(tmp_path), "--baseline", baseline, "--update-baseline")
    code, _, _ = gate(capsys, deferrable(tmp_path), "--baseline", baseline)
    assert code == 0


# -- --from a running collector ------------------------------------------------------------------


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[tuple[str, dict]]:
    """A stand-in collector on a free loopback port serving ``state["report"]`` at /api/report."""
    state: dict = {"status": 200, "report": None, "paths": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            state["paths"].append(self.path)
            body = json.dumps(state["report"]).encode()
            self.send_response(state["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _report_of(tmp_path: Path, capsys, traces_file: Path) -> dict:
    baseline = tmp_path / "made.json"
    gate(capsys, traces_file, "--baseline", baseline, "--update-baseline")
    return json.loads(baseline.read_text())


def test_from_a_collector_judges_its_report(tmp_path, capsys, collector):
    url, state = collector
    state["report"] = _report_of(tmp_path, capsys, no_timeouts(tmp_path))
    code, out, _ = gate(capsys, "--from", url, "--window", "5m")
    assert code == 1
    assert out.startswith(FAILED_ONE + "5 traces")
    assert state["paths"] == ["/api/report?window=5m"]


@pytest.mark.parametrize(
    ("status", "report", "message"),
    [
        pytest.param(500, {"detail": "boom"}, "critpath gate: {url}/api/report: the collector "
                     "answered HTTP 500", id="server-error"),
        pytest.param(200, {"schema": "critpath.report/v1", "traces": 0, "endpoints": [],
                           "findings": []},
                     "critpath gate: no traces to judge: a gate that saw nothing must not pass",
                     id="collector-saw-nothing"),
        pytest.param(200, [1, 2], "critpath gate: {url}/api/report: not a critpath report",
                     id="not-a-report"),
    ],
)
def test_from_a_collector_exit_2_on_a_bad_answer(capsys, collector, status, report, message):
    url, state = collector
    state["status"], state["report"] = status, report
    code, _, err = gate(capsys, "--from", url)
    assert code == 2
    assert err.startswith(message.format(url=url)), err


@pytest.mark.slow
def test_from_a_real_collector_fed_over_otlp(tmp_path, capsys):
    """``critpath collect`` in its own process, fed by OTLP/HTTP, judged with --from."""
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "critpath.cli", "collect", "--memory-only", "--port", "0",
         "--otlp-http-port", "0", "--otlp-grpc-port", "0"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CRITPATH_TRACE_WAIT_SECONDS": "0.2"},
    )
    try:
        urls: dict[str, str] = {}
        assert process.stdout is not None
        for line in process.stdout:  # the collector prints its URLs once it listens
            match = re.match(r"\s+(OTLP/HTTP|API)\s+(\S+)", line)
            if match:
                urls[match.group(1)] = match.group(2)
            if len(urls) == 2:
                break
        assert set(urls) == {"OTLP/HTTP", "API"}
        b = TraceBuilder()
        for i in range(5):
            account_read(b, i)  # no timeouts: a critical missing-timeout
        sent = httpx.post(urls["OTLP/HTTP"], content=b.otlp_protobuf(), timeout=10,
                          headers={"content-type": "application/x-protobuf"})
        assert sent.status_code == 200
        base = urls["API"].removesuffix("/api/report")
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/api/report", timeout=10).json()["traces"] < 5:
            assert time.monotonic() < deadline, "the collector never analysed the traces"
            time.sleep(0.1)
        code, out, _ = gate(capsys, "--from", base)
        assert code == 1
        assert out.startswith(FAILED_ONE + "5 traces")
    finally:
        process.terminate()
        process.wait(timeout=30)
