"""``critpath gate [FILE… | --from URL…]``: the CI gate (ARCHITECTURE.md §7).

This module does the I/O — reading trace files, a collector's report or the merged
aggregates of several collectors (§9), the config, the baseline; writing the output and
the baseline — and maps what goes wrong to exit codes.
The judgement and its renderings are pure: :mod:`analyzer.gate`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from analyzer.aggregate import Aggregate
from analyzer.config import AnalysisConfig
from analyzer.gate import FORMATS, ReportError, check_report, judge, render
from analyzer.report import build_report
from critpath.exitcodes import ExitCode
from critpath.inputs import (
    InputError,
    add_files_argument,
    analysis_config,
    read_command_traces,
)

ORDER = 30

WINDOWS = ("1m", "5m", "15m", "all")

AGGREGATE_SCHEMA = "critpath.aggregate/v1"

EPILOG = """\
what fails the gate:
  - an endpoint whose deepest critical path exceeds its depth budget
    ([rules.critical-path-depth] budget / budgets);
  - a finding whose rule id or severity is listed in [gate] fail_on
    (default: ["critical"], so with no config at all critical findings fail);
  - with --baseline: an endpoint whose critical path gained a service or depth since the
    baseline, or a finding absent from the baseline (at least as severe as
    [gate] new_findings, default "info").

config: --config PATH, else ./critpath.toml, else [tool.critpath] in ./pyproject.toml, else
  the defaults. The first file found is used whole: when both exist critpath.toml wins
  and pyproject.toml is not read (their tables are not merged).

exit codes:
  0  every check held
  1  a check failed: a depth budget broken, a rule listed in fail_on fired, or a
     regression against the baseline
  2  bad arguments, unreadable or malformed input, config or baseline (a missing
     baseline too, unless --baseline-missing-ok), an unreachable collector or one not
     settled within --settle, or no traces at all (a gate that saw nothing must not pass)

examples:
  critpath gate traces/                                   # text verdict, exit code
  critpath gate traces/ --format github                   # annotations in a GitHub job
  critpath gate traces/ --baseline critpath-baseline.json --format markdown > comment.md
  critpath gate traces/ --baseline critpath-baseline.json --update-baseline
  critpath gate --from http://localhost:8686 --format junit --output critpath.xml
  critpath gate --from http://localhost:8686 --settle 60 \\
      --baseline .critpath/baseline.json --baseline-missing-ok    # in CI, after the tests
  critpath gate --from http://collector-a:8686 --from http://collector-b:8686

in CI, after the tests:
  --settle SECONDS waits (at most that long) until each collector has analysed every trace
  it received: a collector holds a trace until it has been quiet for trace_wait_seconds
  (5 s by default), so a gate run at once can miss the last ones. --baseline-missing-ok
  lets the very first run, before any baseline exists, judge without one instead of
  exiting 2.

several collectors (scale-out by trace id behind a load-balancing exporter):
  with more than one --from, the gate fetches URL/api/aggregate from each, merges them and
  judges the report built from the sum under this gate's config: the same report one
  collector would have given had it received every span. Every collector must answer; one
  that cannot be reached exits 2 and is named.
"""


class GateInputError(Exception):
    """Something the gate needs cannot be had; the message says what and how to fix it."""


class BaselineMissingError(GateInputError):
    """The ``--baseline`` file does not exist (yet)."""


SETTLE_POLL = 0.2
"""Seconds between two looks at a collector's /readyz while settling."""

SETTLE_QUIET = 0.5
"""For a collector whose /readyz has no ``analyzing_traces`` (an older one): how long its
analysed-trace count must hold still, with no live traces, to count as settled —
live_traces drops to 0 as the last traces are taken for analysis, a moment before they
are counted, so 0 alone is not enough there. With ``analyzing_traces`` the answer is exact."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gate",
        help="CI gate: fail on broken depth budgets, listed rules, or regressions",
        description="Judge trace files (or a running collector's report) against the depth "
        "budgets and fail_on rules of the config file, and optionally against a baseline "
        "report; exit 0 when everything holds, 1 when something broke, 2 on bad input.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_files_argument(parser, nargs="*")
    parser.add_argument("--from", dest="from_url", metavar="URL", action="append",
                        help="judge the report of a running collector (fetches URL/api/report) "
                        "instead of trace files; repeat it to judge the merged view of "
                        "several collectors (fetches URL/api/aggregate from each)")
    parser.add_argument("--window", choices=WINDOWS, default="all",
                        help="with --from: the collectors' window to judge (default: all)")
    parser.add_argument("--config", type=Path, metavar="PATH",
                        help="critpath.toml (default: ./critpath.toml or [tool.critpath] "
                        "in ./pyproject.toml, if present)")
    parser.add_argument("--baseline", type=Path, metavar="FILE",
                        help="a previous critpath.report/v1 JSON to compare against")
    parser.add_argument("--baseline-missing-ok", action="store_true",
                        help="when the --baseline file does not exist yet (the first run), "
                        "judge without a baseline instead of exiting 2; an unreadable or "
                        "malformed baseline is still exit 2")
    parser.add_argument("--update-baseline", action="store_true",
                        help="write this run's report to --baseline (checks still run, "
                        "without comparing)")
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="text, markdown (pull-request comment), junit (XML) or "
                        "github (workflow annotations); default: text")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="text: every failure and finding on its own line with its full "
                        "message and evidence (default: a line each, alike failures on one "
                        "endpoint folded; the other formats always carry full messages)")
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help="write the verdict there instead of standard output")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="with --from: how long to wait for each collector (default: 10)")
    parser.add_argument("--settle", type=_seconds, default=0.0, metavar="SECONDS",
                        help="with --from: first wait, at most SECONDS in all, until each "
                        "collector has analysed every trace it received (its /readyz reports "
                        "no live traces and its trace count holds still); exit 2 if one has "
                        "not by then (default: 0, judge at once)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (GateInputError, InputError, ReportError) as exc:
        print(f"critpath gate: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT


def _run(args: argparse.Namespace) -> int:
    if args.files and args.from_url:
        raise GateInputError("give trace files or --from URL, not both")
    if not args.files and not args.from_url:
        raise GateInputError("nothing to judge: give trace files (or a directory, or - for "
                             "stdin) or --from URL of a running collector")
    if args.update_baseline and args.baseline is None:
        raise GateInputError("--update-baseline needs --baseline FILE (where to write it)")

    if args.settle and not args.from_url:
        raise GateInputError("--settle needs --from URL (trace files are complete already)")

    config = analysis_config(args.config)
    if args.from_url and args.settle:
        settle(args.from_url, args.settle, args.timeout)
    if args.from_url and len(args.from_url) > 1:
        report = merged_report(args.from_url, args.window, args.timeout, config)
    elif args.from_url:
        report = fetch_report(args.from_url[0], args.window, args.timeout)
    else:
        report = report_from_files(args.files, config)
    if report["traces"] == 0:
        raise GateInputError("no traces to judge: a gate that saw nothing must not pass")

    baseline = None
    if args.baseline is not None and not args.update_baseline:
        try:
            baseline = read_baseline(args.baseline)
        except BaselineMissingError:
            if not args.baseline_missing_ok:
                raise
            print(f"critpath gate: no baseline at {args.baseline} yet: judged without one "
                  "(--baseline-missing-ok; create it with --update-baseline)", file=sys.stderr)

    result = judge(report, config, baseline)
    document = render(result, args.format, verbose=args.verbose)
    if args.output is not None:
        _write(args.output, document)
        verdict = "passed" if result.passed else "FAILED"
        print(f"critpath gate {verdict}: {args.format} written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(document)
    if args.update_baseline:
        _write(args.baseline, json.dumps(report, indent=2, sort_keys=True) + "\n")
        print(f"critpath gate: baseline written to {args.baseline} "
              f"({report['traces']} traces)", file=sys.stderr)
    return ExitCode.OK if result.passed else ExitCode.FAILED


def report_from_files(files: list[str], config: AnalysisConfig) -> Mapping[str, Any]:
    """The report over trace files, built with the gate's own config."""
    traces = read_command_traces("gate", files, config)
    if not traces:
        raise GateInputError(
            f"no traces found in {', '.join(files)}: a gate that saw nothing must not pass"
        )
    aggregate = Aggregate(config)
    aggregate.add_traces(traces)
    return build_report(aggregate, config, datetime.now(UTC))


def report_url(base: str) -> str:
    """``base``'s report endpoint: ``http://host:8686`` → ``http://host:8686/api/report``.

    A URL that already names ``/api/report`` is used as given.
    """
    base = base.strip()
    if urlsplit(base).path.rstrip("/").endswith("/api/report"):
        return base
    return base.rstrip("/") + "/api/report"


def aggregate_url(base: str) -> str:
    """``base``'s aggregate endpoint: ``http://host:8686`` → ``…/api/aggregate``.

    A URL naming ``/api/report`` (as one ``--from`` may) or ``/api/aggregate`` points at the
    same collector, so it is accepted too.
    """
    base = base.strip().rstrip("/")
    for suffix in ("/api/report", "/api/aggregate"):
        if urlsplit(base).path.endswith(suffix):
            base = base.removesuffix(suffix)
    return base + "/api/aggregate"


def fetch_report(base: str, window: str, timeout: float) -> Mapping[str, Any]:
    """The ``critpath.report/v1`` of a running collector. Raises :class:`GateInputError`."""
    url = report_url(base)
    return check_report(_get_json(base, url, window, timeout), url)


def merged_report(
    bases: list[str], window: str, timeout: float, config: AnalysisConfig
) -> Mapping[str, Any]:
    """The report over the merged aggregates of several collectors (ARCHITECTURE.md §9).

    Collectors behind a load-balancing exporter each hold whole traces, so the sum of
    their aggregates is what one collector receiving every span would hold. Every one must
    answer: a gate judging part of the traffic could pass what the whole would fail.
    Raises :class:`GateInputError` naming the first collector that does not.
    """
    merged = Aggregate(config)
    for base in bases:
        merged.merge(fetch_aggregate(base, window, timeout, config))
    return build_report(merged, config, datetime.now(UTC))


def fetch_aggregate(
    base: str, window: str, timeout: float, config: AnalysisConfig
) -> Aggregate:
    """A running collector's ``critpath.aggregate/v1`` over ``window``, rebuilt under
    ``config``. Raises :class:`GateInputError`."""
    url = aggregate_url(base)
    document = _get_json(base, url, window, timeout)
    if not isinstance(document, dict) or document.get("schema") != AGGREGATE_SCHEMA:
        found = document.get("schema") if isinstance(document, dict) else type(document).__name__
        raise GateInputError(f"{url}: schema is {found!r}, expected {AGGREGATE_SCHEMA!r}")
    try:
        return Aggregate.from_dict(document["aggregate"], config)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GateInputError(f"{url}: not a usable aggregate ({exc!r})") from exc


def readyz_url(base: str) -> str:
    """``base``'s readiness endpoint: ``http://host:8686`` (or ``…/api/report``,
    ``…/api/aggregate``) → ``http://host:8686/readyz``."""
    return aggregate_url(base).removesuffix("/api/aggregate") + "/readyz"


def settle(bases: list[str], seconds: float, timeout: float) -> None:
    """Wait, at most ``seconds`` in all, until every collector has analysed what it received.

    A collector holds each trace until it has been quiet for ``trace_wait_seconds`` before
    analysing it, so right after a test run its report can lack the last traces. Settled
    means: its ``/readyz`` reports ``live_traces == 0`` and ``analyzing_traces == 0``
    (nothing buffered, nothing being folded in); a collector that does not report
    ``analyzing_traces`` must also keep its ``traces`` count still for
    :data:`SETTLE_QUIET` seconds. Raises :class:`GateInputError` naming the first
    collector that is not settled by the deadline, or that cannot be asked.
    """
    deadline = time.monotonic() + seconds
    for base in bases:
        url = readyz_url(base)
        quiet_since: float | None = None  # idle with this trace count since then
        count: int | None = None
        while True:
            now = time.monotonic()
            state = _readiness(url, _get(base, url, {}, timeout))
            idle = state["ready"] and state["live_traces"] == 0
            if idle and state["analyzing_traces"] == 0:
                break  # exact: nothing buffered and nothing between buffer and live state
            if not idle or state["traces"] != count:
                quiet_since = now if idle else None
            count = state["traces"]
            if quiet_since is not None and now - quiet_since >= SETTLE_QUIET:
                break
            if now >= deadline:
                raise GateInputError(_unsettled(url, state, seconds))
            time.sleep(min(SETTLE_POLL, deadline - now))


def _readiness(url: str, response: httpx.Response) -> dict[str, Any]:
    """``ready``, ``live_traces`` and ``traces`` from a /readyz answer (503 = not ready)."""
    if response.status_code not in (200, 503):
        raise GateInputError(f"{url}: the collector answered HTTP {response.status_code} "
                             "(--settle needs a critpath collector's /readyz)")
    try:
        body = response.json()
        live, traces = body["live_traces"], body["traces"]
    except (ValueError, KeyError, TypeError) as exc:
        raise GateInputError(f"{url}: not a critpath collector's /readyz answer "
                             "(no live_traces / traces)") from exc
    if not isinstance(live, int) or not isinstance(traces, int):
        raise GateInputError(f"{url}: live_traces and traces should be integers")
    analyzing = body.get("analyzing_traces")  # None: a collector that does not say
    if analyzing is not None and not isinstance(analyzing, int):
        raise GateInputError(f"{url}: analyzing_traces should be an integer")
    return {"ready": response.status_code == 200, "live_traces": live, "traces": traces,
            "analyzing_traces": analyzing}


def _unsettled(url: str, state: Mapping[str, Any], seconds: float) -> str:
    if not state["ready"]:
        why = "the collector is still not ready"
    elif state["live_traces"]:
        why = (f"the collector still holds {state['live_traces']} live traces (spans still "
               "arriving, or its trace_wait_seconds is longer)")
    elif state["analyzing_traces"]:
        why = f"the collector is still analysing {state['analyzing_traces']} traces"
    else:
        why = "the collector's trace count is still changing"
    return f"{url}: not settled after --settle {seconds:g} s: {why}; raise --settle"


def _seconds(text: str) -> float:
    """An ``argparse`` type: a finite number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return value


def _get_json(base: str, url: str, window: str, timeout: float) -> Any:
    """``GET url?window=`` as JSON; every failure becomes a :class:`GateInputError` that
    names the collector (``base`` is what the user typed after ``--from``)."""
    response = _get(base, url, {"window": window}, timeout)
    if response.status_code != 200:
        raise GateInputError(f"{url}: the collector answered HTTP {response.status_code}")
    try:
        document = response.json()
    except ValueError as exc:
        raise GateInputError(f"{url}: the answer is not JSON") from exc
    return document


def _get(base: str, url: str, params: Mapping[str, str], timeout: float) -> httpx.Response:
    """``GET url``; a failure to get any answer becomes a :class:`GateInputError`."""
    try:
        response = httpx.get(url, params=params, timeout=timeout)
    except httpx.InvalidURL as exc:
        raise GateInputError(f"--from {base}: not a valid URL ({exc})") from exc
    except httpx.UnsupportedProtocol as exc:
        raise GateInputError(f"--from {base}: not an http:// or https:// URL") from exc
    except httpx.TimeoutException as exc:
        raise GateInputError(f"{url}: the collector did not answer within {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise GateInputError(
            f"cannot reach the collector at {url} ({exc or type(exc).__name__}); is "
            "`critpath collect` running there?"
        ) from exc
    return response


def read_baseline(path: Path) -> Mapping[str, Any]:
    """A baseline report from ``path``. Raises :class:`GateInputError` / ``ReportError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise BaselineMissingError(
            f"{path}: no such baseline (create it with --update-baseline, or pass "
            "--baseline-missing-ok to judge without one until it exists)"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise GateInputError(f"{path}: cannot read the baseline ({exc})") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GateInputError(f"{path}: the baseline is not JSON ({exc})") from exc
    return check_report(document, str(path))


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GateInputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
