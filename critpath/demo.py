"""The whole system at once: a collector, the demo bank sending it traces, and traffic.

:class:`Demo` starts the parts in dependency order and stops them in reverse, so nothing
is left running whatever goes wrong. The collector runs as its own process (``python -m
critpath collect``) so the TUI in this process stays responsive while it ingests; the bank
is the runner's set of service processes; traffic runs in a thread of this process.

Every child also watches this process and exits by itself if it disappears without
stopping them (killed outright): the bank's services through ``BANK_PARENT_PID``, the
collector through ``CRITPATH_PARENT_PID`` (see ``critpath collect``). :func:`demo_app`
builds the TUI the interactive demo shows.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from instrumented_bank.journeys import BankApp
from instrumented_bank.runner import RunningBank, start_bank
from instrumented_bank.settings import BankSettings
from instrumented_bank.traffic import TrafficGenerator, TrafficStats

DEFAULT_DATA_DIR = Path("critpath-data")
#: Set for the collector child: the process whose disappearance should stop it.
PARENT_PID_ENV = "CRITPATH_PARENT_PID"


class DemoError(RuntimeError):
    """The demo could not start; the message names the cause and the fix."""


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """Where each part listens and how hard the traffic pushes."""

    scenario: str = "as-is"
    rate: float = 20.0
    data_dir: Path = DEFAULT_DATA_DIR
    host: str = "127.0.0.1"
    api_port: int = 8686
    otlp_http_port: int = 4318
    otlp_grpc_port: int = 4317
    bank_base_port: int = 9000
    trace_wait_seconds: float = 2.0
    """How long a trace must be quiet before the collector analyzes it (short: a demo)."""
    seed: int | None = None
    faults: Mapping[str, float] = field(default_factory=dict)
    """Fault-rate and latency overrides for the bank (``Faults`` field names)."""
    mix: Mapping[str, float] | None = None
    """Journey weights for the traffic (None: the bank's default mix)."""

    @property
    def api_url(self) -> str:
        """The collector's API, dashboard and /metrics."""
        return f"http://{self.host}:{self.api_port}"

    @property
    def collector_dir(self) -> Path:
        return self.data_dir / "collector"

    @property
    def bank_dir(self) -> Path:
        return self.data_dir / "bank"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"


@dataclass
class Demo:
    """The running demo. Use as a context manager: ``with Demo(settings) as demo: ...``."""

    settings: DemoSettings
    say: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr))
    collector: subprocess.Popen | None = None
    bank: RunningBank | None = None
    traffic: TrafficGenerator | None = None
    _app: BankApp | None = None
    _traffic_thread: threading.Thread | None = None
    _stop_traffic: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Demo:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, *, traffic_progress: TextIO | None = None) -> None:
        """Collector first (it must be ready to receive), then the bank, then traffic."""
        s = self.settings
        _check_ports_free(s)
        for folder in (s.collector_dir, s.bank_dir, s.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.say(f"starting the collector (log: {s.log_dir / 'collector.log'})")
        self.collector = self._start_collector()
        self._wait_ready(timeout_s=60.0)
        self.say(f"starting the bank ({s.scenario}; logs: {s.bank_dir / 'logs'})")
        bank_settings = BankSettings(scenario=s.scenario, base_port=s.bank_base_port,
                                     host=s.host, data_dir=s.bank_dir).with_faults(**s.faults)
        self.bank = start_bank(bank_settings, env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{s.host}:{s.otlp_http_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            # Export every half second so the live views move while you watch.
            "OTEL_BSP_SCHEDULE_DELAY": "500",
        }, base_port_hint="--bank-base-port")
        self._app = BankApp(self.bank.gateway_url, self.bank.card_processing_url)
        self.traffic = TrafficGenerator(self._app, rate=s.rate, accounts=bank_settings.accounts,
                                        mix=s.mix, seed=s.seed)
        self._traffic_thread = threading.Thread(
            target=self.traffic.run,
            kwargs={"stop": self._stop_traffic, "progress": traffic_progress},
            name="demo-traffic", daemon=True)
        self._traffic_thread.start()

    def _start_collector(self) -> subprocess.Popen:
        s = self.settings
        env = {**os.environ, "CRITPATH_TRACE_WAIT_SECONDS": str(s.trace_wait_seconds),
               PARENT_PID_ENV: str(os.getpid())}
        log = (s.log_dir / "collector.log").open("ab")
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "critpath", "collect", "--host", s.host,
                 "--port", str(s.api_port), "--otlp-http-port", str(s.otlp_http_port),
                 "--otlp-grpc-port", str(s.otlp_grpc_port), "--data-dir", str(s.collector_dir)],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C reaches only us, and we stop it after the bank
                # so the bank's last spans still arrive. It exits by itself if we vanish.
                start_new_session=True,
            )
        finally:
            log.close()

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=1.0) as http:
            while time.monotonic() < deadline:
                assert self.collector is not None
                if self.collector.poll() is not None:
                    raise DemoError(
                        f"the collector exited with code {self.collector.returncode}; "
                        f"see {self.settings.log_dir / 'collector.log'}")
                try:
                    if http.get(f"{self.settings.api_url}/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                time.sleep(0.2)
        raise DemoError(f"the collector was not ready after {timeout_s:.0f} s; "
                        f"see {self.settings.log_dir / 'collector.log'}")

    def traffic_stats(self) -> TrafficStats | None:
        return self.traffic.stats if self.traffic else None

    def report(self, window: str = "all") -> dict[str, Any]:
        """The collector's current ``critpath.report/v1``."""
        response = httpx.get(f"{self.settings.api_url}/api/report",
                             params={"window": window}, timeout=10.0)
        response.raise_for_status()
        return response.json()

    def stop_traffic(self) -> None:
        """Stop the traffic and let the bank's last requests finish."""
        self._stop_traffic.set()
        if self._traffic_thread is not None:
            self._traffic_thread.join(timeout=30.0)

    def settle(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Stop traffic and the bank (flushing its spans), then wait until the collector has
        analyzed every trace it received: the report's trace count stops changing."""
        self.stop_traffic()
        if self.bank is not None:
            self.bank.stop()
        quiet = self.settings.trace_wait_seconds + 1.0
        deadline = time.monotonic() + timeout_s
        last = self.report()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            current = self.report()
            if current["traces"] == last["traces"] and current["traces"] > 0:
                return current
            last = current
        return last

    def stop(self) -> None:
        """Stop everything this demo started, in reverse order. Safe to call twice."""
        self._stop_traffic.set()
        if self._traffic_thread is not None:
            self._traffic_thread.join(timeout=30.0)
        if self._app is not None:
            self._app.close()
            self._app = None
        if self.bank is not None:
            self.bank.stop()
        if self.collector is not None and self.collector.poll() is None:
            self.collector.terminate()  # SIGTERM: the collector flushes its store
            try:
                self.collector.wait(timeout=30.0)
            except subprocess.TimeoutExpired:
                self.collector.kill()
                self.collector.wait()


def _check_ports_free(s: DemoSettings) -> None:
    """Fail before starting anything when a port is taken, naming the flag that moves it."""
    wanted = [(s.api_port, "--port"), (s.otlp_http_port, "--otlp-http-port"),
              (s.otlp_grpc_port, "--otlp-grpc-port")]
    for port, flag in wanted:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((s.host, port))
            except OSError:
                raise DemoError(
                    f"port {port} on {s.host} is taken (is another collector running?); "
                    f"stop it or choose another with {flag}") from None


def demo_app(demo: Demo, *, stop_requested: threading.Event | None = None,
             window: str = "1m", interval: float = 2.0) -> Any:
    """The TUI the interactive demo shows, live on ``demo``'s collector: ``critpath tui``
    plus ctrl+c as a second quit key (Textual only hints "press q" for it), and it quits
    by itself soon after ``stop_requested`` is set (a signal arrived while it runs).

    Imported on call: the headless demo and the rest of the CLI do not load Textual.
    """
    from textual.binding import Binding

    import tui.app
    from tui.app import CritpathApp
    from tui.sources import CollectorSource

    class DemoApp(CritpathApp):
        # Textual reads a relative CSS_PATH beside the subclass's module: name the TUI's.
        CSS_PATH = str(Path(tui.app.__file__).parent / CritpathApp.CSS_PATH)
        BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]
        SUB_TITLE = f"the demo bank ({demo.settings.scenario}): q or ctrl+c stops everything"

        def on_mount(self) -> None:
            # Textual also calls CritpathApp.on_mount (handlers run along the MRO).
            if stop_requested is not None:
                self.set_interval(0.2, self._stop_if_requested)

        def _stop_if_requested(self) -> None:
            if stop_requested is not None and stop_requested.is_set():
                self.exit()

    app = DemoApp(CollectorSource(demo.settings.api_url), window=window, interval=interval)
    app.demo = demo
    return app
