"""Running the bank with traffic from a command line: the flags and the run loop.

Shared by ``python -m instrumented_bank`` and ``critpath bank`` so both behave the same.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from instrumented_bank.journeys import BankApp
from instrumented_bank.runner import BankStartError, start_bank
from instrumented_bank.settings import DEFAULT_BASE_PORT, SCENARIOS, BankSettings
from instrumented_bank.traffic import TrafficGenerator, parse_mix

DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4318"
EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 2, 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bank's flags (every one also settable by its ``BANK_*`` variable's default)."""
    env = BankSettings.from_env()
    parser.add_argument("--scenario", choices=SCENARIOS, default=env.scenario,
                        help="as-is plants the flaws listed in instrumented_bank/flaws.json; "
                             "fixed queues deferrable work and sets every timeout (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=5.0,
                        help="journeys per second the traffic generator starts (default: %(default)s; "
                             "0 starts the bank without traffic)")
    parser.add_argument("--mix", type=parse_mix, default=None, metavar="JOURNEY=WEIGHT,…",
                        help="journey weights, e.g. card-payment=5,feed=2 (default: a card-heavy mix of all "
                             "eight journeys)")
    parser.add_argument("--base-port", type=int, default=env.base_port,
                        help=f"the gateway's port; the 14 other services take the ports after it "
                             f"(default: %(default)s, built in {DEFAULT_BASE_PORT})")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--data-dir", type=Path, default=env.data_dir,
                        help="where each service keeps its SQLite file, the queue and the logs "
                             "(default: %(default)s)")
    parser.add_argument("--otlp-endpoint", default=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT",
                                                                  DEFAULT_OTLP_ENDPOINT),
                        help="OTLP/HTTP endpoint the services export spans to "
                             "(default: $OTEL_EXPORTER_OTLP_ENDPOINT or %(default)s)")


def settings_from_args(args: argparse.Namespace) -> BankSettings:
    """Environment settings with the flags applied on top."""
    env = BankSettings.from_env()
    return BankSettings(
        scenario=args.scenario, base_port=args.base_port, host=env.host, url_template=env.url_template,
        data_dir=args.data_dir, accounts=env.accounts, queue_poll_ms=env.queue_poll_ms, faults=env.faults,
    )


def run(args: argparse.Namespace, *, out=sys.stderr) -> int:
    """Start the bank, drive traffic until the duration ends or Ctrl-C/SIGTERM, stop the bank."""
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"bank: {exc}", file=out)
        return EXIT_BAD_INPUT
    stop = threading.Event()
    interrupted = []

    def on_signal(signum, _frame) -> None:
        interrupted.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"bank: starting 15 services ({settings.scenario}) on ports {settings.base_port}-"
              f"{settings.base_port + 14}, exporting to {args.otlp_endpoint}", file=out)
        try:
            bank = start_bank(settings, env={"OTEL_EXPORTER_OTLP_ENDPOINT": args.otlp_endpoint})
        except BankStartError as exc:
            print(f"bank: {exc}", file=out)
            return EXIT_BAD_INPUT
        with bank:
            print(f"bank: ready. App journeys at {bank.gateway_url}, card network at "
                  f"{bank.card_processing_url}. Ctrl-C stops everything.", file=out)
            if args.rate > 0:
                with BankApp(bank.gateway_url, bank.card_processing_url) as app:
                    generator = TrafficGenerator(app, rate=args.rate, accounts=settings.accounts, mix=args.mix)
                    generator.run(duration_s=args.duration, stop=stop, progress=out)
            else:
                stop.wait(args.duration)
            print("bank: stopping services", file=out)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instrumented_bank",
                                     description="Run the instrumented demo bank and its traffic.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
