"""``critpath tui``: the on-call terminal UI, live on a collector or offline on trace files."""

from __future__ import annotations

import argparse

from critpath.exitcodes import ExitCode

ORDER = 60

DEFAULT_URL = "http://127.0.0.1:8686"

DESCRIPTION = """\
Open the terminal UI: the endpoints (user journeys) with their latency, errors and
critical-path depth, the findings worst first, the service graph; drill down into an
endpoint's critical-path profile, its exemplar traces as waterfalls, and each finding's
evidence and suggested change.

Live (default): polls a collector's API, shows how old the data is, and keeps the
last data on screen with a banner while the collector is unreachable.
Several collectors (repeat --from): the merged view of collectors that each hold whole
traces behind a load-balancing exporter; the report is built from the sum of their
aggregates, each trace is fetched from whichever holds it, and collectors that stop
answering are named while the others' merged view stays on screen.
Offline: give trace files (OTLP protobuf or JSON, Jaeger or Zipkin JSON); they are
analysed locally, exactly as the collector would.
"""

EPILOG = """\
examples:
  critpath tui                                  # the local collector
  critpath tui --from http://collector:8686 --window 15m
  critpath tui --from http://collector-a:8686 --from http://collector-b:8686
  critpath tui traces/*.json                    # offline, on trace files

keys: ? help · / filter · enter open · escape back · s/r sort · w window · q quit
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``tui`` to the ``critpath`` parser."""
    parser = subparsers.add_parser(
        "tui",
        help="terminal UI over a collector (live) or trace files (offline)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="trace files or directories of them to analyse offline (instead of --from)",
    )
    parser.add_argument(
        "--from",
        dest="url",
        metavar="URL",
        action="append",
        default=None,
        help=f"collector to read live (default {DEFAULT_URL}); repeat it to read the merged "
        "view of several collectors",
    )
    parser.add_argument(
        "--window",
        choices=("1m", "5m", "15m", "all"),
        default="5m",
        help="collector window to show first (default 5m; 'w' cycles it)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how often to poll the collector (default 2)",
    )
    parser.set_defaults(func=run)


def make_source(args: argparse.Namespace):
    """The source the arguments ask for; raises ``InputError`` when they cannot be used."""
    from critpath.inputs import STDIN, InputError, analysis_config, expand_paths
    from tui.sources import CollectorSource, FileSource, MergedCollectorSource

    if args.files and args.url:
        raise InputError("critpath tui: give trace files or --from URL, not both")
    if args.files:
        if STDIN in args.files:
            raise InputError(
                "critpath tui: the terminal UI needs standard input for the keyboard; "
                "give trace files, not '-'"
            )
        # Checked and expanded here so a typo fails before the screen opens; the files are
        # read and analysed by the TUI's worker, with the screen already up.
        return FileSource(expand_paths(args.files), config=analysis_config())
    if args.interval <= 0:
        raise InputError("critpath tui: --interval must be a positive number of seconds")
    urls = args.url or [DEFAULT_URL]
    if len(urls) > 1:
        # The merged report is built here, so the rules judge it under the local config.
        return MergedCollectorSource(urls, config=analysis_config())
    # The collector judges under its own rules; the local config only names the timeout
    # keys the span details show as "timeout used".
    return CollectorSource(urls[0], config=analysis_config())


def run(args: argparse.Namespace) -> int:
    """Run the TUI until the user quits."""
    import sys

    from critpath.inputs import InputError
    from tui.app import CritpathApp

    try:
        source = make_source(args)
    except InputError as exc:
        print(exc, file=sys.stderr)
        return ExitCode.BAD_INPUT
    CritpathApp(source, window=args.window, interval=args.interval).run()
    return ExitCode.OK
