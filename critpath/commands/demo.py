"""``critpath demo``: the collector, the demo bank and its traffic, and the TUI, at once."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from critpath.exitcodes import ExitCode

ORDER = 5

DESCRIPTION = """\
Run the whole system on this machine and watch critpath find real problems:

  1. a critpath collector (OTLP on 4318/4317; API, dashboard and /metrics on 8686),
  2. the demo bank: fifteen instrumented microservices sending it their traces,
  3. traffic: customers paying by card, sending payments, reading their feed...,
  4. the terminal UI, live on the collector (q or ctrl+c quits and stops everything).

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
  critpath demo --mix card-payment=6,feed=2 --fault merchant_slow_rate=0.2

everything it starts stops when it ends (q or ctrl+c in the TUI; Ctrl-C, SIGTERM or
SIGHUP otherwise), and each part also stops by itself if this process is killed; the
collector's store, the bank's databases and every process's log stay in --data-dir.
exit codes: 0 done, 2 bad arguments or could not start (a port taken, a part failed;
the message says which and where its log is), 130 interrupted (Ctrl-C, SIGTERM, SIGHUP).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the ``critpath`` parser."""
    from dataclasses import fields

    from critpath.demo import DEFAULT_DATA_DIR, DemoSettings
    from instrumented_bank.cli import parse_fault
    from instrumented_bank.journeys import JOURNEYS
    from instrumented_bank.settings import Faults
    from instrumented_bank.traffic import parse_mix

    defaults = DemoSettings()
    parser = subparsers.add_parser(
        "demo", help="the whole system at once: collector, demo bank, traffic and TUI",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=("as-is", "fixed"), default="as-is",
                        help="the bank with its planted flaws (as-is, default) or fixed")
    parser.add_argument("--rate", type=float, default=defaults.rate, metavar="PER_SECOND",
                        help=f"journeys per second (default {defaults.rate:g})")
    parser.add_argument("--mix", type=_argument(parse_mix), default=None,
                        metavar="JOURNEY=WEIGHT,...",
                        help="journey weights, e.g. card-payment=6,feed=2; journeys not named "
                        f"are not run (journeys: {', '.join(JOURNEYS)}; default: the "
                        "bank's card-heavy mix of all of them)")
    parser.add_argument("--fault", type=parse_fault, action="append", default=[],
                        metavar="NAME=VALUE",
                        help="change one of the bank's fault rates or latencies, repeatable, "
                        "e.g. --fault merchant_slow_rate=0.2 (rates 0..1, latencies in ms; "
                        f"names: {', '.join(f.name for f in fields(Faults))})")
    parser.add_argument("--seed", type=int, default=None, metavar="N",
                        help="seed of the traffic's random choices (default: random)")
    parser.add_argument("--headless", action="store_true",
                        help="no TUI: run --duration seconds and print the final report")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help=f"how long --headless runs (default {DEFAULT_DURATION_S:g}); "
                        "only with --headless (the TUI runs until you quit)")
    parser.add_argument("--format", choices=("text", "json"), default=None,
                        help="--headless report format (default text); only with --headless")
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


DEFAULT_DURATION_S = 60.0
#: What stops the demo besides the TUI's q: Ctrl-C, kill's default, the terminal closing.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _argument(parse):
    """``parse`` for argparse: its ValueError's message becomes the usage error."""
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = parse.__name__
    return convert


class Stopped(BaseException):
    """A stop signal arrived: unwinds whatever the main thread was doing to ``finally``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP stop the demo the way q does, whatever it is doing.

    Outside the TUI a signal raises :class:`Stopped` in the main thread (as Ctrl-C raises
    KeyboardInterrupt), so ``finally`` stops everything. While the TUI runs it asks the app
    to quit instead, so Textual restores the terminal first. Once stopping has begun,
    further signals are ignored: a second Ctrl-C must not cut the clean-up short and
    leave children running (each part still stops within its own timeout).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.stopping = False
        self.tui_running = threading.Event()
        self.stop_requested = threading.Event()
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.stopping or self.received is not None:
            return
        self.received = signum
        self.stop_requested.set()
        if not self.tui_running.is_set():
            raise Stopped(signum)


def run_tui(app) -> None:
    """Run the demo's TUI until it quits (a test replaces this with Textual's pilot)."""
    app.run()


def run(args: argparse.Namespace) -> int:
    """Start everything, show it (TUI or a progress line), stop everything."""
    from critpath.demo import Demo, DemoError, DemoSettings
    from instrumented_bank.runner import BankStartError
    from instrumented_bank.settings import Faults

    if not args.headless and (args.duration is not None or args.format is not None):
        print("critpath demo: --duration and --format apply only with --headless "
              "(the TUI runs until you press q)", file=sys.stderr)
        return ExitCode.BAD_INPUT
    args.duration = DEFAULT_DURATION_S if args.duration is None else args.duration
    args.format = args.format or "text"
    if args.rate <= 0 or args.duration <= 0:
        print("critpath demo: --rate and --duration must be positive", file=sys.stderr)
        return ExitCode.BAD_INPUT
    settings = DemoSettings(
        scenario=args.scenario, rate=args.rate, data_dir=args.data_dir,
        api_port=args.port, otlp_http_port=args.otlp_http_port,
        otlp_grpc_port=args.otlp_grpc_port, bank_base_port=args.bank_base_port,
        seed=args.seed, faults=dict(args.fault), mix=args.mix)
    try:
        # Checked before anything starts: a bad value is a usage error, not a failed part.
        Faults(**settings.faults)
    except ValueError as exc:
        print(f"critpath demo: --fault: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    demo = Demo(settings)
    with StopSignals() as signals:
        try:
            try:
                demo.start()
            except (DemoError, BankStartError) as exc:
                print(f"critpath demo: {exc}", file=sys.stderr)
                return ExitCode.BAD_INPUT
            _say(f"dashboard: {settings.api_url}/   (metrics: {settings.api_url}/metrics)")
            if args.headless:
                return _headless(demo, args)
            return _interactive(demo, signals)
        except (Stopped, KeyboardInterrupt):
            return ExitCode.INTERRUPTED
        finally:
            signals.stopping = True
            if signals.received is not None:
                _say(f"{signal.Signals(signals.received).name}: stopping everything the "
                     "demo started")
            demo.stop()
            _say(f"stopped; the collector's store, the bank's databases and the logs are in "
                 f"{settings.data_dir.resolve()}")


def _say(text: str) -> None:
    """A line on stderr; a closed terminal (SIGHUP) must not stop the clean-up."""
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:
        pass


def _interactive(demo, signals: StopSignals) -> int:
    from critpath.demo import demo_app

    app = demo_app(demo, stop_requested=signals.stop_requested)
    signals.tui_running.set()
    try:
        run_tui(app)
    finally:
        signals.tui_running.clear()
    if signals.received is not None:
        return ExitCode.INTERRUPTED
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
    _say("traffic stopped; waiting for the collector to analyze the last traces...")
    report = demo.settle()
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(render_report_text(report))
    return ExitCode.OK
