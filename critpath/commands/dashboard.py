"""``critpath dashboard --from A --from B``: the web dashboard over several collectors.

Each collector serves its own dashboard of the traces it holds. Behind a load-balancing
exporter (``routing_key: traceID``) each holds only part of the traffic; this command
serves the same dashboard over their merged view (ARCHITECTURE.md §9): the report is
built from the sum of their ``/api/aggregate`` answers, traces are fetched from whichever
collector holds them (``collector/dashboard/merged.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from critpath.exitcodes import ExitCode
from critpath.serving import server_class

ORDER = 65
DEFAULT_PORT = 8687
"""One above the collector's 8686, so it can run beside a local collector."""

DESCRIPTION = """\
Serve the web dashboard (docs/dashboard.md) over the merged view of several collectors
that each hold whole traces behind a load-balancing exporter: the service graph,
endpoints, findings and traces of all the traffic, as one collector receiving every span
would show them. The report is built here from the sum of the collectors' aggregates
(under this machine's [rules] config); a trace is fetched from whichever collector holds
it. Pages update by polling (every 2.5 s) when any collector's data changes. Collectors
that stop answering are named in a banner while the others' merged view stays on screen.
"""

EPILOG = """\
examples:
  critpath dashboard --from http://collector-a:8686 --from http://collector-b:8686
  critpath dashboard --from http://collector-a:8686 --from http://collector-b:8686 --port 9000
then open http://127.0.0.1:8687/ (or the --host/--port given).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dashboard`` to the ``critpath`` parser."""
    parser = subparsers.add_parser(
        "dashboard",
        help="web dashboard over the merged view of several collectors",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--from", dest="urls", metavar="URL", action="append", required=True,
                        help="a collector's API URL (e.g. http://collector-a:8686); repeat it "
                        "for each collector to merge")
    parser.add_argument("--host", default="127.0.0.1", metavar="HOST",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="PORT",
                        help=f"port to serve the dashboard on (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS",
                        help="how long to wait for each collector (default 3)")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="config file whose [rules] judge the merged report (default "
                        "critpath.toml, or [tool.critpath] in pyproject.toml)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM."""
    from critpath.inputs import InputError, analysis_config

    if args.timeout <= 0:
        print("critpath dashboard: --timeout must be a positive number of seconds", file=sys.stderr)
        return ExitCode.BAD_INPUT
    try:
        config = analysis_config(args.config)
    except InputError as exc:
        print(f"critpath dashboard: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    # Imported here: `critpath --help` should not pay for loading FastAPI.
    from fastapi import FastAPI

    from collector.dashboard import create_dashboard_router
    from collector.dashboard.merged import MergedView
    from collector.net import PortInUse, bind_tcp
    from collector.settings import CollectorSettings

    try:
        view = MergedView(args.urls, config=config, timeout=args.timeout)
    except ValueError as exc:
        print(f"critpath dashboard: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    app = FastAPI(title="critpath dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    # The collectors' default windows (1m, 5m, 15m), which every collector offers unless
    # configured otherwise.
    app.include_router(create_dashboard_router(view, CollectorSettings(receivers=False, analysis=config)))
    try:
        sock = bind_tcp(args.host, args.port, "the dashboard", "--port")
    except PortInUse as exc:
        print(f"critpath dashboard: {exc}", file=sys.stderr)
        view.close()
        return ExitCode.BAD_INPUT
    try:
        return asyncio.run(_serve(app, sock, args.host, view))
    finally:
        sock.close()
        view.close()


async def _serve(app: Any, sock: Any, host: str, view: Any) -> int:
    import uvicorn

    server = server_class()(uvicorn.Config(app, log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=2))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        shown = f"[{host}]" if ":" in host else host
        lines = [f"critpath dashboard: http://{shown}:{sock.getsockname()[1]}/",
                 f"  merging {len(view.urls)} collector{'s' if len(view.urls) != 1 else ''}:"]
        lines += [f"    {url}" for url in view.urls]
        print("\n".join(lines), flush=True)
    try:
        await task
    except SystemExit:
        print("critpath dashboard: could not start (see the error above)", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print("critpath dashboard: stopped", file=sys.stderr)
    return ExitCode.INTERRUPTED if server.interrupted else ExitCode.OK
