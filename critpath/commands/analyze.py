"""``critpath analyze FILE…``: the report over trace files (ARCHITECTURE.md §7)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from analyzer.aggregate import Aggregate
from analyzer.render import render_report_markdown, render_report_text
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
  critpath analyze export.jsonl --format json > report.json
  critpath analyze a.pb b.json --format markdown >> "$GITHUB_STEP_SUMMARY"
  curl -s "http://jaeger:16686/api/traces?service=web" | critpath analyze -

output: findings (what to fix), endpoints slowest first with their critical-path
depth and the services owning most of it, and the calls between services.
--format json prints the critpath.report/v1 document.
"""


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
    parser.set_defaults(func=run)


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
        write_stdout(render_report_markdown(report))
    else:
        write_stdout(render_report_text(report))
    return ExitCode.OK
