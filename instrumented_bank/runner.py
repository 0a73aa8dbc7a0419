"""Start every bank service as its own process, wait until all are healthy, stop them all.

Each child runs in a session of its own, so a Ctrl-C at the terminal reaches only the
runner, which then stops every child (SIGTERM, so each flushes its spans; SIGKILL for
stragglers). A child also exits by itself when the runner disappears without stopping it
(``instrumented_bank.service`` watches its parent), so nothing is left behind.
``python -m instrumented_bank`` runs the bank with traffic (as ``critpath bank`` does).
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from instrumented_bank.service import PARENT_PID_ENV
from instrumented_bank.settings import SERVICE_NAMES, BankSettings

LOG_DIR = "logs"
#: How to move the bank's ports, as ``critpath bank`` and ``python -m instrumented_bank``
#: spell it; a program with its own flag (``critpath demo --bank-base-port``) passes that.
BASE_PORT_HINT = "--base-port (or the BANK_BASE_PORT environment variable)"


class BankStartError(RuntimeError):
    """The bank could not start; the message says which service and why."""


class PortInUseError(BankStartError):
    """A service's port is taken by another program."""

    def __init__(
        self, service: str, port: int, settings: BankSettings, hint: str = BASE_PORT_HINT
    ) -> None:
        super().__init__(
            f"port {port} is already in use, so the {service} service cannot listen on it. "
            f"The bank needs {len(SERVICE_NAMES)} consecutive ports from its base port "
            f"({settings.base_port}..{settings.base_port + len(SERVICE_NAMES) - 1}); "
            f"choose another base port with {hint}."
        )
        self.service = service
        self.port = port


def find_taken_port(settings: BankSettings) -> tuple[str, int] | None:
    """The first (service, port) whose port cannot be bound on the bank's host, or ``None``."""
    for name in SERVICE_NAMES:
        port = settings.port_of(name)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # Same option uvicorn sets, so a port in TIME_WAIT counts as free, as it will be.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((settings.host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return name, port
                raise
    return None


@dataclass
class RunningBank:
    """The bank's child processes. Use as a context manager, or call :meth:`stop`."""

    settings: BankSettings
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    log_dir: Path | None = None
    base_port_hint: str = BASE_PORT_HINT

    @property
    def gateway_url(self) -> str:
        """Where the app's journeys enter."""
        return self.settings.url_of("gateway")

    @property
    def card_processing_url(self) -> str:
        """Where the card network sends authorisations."""
        return self.settings.url_of("card-processing")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM every child (each flushes its telemetry), then SIGKILL any straggler."""
        alive = [p for p in self.processes.values() if p.poll() is None]
        for process in alive:
            _signal(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in alive:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(process, signal.SIGKILL)
                process.wait()

    def __enter__(self) -> RunningBank:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _signal(process: subprocess.Popen, signum: int) -> None:
    try:
        process.send_signal(signum)
    except ProcessLookupError:
        pass  # exited between the check and the signal


def start_bank(
    settings: BankSettings,
    *,
    env: Mapping[str, str] | None = None,
    startup_timeout_s: float = 60.0,
    base_port_hint: str = BASE_PORT_HINT,
) -> RunningBank:
    """Start every service and return once all answer ``/healthz``.

    ``env`` adds to (and overrides) this process's environment for the children: the
    place for ``OTEL_*`` settings. Raises :class:`PortInUseError` when a port is taken and
    :class:`BankStartError` when a service exits or stays unhealthy; nothing is left
    running in either case. Each child's output goes to ``DATA_DIR/logs/NAME.log``.
    ``base_port_hint`` is how the port error tells the user to move the bank's ports.
    """
    taken = find_taken_port(settings)
    if taken:
        raise PortInUseError(taken[0], taken[1], settings, base_port_hint)
    log_dir = settings.data_dir / LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    child_env = {**os.environ, **(env or {}), **settings.to_env(), PARENT_PID_ENV: str(os.getpid())}
    bank = RunningBank(settings, log_dir=log_dir, base_port_hint=base_port_hint)
    try:
        for name in SERVICE_NAMES:
            with (log_dir / f"{name}.log").open("ab") as log:
                bank.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "instrumented_bank.service", name],
                    env=child_env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Own process group: a Ctrl-C at the terminal reaches the runner only,
                    # which then stops the children in order (flushing their spans).
                    start_new_session=True,
                )
        _wait_healthy(bank, startup_timeout_s)
    except BaseException:
        bank.stop()
        raise
    return bank


def _wait_healthy(bank: RunningBank, timeout_s: float) -> None:
    pending = set(bank.processes)
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as http:
        while pending:
            for name in sorted(pending):
                process = bank.processes[name]
                if process.poll() is not None:
                    raise _exit_error(bank, name, process.returncode)
                try:
                    if http.get(f"{bank.settings.url_of(name)}/healthz").status_code == 200:
                        pending.discard(name)
                except httpx.TransportError:
                    pass  # not listening yet
            if pending and time.monotonic() > deadline:
                raise BankStartError(
                    f"{', '.join(sorted(pending))} did not become healthy "
                    f"within {timeout_s:.0f} s; "
                    f"see the logs in {bank.log_dir}"
                )
            if pending:
                time.sleep(0.1)


def _exit_error(bank: RunningBank, name: str, code: int) -> BankStartError:
    log_file = bank.log_dir / f"{name}.log" if bank.log_dir else None
    tail = log_file.read_text(errors="replace")[-2000:] if log_file and log_file.exists() else ""
    if "address already in use" in tail.lower():
        return PortInUseError(
            name, bank.settings.port_of(name), bank.settings, bank.base_port_hint
        )
    return BankStartError(f"the {name} service exited with code {code} while starting:\n{tail}")
