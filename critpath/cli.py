"""The ``critpath`` console script: finds the subcommands and dispatches to them."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from analyzer.decode import otlp_protobuf
from critpath import __version__, commands
from critpath.exitcodes import ExitCode

EPILOG = """\
exit codes:
  0  success (for gate: every budget held)
  1  gate only: a budget was broken or a rule listed in fail_on fired
  2  bad arguments, unreadable or malformed input, or no traces to judge
  130 interrupted (Ctrl-C), after stopping everything the command started
"""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand found in ``critpath.commands``."""
    parser = argparse.ArgumentParser(
        prog="critpath",
        description="Find what sits on the critical path of your users' requests: "
        "missing timeouts, work that could be queued, and critical paths that grow.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version",
                        version=f"critpath {__version__} (OTLP protobuf decoder: "
                                f"{otlp_protobuf.IMPLEMENTATION})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [
        importlib.import_module(f"{commands.__name__}.{info.name}")
        for info in pkgutil.iter_modules(commands.__path__)
        if not info.name.startswith("_")
    ]
    for module in sorted(modules, key=lambda m: m.ORDER):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``critpath`` with ``argv`` and return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return ExitCode.BAD_INPUT
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
