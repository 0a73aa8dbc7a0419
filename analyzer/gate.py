"""The CI gate's judgement and its renderings (ARCHITECTURE.md §7), as pure functions.

:func:`judge` reads a ``critpath.report/v1`` document, an :class:`AnalysisConfig` and
optionally a baseline report, and answers a fixed set of questions — one
:class:`Check` per endpoint and rule (plus one per endpoint against the baseline):

* ``critical-path-depth`` fails when the endpoint's deepest critical path exceeds its
  budget (the gate's own config decides, whatever the report was built with);
* every rule's check fails when a finding of that rule, on that endpoint, matches
  ``fail_on`` (a severity or a rule id); other findings are kept as notes;
* ``baseline`` fails when the endpoint's critical path gained a service or depth since
  the baseline, or a finding (at least as severe as ``new_findings``) appeared.

The renderers turn a :class:`GateResult` into text, markdown (a pull-request comment),
JUnit XML (one test case per check) or GitHub workflow commands (annotations). The
command that reads files, fetches reports and sets the exit code is
``critpath/commands/gate.py``.
"""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from analyzer.config import RULE_IDS, SEVERITIES, AnalysisConfig
from analyzer.render import (
    ARROW, GROUP_FROM, REPORT_WIDTH, advice, evidence_text, group_findings, key_number, table,
)

__all__ = [
    "REPORT_SCHEMA", "ReportError", "Verdict", "Check", "GateResult", "check_report",
    "judge", "render", "render_text", "render_markdown", "render_junit", "render_github",
    "FORMATS",
]

REPORT_SCHEMA = "critpath.report/v1"
BASELINE_CHECK = "baseline"
NO_ENDPOINT = "(no endpoint)"
FORMATS: tuple[str, ...] = ("text", "markdown", "junit", "github")


class ReportError(ValueError):
    """A document is not a ``critpath.report/v1`` report the gate can judge."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """One reason a check failed, or one finding shown without failing it.

    ``kind`` is ``"budget"``, ``"finding"`` or ``"regression"``; ``rule`` is the rule id
    of a finding (else ``None``). ``message`` says it all in a sentence; the short text
    line reads ``finding`` (the report's finding, if the verdict is about one) for its
    subject, number and advice, or ``number`` and ``todo`` where there is no finding.
    """

    kind: str
    severity: str
    message: str
    rule: str | None = None
    finding: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    number: str = ""
    todo: str = ""


@dataclass(frozen=True, slots=True)
class Check:
    """One question the gate answered: a JUnit test case (``endpoint`` is its class)."""

    endpoint: str
    name: str
    failures: tuple[Verdict, ...] = ()
    notes: tuple[Verdict, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class GateResult:
    """Everything the gate decided. ``notes`` are remarks about the run as a whole."""

    traces: int
    endpoints: int
    checks: tuple[Check, ...]
    with_baseline: bool = False
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.passed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (what the renderers show, as data)."""
        return {
            "passed": self.passed, "traces": self.traces, "endpoints": self.endpoints,
            "with_baseline": self.with_baseline, "notes": list(self.notes),
            "checks": [
                {"endpoint": c.endpoint, "name": c.name, "passed": c.passed,
                 "failures": [_verdict_dict(v) for v in c.failures],
                 "notes": [_verdict_dict(v) for v in c.notes]}
                for c in self.checks
            ],
        }


def _verdict_dict(verdict: Verdict) -> dict[str, Any]:
    return {"kind": verdict.kind, "severity": verdict.severity, "message": verdict.message,
            "rule": verdict.rule}


# -- reading reports ---------------------------------------------------------------------


def check_report(document: object, source: str = "report") -> Mapping[str, Any]:
    """``document`` if it is a ``critpath.report/v1`` report, else :class:`ReportError`.

    Only what the gate reads is checked: the schema, ``traces``, and the shapes of
    ``endpoints`` and ``findings``.
    """
    if not isinstance(document, Mapping):
        raise ReportError(f"{source}: not a critpath report (expected a JSON object)")
    schema = document.get("schema")
    if schema != REPORT_SCHEMA:
        raise ReportError(f"{source}: schema is {schema!r}, expected {REPORT_SCHEMA!r}")
    traces = document.get("traces")
    if isinstance(traces, bool) or not isinstance(traces, int):
        raise ReportError(f"{source}: 'traces' must be an integer")
    for key in ("endpoints", "findings"):
        items = document.get(key)
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise ReportError(f"{source}: {key!r} must be a list of objects")
    for endpoint in document["endpoints"]:
        if not (isinstance(endpoint.get("service"), str) and isinstance(endpoint.get("name"), str)):
            raise ReportError(f"{source}: every endpoint needs a 'service' and a 'name'")
    for finding in document["findings"]:
        if not isinstance(finding.get("rule"), str) or finding.get("severity") not in SEVERITIES:
            raise ReportError(
                f"{source}: every finding needs a 'rule' and a 'severity' in "
                f"{', '.join(SEVERITIES)}"
            )
    return document


# -- judging -----------------------------------------------------------------------------


def _endpoint_key(endpoint: Mapping[str, Any]) -> str:
    return f"{endpoint['service']} {endpoint['name']}"


def _depth_max(endpoint: Mapping[str, Any]) -> int | None:
    value = (endpoint.get("critical_path") or {}).get("depth_max")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _path_services(endpoint: Mapping[str, Any]) -> set[str]:
    services = (endpoint.get("critical_path") or {}).get("services") or []
    return {str(s["name"]) for s in services if isinstance(s, Mapping) and "name" in s}


def _finding_identity(finding: Mapping[str, Any]) -> tuple:
    """What makes two findings "the same" across runs: rule and subject, not numbers."""
    evidence = finding.get("evidence") or {}
    return (finding.get("rule"), finding.get("endpoint"), finding.get("client"),
            finding.get("server"), finding.get("service"), evidence.get("operation"),
            evidence.get("cause"))


def _fails(finding: Mapping[str, Any], fail_on: Iterable[str]) -> bool:
    wanted = set(fail_on)
    return finding.get("rule") in wanted or finding.get("severity") in wanted


def _subject(finding: Mapping[str, Any]) -> str:
    client, server = finding.get("client"), finding.get("server")
    if client and server:
        return f"{client} → {server}: "
    return ""


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def judge(
    report: Mapping[str, Any],
    config: AnalysisConfig | None = None,
    baseline: Mapping[str, Any] | None = None,
) -> GateResult:
    """Judge ``report`` (and, with ``baseline``, what changed since) under ``config``."""
    config = config or AnalysisConfig()
    endpoints = {_endpoint_key(e): e for e in report.get("endpoints", [])}
    findings_by_endpoint: dict[str, list[Mapping[str, Any]]] = {}
    for finding in report.get("findings", []):
        findings_by_endpoint.setdefault(finding.get("endpoint") or NO_ENDPOINT, []).append(finding)

    base_endpoints = {_endpoint_key(e): e for e in (baseline or {}).get("endpoints", [])}
    base_findings = {_finding_identity(f) for f in (baseline or {}).get("findings", [])}

    checks: list[Check] = []
    names = sorted(set(endpoints) | set(findings_by_endpoint))
    for name in names:
        endpoint = endpoints.get(name)
        findings = findings_by_endpoint.get(name, [])
        for rule in RULE_IDS:
            checks.append(_rule_check(name, rule, endpoint, findings, config))
        if baseline is not None:
            checks.append(_baseline_check(name, endpoint, base_endpoints.get(name), findings,
                                          base_findings, config))

    notes: list[str] = []
    if baseline is not None:
        gone = sorted(set(base_endpoints) - set(endpoints))
        if gone:
            notes.append(f"endpoints in the baseline but not seen now: {', '.join(gone)}")
    return GateResult(
        traces=int(report.get("traces", 0)),
        endpoints=len(endpoints),
        checks=tuple(checks),
        with_baseline=baseline is not None,
        notes=tuple(notes),
    )


def _rule_check(name: str, rule: str, endpoint: Mapping[str, Any] | None,
                findings: list[Mapping[str, Any]], config: AnalysisConfig) -> Check:
    failures: list[Verdict] = []
    notes: list[Verdict] = []
    if rule == "critical-path-depth" and endpoint is not None:
        budget = config.depth_budget(name)
        depth = _depth_max(endpoint)
        if budget is not None and depth is not None and depth > budget:
            failures.append(Verdict(
                "budget", "critical",
                f"critical-path depth {depth} exceeds its budget of {budget}",
                rule, number=f"depth {depth} > budget {budget}",
                todo=advice({"rule": "critical-path-depth"}),
            ))
    for finding in findings:
        if finding.get("rule") != rule:
            continue
        verdict = Verdict("finding", str(finding["severity"]),
                          _subject(finding) + str(finding.get("message", "")), rule, finding)
        (failures if _fails(finding, config.fail_on) else notes).append(verdict)
    return Check(name, rule, tuple(failures), tuple(notes))


def _baseline_check(name: str, endpoint: Mapping[str, Any] | None,
                    base: Mapping[str, Any] | None, findings: list[Mapping[str, Any]],
                    base_findings: set[tuple], config: AnalysisConfig) -> Check:
    failures: list[Verdict] = []
    notes: list[Verdict] = []
    if endpoint is not None and base is None:
        notes.append(Verdict("regression", "info", "new endpoint: not in the baseline",
                             todo="new endpoint, not in the baseline"))
    if endpoint is not None and base is not None:
        depth, before = _depth_max(endpoint), _depth_max(base)
        if depth is not None and before is not None and depth > before:
            failures.append(Verdict(
                "regression", "critical",
                f"critical-path depth grew from {before} to {depth} since the baseline",
                number=f"depth {before} {ARROW} {depth}", todo="cut the new hop",
            ))
        gained = sorted(_path_services(endpoint) - _path_services(base))
        if gained:
            failures.append(Verdict(
                "regression", "critical",
                f"critical path gained {'services' if len(gained) > 1 else 'service'} "
                f"{', '.join(gained)} since the baseline",
                number="+" + ", +".join(gained), todo="take it off the path",
            ))
    threshold = config.new_findings
    for finding in findings:
        if _finding_identity(finding) in base_findings:
            continue
        severity = str(finding["severity"])
        verdict = Verdict(
            "regression", severity,
            f"new {finding['rule']} finding: {_subject(finding)}{finding.get('message', '')}",
            str(finding["rule"]), finding,
        )
        fatal = threshold != "off" and _rank(severity) <= _rank(threshold)
        (failures if fatal else notes).append(verdict)
    return Check(name, BASELINE_CHECK, tuple(failures), tuple(notes))


# -- rendering ---------------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _headline(result: GateResult) -> str:
    """The verdict in a line, with the numbers a reader can check against the lines below.

    A check is one rule (or the baseline) on one endpoint; it fails with one or more
    failures (e.g. three calls without a timeout on one endpoint: one check, three
    failures), so both are counted, and what the checks are is said.
    """
    endpoints = list(dict.fromkeys(check.endpoint for check in result.checks))
    names = list(dict.fromkeys(check.name for check in result.checks))
    rules = [name for name in names if name != BASELINE_CHECK]
    what = f"{_plural(len(endpoints), 'endpoint')} × {_plural(len(rules), 'rule')}"
    if BASELINE_CHECK in names:
        what += " + baseline"
    checks = len(result.checks)
    if result.passed:
        verdict = (f"passed: all {checks} checks held" if checks
                   else "passed: nothing to check")
    else:
        failures = sum(len(check.failures) for check in result.failed_checks)
        verdict = (f"FAILED: {_plural(failures, 'failure')} in "
                   f"{len(result.failed_checks)} of {checks} checks")
    others = sum(len(check.notes) for check in result.checks)
    shown = f"; {others} other {'finding' if others == 1 else 'findings'}" if others else ""
    return f"critpath gate {verdict} ({what}){shown}; {_plural(result.traces, 'trace')}"


_STATUS_RANK = {"FAIL": 0, "critical": 1, "warning": 2, "info": 3}


def _rows(result: GateResult) -> list[dict[str, Any]]:
    """One row per failure, then per other finding: worst first — failures, then by
    severity; a broken budget or a regression before findings; findings by their impact
    (for a missing timeout, its longest stall)."""
    rows = []
    for check in result.checks:
        for status, verdicts in (("FAIL", check.failures), (None, check.notes)):
            for verdict in verdicts:
                finding = verdict.finding or {}
                rule = check.name
                if check.name == BASELINE_CHECK and verdict.rule:
                    rule = f"new {verdict.rule}"
                client, server = finding.get("client"), finding.get("server")
                rows.append({
                    "status": status or verdict.severity,
                    "rule": rule,
                    "endpoint": check.endpoint,
                    "subject": f"{client} {ARROW} {server}" if client and server
                    else str(finding.get("service") or "-"),
                    "number": verdict.number or (key_number(finding) if finding else ""),
                    "todo": verdict.todo or (advice(finding) if finding else ""),
                    "severity": verdict.severity,
                    "impact": float(finding.get("impact") or 0.0),
                    "verdict": verdict,
                })
    rows.sort(key=lambda r: (_STATUS_RANK.get(r["status"], 4),
                             SEVERITIES.index(r["severity"]) if r["severity"] in SEVERITIES
                             else len(SEVERITIES),
                             r["verdict"].finding is not None, -r["impact"]))
    return rows


def _alike(row: dict[str, Any]) -> tuple[str, str, str]:
    """Rows that fold into one line: one status, rule and endpoint (one check)."""
    return row["status"], row["rule"], row["endpoint"]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _cut_subject(text: str, width: int) -> str:
    """``client → server`` in ``width`` columns, both names cut alike (each keeps its start)."""
    if len(text) <= width:
        return text
    client, sep, server = text.partition(f" {ARROW} ")
    if not sep:
        return _cut(text, width)
    room = width - len(sep)
    short, long_ = sorted((client, server), key=len)
    first = min(len(short), room // 2)
    left = _cut(short, first)
    right = _cut(long_, room - len(left))
    client, server = (left, right) if short is client else (right, left)
    return f"{client}{sep}{server}"


def _cut_endpoint(text: str, width: int) -> str:
    """``service [METHOD] route`` in ``width`` columns: the service (and method), then the end
    of the route (its last segments say the most), "…" for what was left out."""
    if len(text) <= width:
        return text
    service, _, name = text.partition(" ")
    method, _, route = name.rpartition(" ")
    head = f"{service} {method} " if method else f"{service} "
    room = width - len(head) - 1
    if room < 8:
        return "…" + text[len(text) - width + 1:]
    tail = route[len(route) - room:]
    slash = tail.find("/")
    # Start at a segment when that keeps most of what fits.
    if route[len(route) - room - 1] != "/" and 0 < slash <= room // 2:
        tail = tail[slash:]
    return f"{head}…{tail}"


_HEADERS = ("STATUS", "RULE", "SUBJECT", "HOW BAD", "WHAT TO DO")
_MIN_SUBJECT = 24
_INDENT = "    "


def _cells(rows: list[tuple[dict[str, Any], int]], width: int | None) -> list[list[str]]:
    """The table's cells, subjects cut (both names alike) so that a line fits ``width``."""
    cells = [[row["status"], row["rule"] + (f" ×{count}" if count > 1 else ""),
              row["subject"], row["number"], row["todo"]]
             for row, count in rows]
    if width is None or not cells:
        return cells
    widths = [max(len(c[i]) for c in [list(_HEADERS)] + cells) for i in range(len(_HEADERS))]
    over = sum(widths) + 2 * (len(widths) - 1) - width
    if over > 0:
        subject = max(_MIN_SUBJECT, widths[2] - over)
        for c in cells:
            c[2] = _cut_subject(c[2], subject)
    return cells


def _wrap(text: str, width: int, indent: str, more: str | None = None) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent,
                         subsequent_indent=indent if more is None else more,
                         break_on_hyphens=False, break_long_words=False)


def render_text(result: GateResult, *, verbose: bool = False,
                width: int | None = REPORT_WIDTH, group_from: int = GROUP_FROM) -> str:
    """Plain text for a terminal or a CI log: the verdict, then a table, worst first.

    Under each endpoint (the one with the worst failure first), one line per failure, then
    per finding that does not fail: status, rule, subject (client → server), the number
    that says how bad, what to do — the words of ``critpath analyze``. Columns line up
    across endpoints and lines fit ``width`` (long subjects are cut with "…");
    ``group_from`` or more failures of one rule on one endpoint fold into one line
    showing the worst, with their count. ``verbose`` folds nothing and follows each line
    with the full message and the finding's evidence.
    """
    lines = [_headline(result)]
    rows = _rows(result)
    wrap = width or REPORT_WIDTH
    if rows:
        shown = [(r, 1) for r in rows] if verbose else group_findings(rows, group_from, _alike)
        inner = None if width is None else width - len(_INDENT)
        body = table(_HEADERS, _cells(shown, inner), "<<<<<", width=inner, min_last=16)
        by_endpoint: dict[str, list[tuple[dict[str, Any], str]]] = {}
        for (row, _), line in zip(shown, body[1:], strict=True):
            by_endpoint.setdefault(row["endpoint"], []).append((row, line))
        lines.append(_INDENT + body[0])
        for endpoint, endpoint_rows in by_endpoint.items():
            lines.append("  " + (endpoint if width is None else _cut_endpoint(endpoint, width - 2)))
            for row, line in endpoint_rows:
                lines.append(_INDENT + line)
                if verbose:
                    # The finding's own message: the line already says rule and subject.
                    verdict, indent = row["verdict"], _INDENT + "  "
                    message = (verdict.finding or {}).get("message") or verdict.message
                    lines += _wrap(str(message), wrap, indent)
                    if verdict.finding and (evidence := evidence_text(verdict.finding)):
                        lines += _wrap(f"evidence: {evidence}", wrap, indent, indent + "  ")
        if not verbose:
            folded = [n for _, n in shown if n > 1]
            hint = "-v prints each with its full message and evidence"
            if folded:
                n = str(folded[0]) if len(folded) == 1 else "N"
                hint = f"×{n}: {n} of one rule on one endpoint, the worst shown; {hint}"
            lines += _wrap(hint, wrap, "  ", "    ")
    for note in result.notes:
        lines += _wrap(f"note: {note}", wrap, "  ", "    ")
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    # A pipe would end a table cell and a newline the row.
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: GateResult) -> str:
    """A pull-request comment: verdict, one table row per endpoint, then the details."""
    icon = "✅" if result.passed else "❌"
    lines = [f"### {icon} {_headline(result)}", ""]
    by_endpoint: dict[str, list[Check]] = {}
    for check in result.checks:
        by_endpoint.setdefault(check.endpoint, []).append(check)
    if by_endpoint:
        lines += ["| endpoint | result | failed checks |", "| --- | --- | --- |"]
        for endpoint, checks in by_endpoint.items():
            failed = [c.name for c in checks if not c.passed]
            state = "❌ failed" if failed else "✅ passed"
            names = _md_cell(", ".join(failed)) or "—"
            lines.append(f"| {_md_cell(endpoint)} | {state} | {names} |")
        lines.append("")
    failures = [(c, v) for c in result.failed_checks for v in c.failures]
    if failures:
        lines += ["#### Failures", ""]
        lines += [f"- **{_md_cell(c.endpoint)}** `{c.name}`: {_md_cell(v.message)}"
                  for c, v in failures]
        lines.append("")
    notes = [(c, v) for c in result.checks for v in c.notes]
    if notes or result.notes:
        lines += ["#### Other findings (not failing the gate)", ""]
        lines += [f"- {v.severity} · **{_md_cell(c.endpoint)}** `{c.name}`: {_md_cell(v.message)}"
                  for c, v in notes]
        lines += [f"- {_md_cell(note)}" for note in result.notes]
        lines.append("")
    return "\n".join(lines)


def render_junit(result: GateResult) -> str:
    """JUnit XML: one ``testsuite`` per endpoint, one ``testcase`` per check."""
    by_endpoint: dict[str, list[Check]] = {}
    for check in result.checks:
        by_endpoint.setdefault(check.endpoint, []).append(check)
    root = ET.Element("testsuites", {
        "name": "critpath gate",
        "tests": str(len(result.checks)),
        "failures": str(len(result.failed_checks)),
        "errors": "0",
    })
    for endpoint, checks in by_endpoint.items():
        suite = ET.SubElement(root, "testsuite", {
            "name": endpoint,
            "tests": str(len(checks)),
            "failures": str(sum(not c.passed for c in checks)),
            "errors": "0",
            "skipped": "0",
        })
        for check in checks:
            case = ET.SubElement(suite, "testcase", {"classname": endpoint, "name": check.name})
            if check.failures:
                failure = ET.SubElement(case, "failure", {
                    "message": check.failures[0].message,
                    "type": check.failures[0].kind,
                })
                failure.text = "\n".join(v.message for v in check.failures)
            if check.notes:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join(f"{v.severity}: {v.message}" for v in check.notes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _gh_data(text: str) -> str:
    """Escape a workflow command's message (GitHub's rules: %, CR and LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    """Escape a workflow command's property value: as data, plus ':' and ','."""
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


_GH_LEVEL = {"critical": "error", "warning": "warning", "info": "notice"}


def render_github(result: GateResult) -> str:
    """GitHub Actions workflow commands: ``::error`` per failure, warnings and notices for notes."""
    lines = []
    for check in result.failed_checks:
        for verdict in check.failures:
            title = _gh_property(f"critpath {check.name}: {check.endpoint}")
            lines.append(f"::error title={title}::{_gh_data(verdict.message)}")
    for check in result.checks:
        for verdict in check.notes:
            level = _GH_LEVEL.get(verdict.severity, "notice")
            title = _gh_property(f"critpath {check.name}: {check.endpoint}")
            lines.append(f"::{level} title={title}::{_gh_data(verdict.message)}")
    lines.append(_headline(result))
    return "\n".join(lines) + "\n"


def render(result: GateResult, fmt: str, *, verbose: bool = False) -> str:
    """``result`` in one of :data:`FORMATS`; ``verbose`` is for text (the other formats
    always carry each message in full)."""
    renderers = {"text": render_text, "markdown": render_markdown, "junit": render_junit,
                 "github": render_github}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "text":
        return render_text(result, verbose=verbose)
    return renderers[fmt](result)
