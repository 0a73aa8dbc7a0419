"""The runner: a clear error when a port is taken, and nothing left behind on SIGTERM, on
Ctrl-C (SIGINT) or when the runner itself is killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from critpath.cli import main as critpath_main
from instrumented_bank.runner import PortInUseError, find_taken_port, start_bank
from instrumented_bank.settings import BankSettings
from tests.bank.harness import free_base_port
from tests.bank.otlp_receiver import running_receiver

ROOT = Path(__file__).resolve().parents[2]


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    # A zombie has exited; only its parent's wait is missing.
    return not (status.exists() and "State:\tZ" in status.read_text())


def wait_until(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_a_taken_port_names_the_port_the_service_and_the_way_out(tmp_path, capsys):
    base = free_base_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 3))
        squatter.listen()
        settings = BankSettings(base_port=base, data_dir=tmp_path)
        assert find_taken_port(settings) == ("card-processing", base + 3)
        with pytest.raises(PortInUseError) as caught:
            start_bank(settings)
        message = str(caught.value)
        assert f"port {base + 3} is already in use" in message
        assert "card-processing" in message and "--base-port" in message
        assert not (tmp_path / "logs").exists()  # nothing was started

        code = critpath_main(
            ["bank", "--base-port", str(base), "--data-dir", str(tmp_path), "--duration", "1"]
        )
        assert code == 2
        assert f"port {base + 3} is already in use" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(
    "command, how",
    [
        (["-m", "instrumented_bank"], "sigterm"),
        # Ctrl-C: the terminal sends SIGINT to its foreground process group, which is the
        # runner's (the services run in sessions of their own).
        (["-m", "critpath", "bank"], "ctrl-c"),
    ],
)
def test_sigterm_or_ctrl_c_stops_the_bank_and_every_service(tmp_path, command, how):
    base = free_base_port()
    with running_receiver() as receiver:
        runner = subprocess.Popen(
            [
                sys.executable,
                *command,
                "--base-port",
                str(base),
                "--rate",
                "2",
                "--data-dir",
                str(tmp_path),
                "--otlp-endpoint",
                receiver.endpoint,
            ],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            lines = []
            for line in runner.stderr:
                lines.append(line)
                if "bank: ready" in line or "bank: " in line and "in use" in line:
                    break
            assert "bank: ready" in lines[-1], "".join(lines)
            services = children_of(runner.pid)
            assert len(services) == 15
            # The services are outside the runner's process group: a Ctrl-C reaches only it.
            assert all(os.getpgid(pid) != runner.pid for pid in services)
            time.sleep(1.0)  # some traffic flows
            if how == "ctrl-c":
                os.killpg(runner.pid, signal.SIGINT)
            else:
                runner.send_signal(signal.SIGTERM)
            _, rest = runner.communicate(timeout=30)
        finally:
            if runner.poll() is None:
                runner.kill()
        assert runner.returncode == 130, rest
        assert "requests" in rest and "bank: stopping services" in rest
        assert "Traceback" not in rest and "KeyboardInterrupt" not in rest
        assert not [pid for pid in services if alive(pid)]
        assert find_taken_port(BankSettings(base_port=base)) is None
        assert receiver.spans(), "the services flushed their spans before exiting"


def test_a_service_whose_runner_is_killed_stops_by_itself(tmp_path):
    """SIGKILL leaves the runner no chance to clean up; the parent watch does it instead."""
    # The runner's pid reaches the service explicitly (as BANK_PARENT_PID does), so the
    # watch works even when the runner dies before the service got to start watching.
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import sys, time; from instrumented_bank.service import watch_parent; "
        "watch_parent(int(sys.argv[1]), interval_s=0.1); time.sleep(60)', str(os.getpid())])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    middle = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        child = int(middle.stdout.readline())
        assert alive(child)
        middle.kill()
        middle.wait()
        assert wait_until(lambda: not alive(child), 10), "the orphaned service kept running"
    finally:
        if middle.poll() is None:
            middle.kill()
