"""``critpath demo``: the collector, the demo bank and its traffic, and the TUI, at once."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from critpath.exitcodes import ExitCode

ORDER = 5

DESCRIPTION = """\
Run the whole system on this machine and watch critpath find real problems:

  1. a critpath collector (OTLP on 4318/4317; API, dashboard and /metrics on 8686),
  2. the demo bank: fifteen instrumented microservices sending it their traces,
  3. traffic: customers paying by card, sending payments, reading their feed...,
  4. the terminal UI, live on the collector (q quits and stops everything).

The bank as-is has planted flaws: calls without timeouts, a timeout inversion, and
card authorisation waiting for work that belongs on a queue. --scenario fixed runs
the bank with those fixed. With --headless there is no TUI: the demo runs for
--duration seconds and prints the final report (text or json) on stdout.
"""

EPILOG = """\
examples:
  critpath demo                                  # the TUI; the dashboard's URL is printed
  critpath demo --scenario fixed                 # the bank after its flaws are fixed
  critpath demo --headless --duration 60         # no TUI: print the report after 60 s
  critpath demo --headless --duration 30 --format json > report.json

everything it starts stops when it ends (q, Ctrl-C or SIGTERM); the collector's store,
the bank's databases and every process's log stay in --data-dir.
exit codes: 0 done, 2 could not start (a port taken, a part failed; the message says
which and where its log is), 130 interrupted.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the ``critpath`` parser."""
    from critpath.demo import DEFAULT_DATA_DIR, DemoSettings

    defaults = DemoSettings()
    parser = subparsers.add_parser(
        "demo", help="the whole system at once: collector, demo bank, traffic and TUI",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=("as-is", "fixed"), default="as-is",
                        help="the bank with its planted flaws (as-is, default) or fixed")
    parser.add_argument("--rate", type=float, default=defaults.rate, metavar="PER_SECOND",
                        help=f"journeys per second (default {defaults.rate:g})")
    parser.add_argument("--headless", action="store_true",
                        help="no TUI: run --duration seconds and print the final report")
    parser.add_argument("--duration", type=float, default=60.0, metavar="SECONDS",
                        help="how long --headless runs (default 60)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="--headless report format (default text)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, metavar="DIR",
                        help=f"where the store, databases and logs go (default ./{DEFAULT_DATA_DIR})")
    parser.add_argument("--port", type=int, default=defaults.api_port, metavar="PORT",
                        help=f"collector API, dashboard and /metrics (default {defaults.api_port})")
    parser.add_argument("--otlp-http-port", type=int, default=defaults.otlp_http_port, metavar="PORT",
                        help=f"collector OTLP/HTTP receiver (default {defaults.otlp_http_port})")
    parser.add_argument("--otlp-grpc-port", type=int, default=defaults.otlp_grpc_port, metavar="PORT",
                        help=f"collector OTLP/gRPC receiver (default {defaults.otlp_grpc_port})")
    parser.add_argument("--bank-base-port", type=int, default=defaults.bank_base_port, metavar="PORT",
                        help=f"first of the bank's 15 ports (default {defaults.bank_base_port})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start everything, show it (TUI or a progress line), stop everything."""
    from critpath.demo import Demo, DemoError, DemoSettings
    from instrumented_bank.runner import BankStartError

    if args.rate <= 0 or args.duration <= 0:
        print("critpath demo: --rate and --duration must be positive", file=sys.stderr)
        return ExitCode.BAD_INPUT
    settings = DemoSettings(
        scenario=args.scenario, rate=args.rate, data_dir=args.data_dir,
        api_port=args.port, otlp_http_port=args.otlp_http_port,
        otlp_grpc_port=args.otlp_grpc_port, bank_base_port=args.bank_base_port)
    demo = Demo(settings)
    try:
        try:
            demo.start()
        except (DemoError, BankStartError) as exc:
            print(f"critpath demo: {exc}", file=sys.stderr)
            return ExitCode.BAD_INPUT
        print(f"dashboard: {settings.api_url}/   (metrics: {settings.api_url}/metrics)",
              file=sys.stderr)
        if args.headless:
            return _headless(demo, args)
        return _interactive(demo)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    finally:
        demo.stop()
        print(f"stopped; the collector's store, the bank's databases and the logs are in "
              f"{settings.data_dir.resolve()}", file=sys.stderr)


def _interactive(demo) -> int:
    from tui.app import CritpathApp
    from tui.sources import CollectorSource

    CritpathApp(CollectorSource(demo.settings.api_url), window="1m", interval=2.0).run()
    return ExitCode.OK


def _headless(demo, args: argparse.Namespace) -> int:
    from analyzer.render import render_report_text

    started = time.monotonic()
    progress = sys.stderr.isatty()
    while (elapsed := time.monotonic() - started) < args.duration:
        time.sleep(min(1.0, args.duration - elapsed))
        stats = demo.traffic_stats()
        if progress and stats is not None:
            sys.stderr.write(f"\r{elapsed:5.0f}/{args.duration:.0f} s  {stats.line()}\033[K")
            sys.stderr.flush()
    if progress:
        sys.stderr.write("\n")
    print("traffic stopped; waiting for the collector to analyze the last traces...",
          file=sys.stderr)
    report = demo.settle()
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(render_report_text(report))
    return ExitCode.OK
