"""``critpath bank``: the instrumented demo bank and its traffic (ARCHITECTURE.md §7).

The bank lives in ``instrumented_bank`` and knows nothing of critpath; this module only
wires its flags into the CLI and reads the config file's ``[bank]`` table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from critpath.config import ConfigError, load_config
from critpath.exitcodes import ExitCode
from instrumented_bank import cli as bank_cli

ORDER = 50

EXAMPLES = """\
The bank is 15 FastAPI services (gateway, accounts, cards, card-processing, balance,
transactions, transaction-enrichment, merchant, feed-generator, feed, push, pots,
payments, profile, support), each its own process on 127.0.0.1 from the base port up,
each with its own SQLite file, exporting OTLP/HTTP spans. The traffic generator runs
eight user journeys: card-payment, payment, freeze-card, balance, feed, reaction,
profile-picture, support. A live progress line (requests, errors, rate) goes to stderr.

scenarios:
  as-is   card authorisation calls enrichment, feed generation and push synchronously;
          gateway->feed and feed->merchant set no timeout; payments->balance waits longer
          than the gateway waits for payments; merchant has a long tail; push fails at times
  fixed   those side effects go through a durable queue (PRODUCER/CONSUMER spans) and
          every call sets a timeout inside its caller's budget
  The planted flaws are listed in instrumented_bank/flaws.json.

examples:
  critpath collect &                                  # a collector on :4318 / :8686
  critpath bank                                       # as-is, 5 journeys/s, until Ctrl-C
  critpath bank --scenario fixed --rate 20 --duration 60
  critpath bank --base-port 19000 --data-dir /tmp/bank
  critpath bank --otlp-endpoint http://otel-collector:4318 --mix card-payment=5,feed=1

  critpath bank --fault merchant_slow_rate=0.2 --fault apns_failure_rate=0.1

settings: flags win over environment variables (shown in [brackets]), which win over the
config file's [bank] table (same names as the flags). Fault rates and latencies: --fault
NAME=VALUE or BANK_FAULT_<NAME> variables (see docs/bank.md). Ctrl-C or SIGTERM stops
every service; exit code 130 then, 0 after --duration, 2 when the bank cannot start (for
example a port already in use).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bank",
        help="run the instrumented demo bank (15 services) and traffic against it",
        description="Run the demo bank: real microservices with planted flaws, real telemetry "
        "(OTLP) and real traffic, for critpath to find what sits on its critical paths.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bank_cli.add_arguments(parser)
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="critpath.toml whose [bank] table supplies defaults "
        "(default: ./critpath.toml or [tool.critpath] in ./pyproject.toml)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        table = load_config(args.config).get("bank", {})
    except ConfigError as exc:
        print(f"critpath bank: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if not isinstance(table, dict):
        print("critpath bank: [bank] in the config file must be a table", file=sys.stderr)
        return ExitCode.BAD_INPUT
    code = bank_cli.run(args, file_values=table, prog="critpath bank")
    return {bank_cli.EXIT_OK: ExitCode.OK, bank_cli.EXIT_INTERRUPTED: ExitCode.INTERRUPTED}.get(
        code, ExitCode.BAD_INPUT
    )
