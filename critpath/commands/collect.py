"""``critpath collect``: the live collector (OTLP in; API, dashboard and /metrics out)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from analyzer.config import AnalysisConfig, AnalysisConfigError
from collector.net import PortInUse, bind_tcp, port_free
from collector.settings import ENV_PREFIX, CollectorSettings, SettingsError
from critpath.config import ConfigError, load_config
from critpath.exitcodes import ExitCode
from critpath.serving import server_class

ORDER = 40
DEFAULT_DATA_DIR = Path(".critpath")
#: The process whose disappearance stops this collector (set by ``critpath demo``).
PARENT_PID_ENV = "CRITPATH_PARENT_PID"

EPILOG = f"""\
settings come from flags, then {ENV_PREFIX}* environment variables, then the [collect]
table of the config file; every setting of the table has a variable, e.g.
  {ENV_PREFIX}OTLP_HTTP_PORT, {ENV_PREFIX}MAX_LIVE_TRACES, {ENV_PREFIX}TRACE_WAIT_SECONDS,
  {ENV_PREFIX}BEARER_TOKEN (receivers then require "Authorization: Bearer <token>").
Ctrl-C or SIGTERM stops receiving, analyzes what is buffered and writes the store.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``collect`` and its options."""
    parser = subparsers.add_parser(
        "collect",
        help="run the live collector: OTLP receivers, live graph, API, dashboard, /metrics",
        description="Receive traces over OTLP (HTTP and gRPC), keep the service graph, "
        "endpoint critical-path profiles and findings live, and serve them as an API, "
        "a dashboard and Prometheus metrics.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--otlp-http-port", type=int, metavar="PORT",
                        help="OTLP/HTTP port (default 4318)")
    parser.add_argument("--otlp-grpc-port", type=int, metavar="PORT",
                        help="OTLP/gRPC port (default 4317)")
    parser.add_argument("--port", type=int, metavar="PORT",
                        help="port of the API, dashboard and /metrics (default 8686)")
    parser.add_argument("--host", metavar="HOST",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--data-dir", type=Path, metavar="DIR",
                        help=f"where the store lives (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--memory-only", action="store_true",
                        help="keep no store: a restart starts from nothing")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="config file (default critpath.toml, or [tool.critpath] "
                        "in pyproject.toml)")
    parser.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace,
                       environ: dict[str, str] | None = None) -> CollectorSettings:
    """Flags over environment over the config file's ``[collect]`` table."""
    config = load_config(args.config)
    table: dict[str, Any] = dict(config.get("collect", {}))
    overrides = {
        "otlp_http_port": args.otlp_http_port, "otlp_grpc_port": args.otlp_grpc_port,
        "port": args.port, "host": args.host, "data_dir": args.data_dir,
    }
    settings = CollectorSettings.from_sources(
        table, os.environ if environ is None else environ, overrides,
        analysis=AnalysisConfig.from_mapping(config),
    )
    if args.memory_only:
        return _replace(settings, data_dir=None)
    if settings.data_dir is None:
        return _replace(settings, data_dir=DEFAULT_DATA_DIR)
    return settings


def _replace(settings: CollectorSettings, **changes: Any) -> CollectorSettings:
    return dataclasses.replace(settings, **changes)


def run(args: argparse.Namespace) -> int:
    """Bind every port first (a taken port is a one-line error), then serve until stopped."""
    try:
        settings = settings_from_args(args)
    except (ConfigError, SettingsError, AnalysisConfigError) as exc:
        print(f"critpath collect: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    _watch_parent(os.environ.get(PARENT_PID_ENV, ""))
    # Imported here: `critpath --help` should not pay for loading FastAPI and grpcio.
    from collector.app import create_app
    from collector.runtime import Listeners

    try:
        with _listening(settings) as (api, otlp_http):
            app = create_app(settings, Listeners(otlp_http=otlp_http))
            return asyncio.run(_serve(app, api, settings))
    except PortInUse as exc:
        print(f"critpath collect: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT


def _watch_parent(parent_pid: str, interval_s: float = 1.0) -> None:
    """With ``CRITPATH_PARENT_PID`` set (``critpath demo`` sets it), SIGTERM this process
    once that pid is no longer its parent, as the demo bank's services do: a demo killed
    outright (SIGKILL) leaves no collector behind holding its ports. SIGTERM stops the
    collector as Ctrl-C does (buffered traces analyzed, store written)."""
    if not parent_pid.isdigit():
        return
    import threading
    import time

    def watch() -> None:
        while os.getppid() == int(parent_pid):
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@contextlib.contextmanager
def _listening(settings: CollectorSettings) -> Iterator[tuple[Any, Any]]:
    host = settings.host
    api = bind_tcp(host, settings.port, "the API", "--port")
    try:
        otlp_http = bind_tcp(host, settings.otlp_http_port, "OTLP/HTTP", "--otlp-http-port")
    except PortInUse:
        api.close()
        raise
    # gRPC binds its own socket; check now so a taken port is reported like the others.
    if settings.otlp_grpc_port and not port_free(host, settings.otlp_grpc_port):
        api.close()
        otlp_http.close()
        raise PortInUse(f"cannot listen for OTLP/gRPC on {host}:{settings.otlp_grpc_port} "
                        "(address already in use); is another collector running? "
                        "choose another port with --otlp-grpc-port")
    try:
        yield api, otlp_http
    finally:
        api.close()
        otlp_http.close()


async def _serve(app: Any, api: Any, settings: CollectorSettings) -> int:
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2,
                            access_log=False)
    server = server_class()(config)
    task = asyncio.create_task(server.serve(sockets=[api]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        _announce(app, api, settings)
    try:
        await task
    except SystemExit:  # uvicorn exits this way when the app's startup failed
        print("critpath collect: could not start (see the error above)", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print("critpath collect: stopped; buffered traces analyzed"
          + (f", store written to {settings.data_dir}" if settings.data_dir else ""),
          file=sys.stderr)
    return ExitCode.INTERRUPTED if server.interrupted else ExitCode.OK


def _announce(app: Any, api: Any, settings: CollectorSettings) -> None:
    runtime = app.state.runtime
    host = settings.host
    shown = f"[{host}]" if ":" in host else host
    api_port = api.getsockname()[1]
    lines = [f"critpath collect: listening on {host}"]
    if runtime.http_receiver is not None:
        lines.append(f"  OTLP/HTTP  http://{shown}:{runtime.http_receiver.port}/v1/traces")
    if runtime.grpc_receiver is not None:
        lines.append(f"  OTLP/gRPC  {shown}:{runtime.grpc_receiver.port}")
    lines.append(f"  API        http://{shown}:{api_port}/api/report   (docs: /docs)")
    lines.append(f"  dashboard  http://{shown}:{api_port}/")
    lines.append(f"  metrics    http://{shown}:{api_port}/metrics")
    lines.append(f"  store      {settings.data_dir or 'none (memory only)'}")
    print("\n".join(lines), flush=True)
