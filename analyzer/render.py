"""Human-readable views of critpath's documents, as strings (no I/O, no terminal codes).

Renderers read the JSON documents (``critpath.report/v1``, ``critpath.trace/v1``)
rather than the aggregates, so the same text comes out whether the report was built
here, fetched from a collector or loaded from a file.

The text report is what an on-call engineer reads at 3 a.m.: short, aligned, worst
first. Findings come first, one line each (severity, rule, where, the number that says
how bad, what to do), with many findings of one rule and severity folded into one line
that shows the worst; then the slowest endpoints and the worst calls, in columns that
fit ``width``, long lists cut to the worst few with a note saying how many were left
out. ``verbose`` restores everything: each finding with its message and evidence, every
endpoint, call and critical-path service.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

CRITICAL = "█"
"""Bar cell where the span owned the critical path."""

WAITING = "░"
"""Bar cell where the span was running but something else owned the critical path."""

SEVERITY_ORDER = ("critical", "warning", "info")
ARROW = "→"

REPORT_WIDTH = 120
"""Default line width of the text report (the command line passes a narrower terminal's)."""

GROUP_FROM = 3
"""From this many findings of one rule and severity on, the text and markdown reports fold
them into one line (the worst, with the count); fewer stay one line each."""

_ADVICE = {
    "missing-timeout": "set a client timeout",
    "timeout-inversion": "set it below the caller's",
    "deferrable-work": "queue it, answer at once",
    "soft-dependency": "short timeout + fallback",
    "critical-path-depth": "cut hops, call in parallel",
}
"""What to do, in a few words, per rule id (ARCHITECTURE.md §5). Each finding's message
says it in full; ``verbose`` prints it."""

VERBOSE_HINT = "-v lists each finding with its evidence"


# -- small formatting helpers ----------------------------------------------------------


def format_ms(ms: float | None) -> str:
    """Milliseconds with precision that suits their size: 0.042, 3.21, 45.6, 1234."""
    if ms is None:
        return "-"
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def fit_items(items: Sequence[str], room: int | None, *, most: int | None = None) -> str:
    """``items`` joined by ", " in ``room`` columns (None: no limit), at most ``most`` of
    them: whole items from the first, then "… +N" saying how many were left out. When even
    the first does not fit it is cut with "…".

    >>> fit_items(["web 63%", "auth 20%", "api 17%"], 20)
    'web 63%, … +2'
    """
    limit = len(items) if most is None else min(most, len(items))
    for shown in range(limit, 0, -1):
        tail = f", … +{len(items) - shown}" if shown < len(items) else ""
        text = ", ".join(items[:shown]) + tail
        if room is None or len(text) <= room:
            return text
    if not items:
        return ""
    if len(items) > 1 and len(items[0]) + len(f" … +{len(items) - 1}") <= room:
        return f"{items[0]} … +{len(items) - 1}"
    tail = f" +{len(items) - 1}" if len(items) > 1 else ""
    return _truncate(items[0], max(1, room - len(tail))) + tail


def _text(cell: str | Sequence[str]) -> str:
    return cell if isinstance(cell, str) else ", ".join(cell)


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str | Sequence[str]]], align: str, *,
    width: int | None = None, shrink: int | None = None, min_last: int = 24,
) -> list[str]:
    """Rows padded into columns; ``align`` has one ``<`` or ``>`` per column.

    The last column is never padded, so lines carry no trailing spaces. With ``width``,
    every line fits in it: the last column gets what the others leave, at least
    ``min_last`` columns if column ``shrink`` can give them (it is cut down to 16 at
    most), and its cells are cut with "…". A last cell given as a list of items (a
    critical-path chain) keeps whole items and says how many it left out.
    """
    rows = [list(headers)] + [list(row) for row in rows]
    count = len(headers)
    widths = [max(len(_text(row[i])) for row in rows) for i in range(count)]
    room = None
    if width is not None:
        room = width - sum(widths[:-1]) - 2 * (count - 1)
        wanted = min(widths[-1], min_last)
        if room < wanted and shrink is not None and shrink < count - 1:
            cut = min(wanted - room, widths[shrink] - 16)
            if cut > 0:
                widths[shrink] -= cut
                room += cut
        room = max(room, len(headers[-1]))
        widths[-1] = min(widths[-1], room)
    lines = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            if i < count - 1:
                text = _truncate(_text(cell), widths[i])
            elif isinstance(cell, str):
                text = cell if room is None else _truncate(cell, room)
            else:
                text = fit_items(cell, room)
            if align[i] == ">":
                cells.append(text.rjust(widths[i]))
            else:
                cells.append(text if i == count - 1 else text.ljust(widths[i]))
        lines.append("  ".join(cells).rstrip())
    return lines


def _severity_key(finding: Mapping[str, Any]) -> tuple[int, float]:
    severity = finding.get("severity")
    rank = SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)
    return rank, -float(finding.get("impact") or 0.0)


def _subject(finding: Mapping[str, Any]) -> str:
    if finding.get("client") and finding.get("server"):
        return f"{finding['client']} {ARROW} {finding['server']}"
    return str(finding.get("endpoint") or finding.get("service") or finding.get("server") or "")


def _edge_name(edge: Mapping[str, Any]) -> str:
    kind = {"messaging_system": " (async)", "database": " (db)"}.get(edge["connection_type"], "")
    return f"{edge['client']} {ARROW} {edge['server']}{kind}"


def _failed(edge: Mapping[str, Any]) -> str:
    failed, requests = edge["failed"], edge["requests"]
    if not failed:
        return "0"
    return f"{failed} ({failed / requests * 100:.1f}%)" if requests else str(failed)


def _timeout(edge: Mapping[str, Any]) -> str:
    """The edge's declared timeout; "none" is a finding-worthy fact, so the user's own
    calls (no client span to declare anything) show "-" instead."""
    if edge["timeout_ms"]:
        return format_ms(edge["timeout_ms"])
    return "-" if edge["client"] == "user" else "none"


def _worst_edges(edges: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Edges with the most failures first, then the slowest (p99)."""
    return sorted(edges, key=lambda e: (-e["failed"], -(e["p99_ms"] or 0.0), e["client"],
                                        e["server"]))


def _path_services(endpoint: Mapping[str, Any]) -> list[str]:
    """The endpoint's critical-path services, largest share first, as "name NN%"."""
    return [f"{s['name']} {_percent(s['share'])}" for s in endpoint["critical_path"]["services"]]


def _depth(endpoint: Mapping[str, Any]) -> str:
    path = endpoint["critical_path"]
    return f"{path['depth_p50'] if path['depth_p50'] is not None else '-'}/" \
           f"{path['depth_max'] if path['depth_max'] is not None else '-'}"


def _more(shown: int, total: int, what: str) -> list[str]:
    if total <= shown:
        return []
    return [f"  … {total - shown} more {what} (-v or --format json lists all)"]


# -- findings: one line each, alike ones folded --------------------------------------------


def key_number(finding: Mapping[str, Any]) -> str:
    """The number that says how bad a finding is, with its unit ("" if the rule is unknown
    or its evidence lacks it)."""
    ev = finding.get("evidence") or {}
    rule = finding.get("rule")
    if rule == "missing-timeout" and ev.get("max_ms") is not None:
        return f"max {format_ms(ev['max_ms'])} ms"
    if rule == "timeout-inversion" and ev.get("cause") == "retries":
        return (f"{ev.get('max_attempts', '?')} tries {format_ms(ev.get('retry_total_max_ms'))}"
                f" > {format_ms(ev.get('caller_budget_ms'))} ms")
    if rule == "timeout-inversion" and ev.get("timeout_ms") is not None:
        return f"{format_ms(ev['timeout_ms'])} ≥ {format_ms(ev.get('caller_budget_ms'))} ms"
    if rule == "deferrable-work" and ev.get("saved_p99_ms") is not None:
        return f"saves {format_ms(ev['saved_p99_ms'])} ms p99"
    if rule == "soft-dependency" and ev.get("p99_ms") is not None:
        return f"p99 {format_ms(ev['p99_ms'])} ms"
    if rule == "critical-path-depth" and ev.get("depth_max") is not None:
        return f"depth {ev['depth_max']} > {ev.get('budget', '?')}"
    return ""


def advice(finding: Mapping[str, Any]) -> str:
    """What to do in a few words; for a rule this module does not know, the message's last
    clause (messages end with what to do)."""
    rule = finding.get("rule")
    if rule == "timeout-inversion" and (finding.get("evidence") or {}).get("cause") == "retries":
        return "stop retries at the deadline"
    if rule in _ADVICE:
        return _ADVICE[rule]
    message = str(finding.get("message") or "").rstrip(".")
    return message.rsplit(": ", 1)[-1].rsplit("; ", 1)[-1]


def evidence_text(finding: Mapping[str, Any]) -> str:
    """The finding's evidence as "key value, key value" (unknown values left out)."""
    return ", ".join(f"{key} {value}"
                     for key, value in (finding.get("evidence") or {}).items()
                     if value is not None)


def _severity_and_rule(finding: Mapping[str, Any]) -> Hashable:
    return finding.get("severity"), finding.get("rule")


def group_findings(
    findings: Sequence[Mapping[str, Any]], group_from: int = GROUP_FROM,
    key: Callable[[Mapping[str, Any]], Hashable] = _severity_and_rule,
) -> list[tuple[Mapping[str, Any], int]]:
    """One ``(finding, count)`` per line, in the findings' order (worst first).

    From ``group_from`` findings of one rule and severity on (alike under ``key``, when
    given: the gate also keeps endpoints apart), the first of them (the worst) stands for
    them all with their count; fewer stand for themselves (count 1).
    """
    counts: dict[Hashable, int] = {}
    keys = [key(finding) for finding in findings]
    for key_ in keys:
        counts[key_] = counts.get(key_, 0) + 1
    lines: list[tuple[Mapping[str, Any], int]] = []
    folded: set[Hashable] = set()
    for finding, key_ in zip(findings, keys, strict=True):
        if counts[key_] < max(2, group_from):
            lines.append((finding, 1))
        elif key_ not in folded:
            folded.add(key_)
            lines.append((finding, counts[key_]))
    return lines


def _wrap(text: str, width: int, indent: str, more: str | None = None) -> list[str]:
    """``text`` wrapped at ``width`` columns under ``indent`` (names keep their hyphens)."""
    return textwrap.wrap(text, width=width, initial_indent=indent,
                         subsequent_indent=indent if more is None else more,
                         break_on_hyphens=False, break_long_words=False)


def _rule(finding: Mapping[str, Any], count: int) -> str:
    return f"{finding['rule']} ×{count}" if count > 1 else str(finding["rule"])


def _findings_text(findings: Sequence[Mapping[str, Any]], *, width: int | None, verbose: bool,
                   max_lines: int, message_width: int, group_from: int) -> list[str]:
    headers = ("SEVERITY", "RULE", "WHERE", "HOW BAD", "WHAT TO DO")
    if verbose:
        lines = [f"FINDINGS ({len(findings)}, worst first)"]
        shown = [(f, 1) for f in findings]
    else:
        grouped = group_findings(findings, group_from)
        shown = grouped[:max_lines]
        many = f"{len(findings)} on {len(grouped)} lines" if len(grouped) < len(findings) \
            else str(len(findings))
        lines = [f"FINDINGS ({many}, worst first)"]
    rows = table(headers, [(f["severity"].upper(), _rule(f, n), _subject(f), key_number(f),
                            advice(f)) for f, n in shown],
                 "<<<<<", width=None if width is None else width - 2, shrink=2, min_last=16)
    lines.append("  " + rows[0])
    indent = " " * (2 + len("SEVERITY") + 2)
    wrap = max(40, message_width)
    for (finding, _), row in zip(shown, rows[1:], strict=True):
        lines.append("  " + row)
        if verbose:
            lines += _wrap(finding["message"], wrap, indent)
            if evidence := evidence_text(finding):
                lines += _wrap(f"evidence: {evidence}", wrap, indent, indent + "  ")
    if verbose:
        return lines
    notes = []
    folded = [n for _, n in shown if n > 1]
    if folded:
        n = str(folded[0]) if len(folded) == 1 else "N"
        notes.append(f"×{n}: {n} findings of one rule and severity, the worst shown")
    hidden = sum(n for _, n in grouped[max_lines:])
    if hidden:
        notes.append(f"… {hidden} more in {len(grouped) - max_lines} lines")
    notes.append(VERBOSE_HINT)
    lines += _wrap("; ".join(notes), width or REPORT_WIDTH, "  ", "    ")
    return lines


# -- the report --------------------------------------------------------------------------


def render_report_text(
    report: Mapping[str, Any], *, max_endpoints: int = 10, max_edges: int = 10,
    max_findings: int = 10, message_width: int | None = None, width: int | None = REPORT_WIDTH,
    verbose: bool = False, group_from: int = GROUP_FROM,
) -> str:
    """The report as plain text: findings, endpoints and calls, worst first, aligned.

    By default each line fits in ``width`` columns: a line per finding (at most
    ``max_findings`` lines, ``group_from`` or more findings of one rule and severity
    folded into one), the ``max_endpoints`` slowest endpoints with the critical-path
    services that fit, the ``max_edges`` worst calls. ``verbose`` lists everything: each
    finding with its message and evidence (wrapped at ``message_width``, default
    ``width``), every endpoint with all its critical-path services, every call.
    """
    if verbose:
        max_endpoints = max_edges = max_findings = 1 << 62
    lines = [
        f"critpath: {report['traces']} traces, {report['spans']} spans, "
        f"{sum(1 for s in report['services'] if s['kind'] == 'service')} services "
        f"({report['generated_at']})",
    ]

    findings = sorted(report.get("findings", []), key=_severity_key)
    lines.append("")
    if findings:
        lines += _findings_text(findings, width=width, verbose=verbose, max_lines=max_findings,
                                message_width=message_width or width or REPORT_WIDTH,
                                group_from=group_from)
    else:
        lines.append("FINDINGS: none")

    endpoints = report["endpoints"]
    lines.append("")
    if endpoints:
        lines.append(f"ENDPOINTS ({len(endpoints)}, slowest p99 first; "
                     "DEPTH: services deep on the critical path, p50/max)")
        shown = endpoints[:max_endpoints]
        rows = [
            (f"{e['service']} {e['name']}", str(e["traces"]), str(e["errors"]),
             format_ms(e["p50_ms"]), format_ms(e["p99_ms"]), _depth(e), _path_services(e))
            for e in shown
        ]
        headers = ("ENDPOINT", "TRACES", "ERRORS", "P50 MS", "P99 MS", "DEPTH", "CRITICAL PATH")
        if not verbose:
            lines += ["  " + line for line in table(
                headers, rows, "<>>>>><", width=width and width - 2, shrink=0, min_last=28)]
        else:  # every critical-path service, wrapped under its endpoint
            rows_text = table(headers[:-1], [row[:-1] for row in rows], "<>>>>>")
            lines.append("  " + rows_text[0])
            for endpoint, row in zip(shown, rows_text[1:], strict=True):
                lines.append("  " + row)
                lines += _wrap("critical path: " + ", ".join(_path_services(endpoint)),
                               width or REPORT_WIDTH, " " * 4, " " * 6)
        lines += _more(max_endpoints, len(endpoints), "endpoints")
    else:
        lines.append("ENDPOINTS: none (no traces)")

    edges = _worst_edges(report["edges"])
    if edges:
        lines.append("")
        lines.append(f"CALLS ({len(edges)} edges, most failures then slowest p99 first)")
        rows = [
            (_edge_name(e), str(e["requests"]), _failed(e), format_ms(e["p50_ms"]),
             format_ms(e["p99_ms"]), _timeout(e))
            for e in edges[:max_edges]
        ]
        lines += ["  " + line for line in table(
            ("CALL", "REQUESTS", "FAILED", "P50 MS", "P99 MS", "TIMEOUT MS"), rows, "<>>>>>",
            width=width and width - 2, shrink=0, min_last=len("TIMEOUT MS"))]
        lines += _more(max_edges, len(edges), "edges")
    return "\n".join(lines) + "\n"


def _md(text: object) -> str:
    """A markdown table cell: pipes escaped, no line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[object]], align: str) -> list[str]:
    marks = {"<": "---", ">": "---:"}
    lines = ["| " + " | ".join(headers) + " |",
             "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def _md_more(shown: int, total: int, what: str) -> list[str]:
    if total <= shown:
        return []
    return ["", f"… {total - shown} more {what} (`critpath analyze -v` or `--format json` "
                "lists all)."]


def render_report_markdown(
    report: Mapping[str, Any], *, verbose: bool = False, max_endpoints: int = 10,
    max_edges: int = 10, max_findings: int = 10, group_from: int = GROUP_FROM,
) -> str:
    """The report as GitHub-flavoured markdown (for PR comments and job summaries).

    Short like the text: a row per finding (alike ones folded, as in the text), the
    slowest endpoints with their top three critical-path services, the worst calls.
    ``verbose`` gives every finding with its message and evidence, every endpoint with
    all its critical-path services, and every call.
    """
    if verbose:
        max_endpoints = max_edges = max_findings = 1 << 62
    lines = [
        "## critpath report",
        "",
        f"{report['traces']} traces, {report['spans']} spans, generated {report['generated_at']}.",
        "",
    ]
    findings = sorted(report.get("findings", []), key=_severity_key)
    if not findings:
        lines += ["### Findings", "", "No findings."]
    elif verbose:
        lines += [f"### Findings ({len(findings)}, worst first)", ""]
        lines += _md_table(("Severity", "Rule", "Where", "What to do", "Evidence"),
                           [(f"**{f['severity']}**", f"`{f['rule']}`", _subject(f), f["message"],
                             evidence_text(f)) for f in findings], "<<<<<")
    else:
        grouped = group_findings(findings, group_from)
        lines += [f"### Findings ({len(findings)}, worst first)", ""]
        lines += _md_table(
            ("Severity", "Rule", "Where", "How bad", "What to do"),
            [(f"**{f['severity']}**", f"`{f['rule']}`" + (f" ×{n}" if n > 1 else ""),
              _subject(f) + (f" (and {n - 1} more)" if n > 1 else ""), key_number(f), advice(f))
             for f, n in grouped[:max_findings]], "<<<<<")
        hidden = sum(n for _, n in grouped[max_findings:])
        folded = any(n > 1 for _, n in grouped[:max_findings])
        note = "×N: N findings of one rule and severity, the worst shown. " if folded else ""
        more = f"{hidden} more findings not shown. " if hidden else ""
        lines += ["", f"{note}{more}`critpath analyze -v --format markdown` lists each finding "
                      "with its message and evidence."]
    endpoints = report["endpoints"]
    lines += ["", "### Endpoints (slowest p99 first)", ""]
    if endpoints:
        lines += _md_table(
            ("Endpoint", "Traces", "Errors", "p50 ms", "p99 ms", "Depth p50/max", "Critical path"),
            [(f"`{e['service']} {e['name']}`", e["traces"], e["errors"], format_ms(e["p50_ms"]),
              format_ms(e["p99_ms"]), _depth(e),
              fit_items(_path_services(e), None, most=None if verbose else 3))
             for e in endpoints[:max_endpoints]],
            "<>>>>><")
        lines += _md_more(max_endpoints, len(endpoints), "endpoints")
    else:
        lines.append("No traces.")
    edges = _worst_edges(report["edges"])
    if edges:
        lines += ["", "### Calls (most failures, then slowest p99)", ""]
        lines += _md_table(
            ("Call", "Requests", "Failed", "p50 ms", "p99 ms", "Timeout ms"),
            [(_edge_name(e), e["requests"], _failed(e), format_ms(e["p50_ms"]),
              format_ms(e["p99_ms"]), _timeout(e))
             for e in edges[:max_edges]], "<>>>>>")
        lines += _md_more(max_edges, len(edges), "calls")
    return "\n".join(lines) + "\n"


# -- the critical path of one trace ------------------------------------------------------


def _cells(start: int, end: int, origin: int, cell_ns: float, width: int) -> range:
    """The bar cells ``[start, end)`` touches; at least the one it starts in, so that
    zero-length spans and tiny segments stay visible."""
    first = min(width - 1, max(0, math.floor((start - origin) / cell_ns)))
    last = min(width - 1, max(first, math.ceil((end - origin) / cell_ns) - 1))
    return range(first, last + 1)


def _bar(start: int, end: int, critical: Sequence[tuple[int, int]], origin: int,
         cell_ns: float, width: int) -> str:
    """``width`` cells over the trace: ░ where the span ran, █ where it owned the critical
    path (a cell shows █ if any of its time was critical for this span)."""
    cells = [" "] * width
    for i in _cells(start, end, origin, cell_ns, width):
        cells[i] = WAITING
    for seg_start, seg_end in critical:
        for i in _cells(seg_start, seg_end, origin, cell_ns, width):
            cells[i] = CRITICAL
    return "".join(cells)


def render_path_text(document: Mapping[str, Any], *, width: int = 100) -> str:
    """A waterfall of one ``critpath.trace/v1`` document with its critical path marked.

    One line per span, indented by its depth in the span tree, with a time bar scaled
    to the trace (█ critical, ░ running but not critical), its duration and service.
    ``width`` is the whole line's target width; the bar takes what the labels leave.
    """
    spans = document["spans"]
    origin = document["start_ns"]
    end = max([origin] + [s["end_ns"] for s in spans])
    critical: dict[str, list[tuple[int, int]]] = {}
    for seg in document["critical_path"]:
        critical.setdefault(seg["span_id"], []).append((seg["start_ns"], seg["end_ns"]))

    tree_depth: dict[str, int] = {}
    labels, services, durations = [], [], []
    for span in spans:
        depth = tree_depth.get(span["parent_id"], -1) + 1 if span["parent_id"] else 0
        tree_depth[span["span_id"]] = depth
        mark = " !" if span["status"] == "error" else ""
        labels.append("  " * depth + span["name"] + mark)
        services.append(span["service"])
        durations.append(format_ms((span["end_ns"] - span["start_ns"]) / 1e6) + " ms")
    service_width = min(28, max([len(s) for s in services] + [7]))
    duration_width = max([len(d) for d in durations] + [8])
    # The bar is the point of the view: it keeps at least 40% of the line, and span
    # names are cut (…) rather than squeezing it.
    fixed = service_width + duration_width + 8
    room = width - fixed - max(20, width * 2 // 5)
    label_width = max(12, min(48, room, max([len(label) for label in labels] + [4])))
    bar_width = max(10, width - label_width - fixed)
    cell_ns = (end - origin) / bar_width if end > origin else 1.0

    endpoint = document["endpoint"]
    lines = [
        f"trace {document['trace_id']}  {endpoint['service']} {endpoint['name']}  "
        f"{format_ms(document['duration_ms'])} ms  critical-path depth {document['depth']}",
        f"{CRITICAL} on the critical path   {WAITING} running, not critical   ! error",
    ]
    right = f"{format_ms((end - origin) / 1e6)} ms"
    axis = "0" + right.rjust(bar_width - 1) if bar_width > len(right) + 1 else ""
    lines.append(" " * (label_width + service_width + 5) + axis)
    for span, label, service, duration in zip(spans, labels, services, durations, strict=True):
        bar = _bar(span["start_ns"], span["end_ns"], critical.get(span["span_id"], []), origin,
                   cell_ns, bar_width)
        lines.append(f"{_truncate(label, label_width).ljust(label_width)}  "
                     f"{_truncate(service, service_width).ljust(service_width)}  │{bar}│ "
                     f"{duration.rjust(duration_width)}")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def render_paths_text(documents: Iterable[Mapping[str, Any]], *, width: int = 100) -> str:
    """Several waterfalls, separated by blank lines."""
    return "\n".join(render_path_text(doc, width=width) for doc in documents)
