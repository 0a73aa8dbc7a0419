"""Running the bank with traffic from a command line: the flags and the run loop.

Shared by ``python -m instrumented_bank`` and ``critpath bank`` so both behave the same.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from instrumented_bank.journeys import BankApp
from instrumented_bank.runner import BankStartError, start_bank
from instrumented_bank.settings import (
    DEFAULT_BASE_PORT,
    DEFAULT_DATA_DIR,
    SCENARIOS,
    BankSettings,
    Faults,
)
from instrumented_bank.traffic import TrafficGenerator, parse_mix

DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4318"
EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 2, 130


#: Flag -> (environment variable, conversion, built-in default). Precedence: flag, then
#: environment, then the config file's ``[bank]`` table, then the default.
_SOURCES = {
    "scenario": ("BANK_SCENARIO", str, "as-is"),
    "rate": ("BANK_RATE", float, 5.0),
    "base_port": ("BANK_BASE_PORT", int, DEFAULT_BASE_PORT),
    "duration": ("BANK_DURATION", float, None),
    "data_dir": ("BANK_DATA_DIR", Path, DEFAULT_DATA_DIR),
    "otlp_endpoint": ("OTEL_EXPORTER_OTLP_ENDPOINT", str, DEFAULT_OTLP_ENDPOINT),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bank's flags. Unset flags fall back to environment, config file, default."""
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default=None,
        help="as-is (default) plants the flaws listed in instrumented_bank/flaws.json; "
        "fixed queues deferrable work and sets every timeout [BANK_SCENARIO]",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="PER_SECOND",
        help="journeys per second the traffic generator starts; 0 starts the bank "
        "without traffic (default: 5) [BANK_RATE]",
    )
    parser.add_argument(
        "--mix",
        type=parse_mix,
        default=None,
        metavar="JOURNEY=WEIGHT,...",
        help="journey weights, e.g. card-payment=5,feed=2; journeys: "
        "card-payment, payment, freeze-card, balance, feed, reaction, "
        "profile-picture, support (default: a card-heavy mix of all eight)",
    )
    parser.add_argument(
        "--base-port",
        type=int,
        default=None,
        metavar="PORT",
        help=f"the gateway's port; the 14 other services take the ports after it "
        f"(default: {DEFAULT_BASE_PORT}) [BANK_BASE_PORT]",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C) [BANK_DURATION]",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where each service keeps its SQLite file, the queue and its log "
        f"(default: {DEFAULT_DATA_DIR}) [BANK_DATA_DIR]",
    )
    parser.add_argument(
        "--fault",
        type=parse_fault,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one fault setting, repeatable, e.g. --fault merchant_slow_rate=0.2 "
        f"(names: {', '.join(f.name for f in fields(Faults))}) [BANK_FAULT_<NAME>]",
    )
    parser.add_argument(
        "--otlp-endpoint",
        default=None,
        metavar="URL",
        help=f"OTLP/HTTP endpoint the services export spans to "
        f"(default: {DEFAULT_OTLP_ENDPOINT}) [OTEL_EXPORTER_OTLP_ENDPOINT]",
    )


def parse_fault(text: str) -> tuple[str, float | int]:
    """``"merchant_slow_rate=0.2"`` -> ``("merchant_slow_rate", 0.2)``.

    Rates are floats, latencies integers (milliseconds)."""
    name, _, raw = text.partition("=")
    name = name.strip().replace("-", "_")
    known = {f.name for f in fields(Faults)}
    if name not in known:
        raise argparse.ArgumentTypeError(
            f"unknown fault {name!r} (known: {', '.join(sorted(known))})"
        )
    convert = float if name.endswith("_rate") else int
    try:
        return name, convert(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} needs a number, not {raw!r}") from None


def resolve(
    args: argparse.Namespace,
    file_values: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> argparse.Namespace:
    """``args`` with every unset flag filled from the environment, the config file's
    ``[bank]`` table (keys spelled like the flags, ``-`` or ``_``), or the default."""
    env = os.environ if environ is None else environ
    table = {key.replace("-", "_"): value for key, value in (file_values or {}).items()}
    unknown = set(table) - set(_SOURCES)
    if unknown:
        raise ValueError(
            f"[bank]: unknown key(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(k.replace('_', '-') for k in _SOURCES)})"
        )
    resolved = argparse.Namespace(**vars(args))
    for name, (variable, convert, default) in _SOURCES.items():
        if getattr(resolved, name, None) is not None:
            continue
        if env.get(variable):
            raw, origin = env[variable], variable
        elif name in table:
            raw, origin = table[name], f"[bank] {name.replace('_', '-')}"
        else:
            setattr(resolved, name, default)
            continue
        try:
            setattr(resolved, name, convert(raw))
        except (TypeError, ValueError):
            raise ValueError(f"{origin}={raw!r} is not a valid {convert.__name__}") from None
    return resolved


def settings_from_args(args: argparse.Namespace) -> BankSettings:
    """Environment settings (faults, host, …) with the resolved flags applied on top."""
    env = BankSettings.from_env()
    settings = replace(
        env, scenario=args.scenario, base_port=args.base_port, data_dir=args.data_dir
    )
    return settings.with_faults(**dict(getattr(args, "fault", []) or []))


def run(
    args: argparse.Namespace,
    *,
    file_values: Mapping[str, Any] | None = None,
    out=None,
    prog: str = "bank",
) -> int:
    """Start the bank, drive traffic until the duration ends or Ctrl-C/SIGTERM, stop the bank.

    ``file_values`` is the config file's ``[bank]`` table, if any; messages go to ``out``
    (standard error by default) prefixed by ``prog``. Returns 0 when the run ended by
    itself, 130 when interrupted, 2 when the bank could not start.
    """
    out = out or sys.stderr
    try:
        args = resolve(args, file_values)
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"{prog}: {exc}", file=out)
        return EXIT_BAD_INPUT
    stop = threading.Event()
    interrupted = []

    def on_signal(signum, _frame) -> None:
        interrupted.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(
            f"{prog}: starting 15 services ({settings.scenario}) on ports {settings.base_port}-"
            f"{settings.base_port + 14}, exporting to {args.otlp_endpoint}",
            file=out,
        )
        try:
            bank = start_bank(settings, env={"OTEL_EXPORTER_OTLP_ENDPOINT": args.otlp_endpoint})
        except BankStartError as exc:
            print(f"{prog}: {exc}", file=out)
            return EXIT_BAD_INPUT
        with bank:
            print(
                f"{prog}: ready. App journeys at {bank.gateway_url}, card network at "
                f"{bank.card_processing_url}. Ctrl-C stops everything.",
                file=out,
            )
            if args.rate > 0:
                with BankApp(bank.gateway_url, bank.card_processing_url) as app:
                    generator = TrafficGenerator(
                        app, rate=args.rate, accounts=settings.accounts, mix=args.mix
                    )
                    generator.run(duration_s=args.duration, stop=stop, progress=out)
            else:
                stop.wait(args.duration)
            print(f"{prog}: stopping services", file=out)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m instrumented_bank",
        description="Run the instrumented demo bank and its traffic.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
