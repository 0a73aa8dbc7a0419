"""``critpath analyze FILE…``: the report over trace files (ARCHITECTURE.md §7)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from analyzer.aggregate import Aggregate
from analyzer.render import REPORT_WIDTH, render_report_markdown, render_report_text
from analyzer.report import build_report
from critpath.exitcodes import ExitCode
from critpath.inputs import (
    InputError,
    add_files_argument,
    analysis_config,
    read_command_traces,
    write_stdout,
)

ORDER = 10

FORMATS = ("text", "json", "markdown")

EXAMPLES = """\
input formats (detected from the content): OTLP protobuf, OTLP/JSON (one request or
JSON lines, as the OpenTelemetry Collector's file exporter writes), Jaeger JSON (UI
download or /api/traces), Zipkin v2 JSON; gzip-compressed files too. A directory stands
for its .json/.jsonl/.ndjson/.pb/.bin/.otlp/.protobuf/.gz files; - reads standard input.

examples:
  critpath analyze traces/                      # every trace file under traces/
  critpath analyze traces/ -v | less            # every finding with its evidence
  critpath analyze export.jsonl --format json > report.json
  critpath analyze a.pb b.json --format markdown >> "$GITHUB_STEP_SUMMARY"
  curl -s "http://jaeger:16686/api/traces?service=web" | critpath analyze -

output: findings worst first, one line each (severity, rule, where, how bad, what to
do; many alike folded into one line that shows the worst), endpoints slowest first with
their critical-path depth and the services owning most of it, and the worst calls
between services, fitted to the terminal (at most 120 columns). -v lists everything:
each finding with its message and evidence, every endpoint's critical-path services,
every call. --format json prints the critpath.report/v1 document.
"""

MAX_WIDTH = REPORT_WIDTH
MIN_WIDTH = 80


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="report over trace files: findings, endpoints, critical paths, service graph",
        description="Analyse trace files: find missing timeouts, deferrable work and deep "
        "critical paths; profile each endpoint's critical path and the calls between services.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_files_argument(parser)
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="output format (default: text)")
    parser.add_argument("--config", type=Path, metavar="PATH",
                        help="critpath.toml (default: ./critpath.toml or [tool.critpath] "
                        "in ./pyproject.toml, if present)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="text and markdown: every finding with its message and evidence, "
                        "every endpoint and call (default: one line per finding, the worst few)")
    parser.add_argument("--width", type=int, metavar="COLUMNS",
                        help=f"text line width (default: the terminal's, {MIN_WIDTH} to "
                        f"{MAX_WIDTH}; {MAX_WIDTH} when not a terminal)")
    parser.set_defaults(func=run)


def text_width(requested: int | None) -> int:
    """``--width``, else the terminal's clamped to [MIN_WIDTH, MAX_WIDTH], else MAX_WIDTH."""
    if requested:
        return max(40, requested)
    if sys.stdout.isatty():
        columns = shutil.get_terminal_size((MAX_WIDTH, 24)).columns
        return max(MIN_WIDTH, min(MAX_WIDTH, columns))
    return MAX_WIDTH


def run(args: argparse.Namespace) -> int:
    try:
        config = analysis_config(args.config)
        traces = read_command_traces("analyze", args.files, config)
    except InputError as exc:
        print(f"critpath analyze: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if not traces:
        print("critpath analyze: no traces found in the input", file=sys.stderr)
        return ExitCode.BAD_INPUT
    aggregate = Aggregate(config)
    aggregate.add_traces(traces)
    report = build_report(aggregate, config, datetime.now(UTC).replace(microsecond=0))
    if args.format == "json":
        write_stdout(json.dumps(report, indent=2) + "\n")
    elif args.format == "markdown":
        write_stdout(render_report_markdown(report, verbose=args.verbose))
    else:
        write_stdout(render_report_text(report, verbose=args.verbose,
                                        width=text_width(args.width)))
    return ExitCode.OK
