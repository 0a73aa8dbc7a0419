"""Human-readable views of critpath's documents, as strings (no I/O, no terminal codes).

Renderers read the JSON documents (``critpath.report/v1``, ``critpath.trace/v1``)
rather than the aggregates, so the same text comes out whether the report was built
here, fetched from a collector or loaded from a file.

The text report is what an on-call engineer reads at 3 a.m.: findings first (what to
do), then the worst endpoints and edges, in aligned columns, with long lists cut to
the worst few and a note saying how many were left out.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CRITICAL = "█"
"""Bar cell where the span owned the critical path."""

WAITING = "░"
"""Bar cell where the span was running but something else owned the critical path."""

SEVERITY_ORDER = ("critical", "warning", "info")
ARROW = "→"


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


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], align: str) -> list[str]:
    """Rows padded into columns; ``align`` has one ``<`` or ``>`` per column.

    The last column is never padded, so lines carry no trailing spaces.
    """
    rows = [list(headers)] + [list(row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    lines = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            last = i == len(row) - 1
            if align[i] == ">":
                cells.append(cell.rjust(widths[i]))
            else:
                cells.append(cell if last else cell.ljust(widths[i]))
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


def _top_services(endpoint: Mapping[str, Any], count: int = 3) -> str:
    services = endpoint["critical_path"]["services"][:count]
    return ", ".join(f"{s['name']} {_percent(s['share'])}" for s in services)


def _depth(endpoint: Mapping[str, Any]) -> str:
    path = endpoint["critical_path"]
    return f"{path['depth_p50'] if path['depth_p50'] is not None else '-'}/" \
           f"{path['depth_max'] if path['depth_max'] is not None else '-'}"


def _more(shown: int, total: int, what: str) -> list[str]:
    if total <= shown:
        return []
    return [f"  … {total - shown} more {what} (--format json lists all)"]


# -- the report --------------------------------------------------------------------------


def render_report_text(
    report: Mapping[str, Any], *, max_endpoints: int = 10, max_edges: int = 15,
    max_findings: int = 20, message_width: int = 100,
) -> str:
    """The report as plain text: findings, endpoints and edges, worst first, aligned.

    Finding messages are wrapped at ``message_width`` columns under their finding.
    """
    lines = [
        f"critpath: {report['traces']} traces, {report['spans']} spans, "
        f"{sum(1 for s in report['services'] if s['kind'] == 'service')} services "
        f"({report['generated_at']})",
    ]

    findings = sorted(report.get("findings", []), key=_severity_key)
    lines.append("")
    if findings:
        lines.append(f"FINDINGS ({len(findings)}, worst first)")
        shown = findings[:max_findings]
        rows = table(("SEVERITY", "RULE", "WHERE"),
                     [(f["severity"].upper(), f["rule"], _subject(f)) for f in shown], "<<<")
        lines.append("  " + rows[0])
        # Messages say what to do and are long: each goes, wrapped, under its finding's row.
        indent = " " * (2 + len("SEVERITY") + 2)
        for finding, row in zip(shown, rows[1:], strict=True):
            lines.append("  " + row)
            lines += textwrap.wrap(finding["message"], width=max(40, message_width),
                                   initial_indent=indent, subsequent_indent=indent)
        lines += _more(max_findings, len(findings), "findings")
    else:
        lines.append("FINDINGS: none")

    endpoints = report["endpoints"]
    lines.append("")
    if endpoints:
        lines.append(f"ENDPOINTS ({len(endpoints)}, slowest p99 first)")
        rows = [
            (f"{e['service']} {e['name']}", str(e["traces"]), str(e["errors"]),
             format_ms(e["p50_ms"]), format_ms(e["p99_ms"]), _depth(e), _top_services(e))
            for e in endpoints[:max_endpoints]
        ]
        lines += ["  " + line for line in table(
            ("ENDPOINT", "TRACES", "ERRORS", "P50 MS", "P99 MS", "DEPTH", "CRITICAL PATH"),
            rows, "<>>>>><")]
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
            ("CALL", "REQUESTS", "FAILED", "P50 MS", "P99 MS", "TIMEOUT MS"), rows, "<>>>>>")]
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


def render_report_markdown(report: Mapping[str, Any]) -> str:
    """The report as GitHub-flavoured markdown (for PR comments and job summaries)."""
    lines = [
        "## critpath report",
        "",
        f"{report['traces']} traces, {report['spans']} spans, generated {report['generated_at']}.",
        "",
        "### Findings",
        "",
    ]
    findings = sorted(report.get("findings", []), key=_severity_key)
    if findings:
        lines += _md_table(("Severity", "Rule", "Where", "What to do"),
                           [(f"**{f['severity']}**", f"`{f['rule']}`", _subject(f), f["message"])
                            for f in findings], "<<<<")
    else:
        lines.append("No findings.")
    lines += ["", "### Endpoints (slowest p99 first)", ""]
    if report["endpoints"]:
        lines += _md_table(
            ("Endpoint", "Traces", "Errors", "p50 ms", "p99 ms", "Depth p50/max", "Critical path"),
            [(f"`{e['service']} {e['name']}`", e["traces"], e["errors"], format_ms(e["p50_ms"]),
              format_ms(e["p99_ms"]), _depth(e), _top_services(e)) for e in report["endpoints"]],
            "<>>>>><")
    else:
        lines.append("No traces.")
    edges = _worst_edges(report["edges"])
    if edges:
        lines += ["", "### Calls", ""]
        lines += _md_table(
            ("Call", "Requests", "Failed", "p50 ms", "p99 ms", "Timeout ms"),
            [(_edge_name(e), e["requests"], _failed(e), format_ms(e["p50_ms"]),
              format_ms(e["p99_ms"]), _timeout(e))
             for e in edges], "<>>>>>")
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
