"""``critpath path FILE…``: each trace's critical path, drawn or as JSON (ARCHITECTURE.md §7)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from analyzer.aggregate import trace_context
from analyzer.render import render_path_text
from analyzer.report import paths_document, trace_document
from critpath.exitcodes import ExitCode
from critpath.inputs import (
    InputError,
    add_files_argument,
    analysis_config,
    read_command_traces,
    write_stdout,
)

ORDER = 20

EXAMPLES = """\
examples:
  critpath path trace.json                       # waterfall of every trace in the file
  critpath path traces/ --trace-id 4bf92f3577b34da6a3ce929d0e0e4736
  critpath path export.pb --format json | jq '.traces[].segments[].service'

text output: one line per span, indented by its depth in the span tree, with a time bar
(█ the span owned the critical path there, ░ it ran but something else was critical,
! it failed), its duration and its service.
--format json prints the critpath.paths/v1 document.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "path",
        help="each trace's critical path, as a waterfall or JSON",
        description="Show the critical path of each trace: which spans determined its "
        "end-to-end latency, and when.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_files_argument(parser)
    parser.add_argument("--trace-id", metavar="ID",
                        help="only this trace (hex id, case-insensitive)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="output format (default: text)")
    parser.add_argument("--width", type=int, metavar="COLUMNS",
                        help="line width of the waterfall (default: the terminal's, at most 160)")
    parser.add_argument("--config", type=Path, metavar="PATH",
                        help="critpath.toml (only its timeout keys matter here)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = analysis_config(args.config)
        traces = read_command_traces("path", args.files, config)
    except InputError as exc:
        print(f"critpath path: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if args.trace_id:
        wanted = args.trace_id.strip().lower()
        matching = [t for t in traces if t.trace_id == wanted]
        if not matching:
            print(f"critpath path: trace {wanted} not found among the {len(traces)} "
                  "trace(s) read", file=sys.stderr)
            return ExitCode.BAD_INPUT
        traces = matching
    contexts = [ctx for ctx in map(trace_context, traces) if ctx is not None]
    if not contexts:
        print("critpath path: no traces found in the input", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if args.format == "json":
        write_stdout(json.dumps(paths_document(contexts), indent=2) + "\n")
        return ExitCode.OK
    width = args.width or min(160, shutil.get_terminal_size((100, 24)).columns)
    write_stdout("\n".join(render_path_text(trace_document(ctx), width=width)
                               for ctx in contexts))
    return ExitCode.OK
