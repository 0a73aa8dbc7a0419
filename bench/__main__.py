"""Run the ``bench_*`` modules (or those named on the command line) and print their reports.

``python -m bench`` (``make bench``) runs every benchmark except the opt-in ones, which
take long enough to be run on purpose: name them (``python -m bench bench_soak``) or pass
``--all``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import bench

OPT_IN = {"bench_soak": "the collector's 10-minute memory soak"}
"""Benchmarks left out unless named or ``--all`` is given, and why."""


def available() -> list[str]:
    return sorted(i.name for i in pkgutil.iter_modules(bench.__path__)
                  if i.name.startswith("bench_"))


def selected(only: list[str], names: list[str], everything: bool) -> list[str]:
    """The benchmarks to run: those named, else all (the opt-in ones only with ``everything``)."""
    if only:
        return only
    return [name for name in names if everything or name not in OPT_IN]


def main(argv: list[str] | None = None) -> int:
    names = available()
    skipped = ", ".join(f"{name} ({why})" for name, why in OPT_IN.items())
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="critpath's benchmarks",
        epilog=f"left out unless named or --all: {skipped}")
    parser.add_argument("only", nargs="*", choices=[*names, []],
                        help="benchmarks to run (default: all but the opt-in ones)")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    parser.add_argument("--all", action="store_true", help="the opt-in benchmarks too")
    args = parser.parse_args(argv)
    for name in selected(args.only, names, args.all):
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name} ==", flush=True)
        started = time.perf_counter()
        print(module.run(quick=args.quick), flush=True)
        print(f"({time.perf_counter() - started:.1f} s)\n", flush=True)
    if not args.only and not args.all:
        left_out = [name for name in OPT_IN if name in names]
        print(f"left out: {', '.join(f'{n} ({OPT_IN[n]})' for n in left_out)}; "
              f"to run: python -m bench {' '.join(left_out)} (or --all)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
