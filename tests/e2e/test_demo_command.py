"""`critpath demo` as a user runs it: --help, its exit codes, a short headless run, the
interactive TUI (driven by Textual's pilot), and stopping it by key, by signal or by kill."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from critpath.cli import main
from critpath.exitcodes import ExitCode
from tests.bank.harness import free_base_port
from tests.e2e.test_demo import _free_port


def test_help_teaches_the_modes_and_the_exit_codes(capsys):
    assert main(["demo", "--help"]) == ExitCode.OK
    text = capsys.readouterr().out
    for expected in ("--headless", "--duration", "--scenario", "--data-dir", "exit codes", "examples"):
        assert expected in text


@pytest.mark.parametrize(
    "argv", [["--rate", "0"], ["--headless", "--duration", "-1"]], ids=["zero-rate", "negative-duration"])
def test_nonsense_numbers_are_bad_input(argv, capsys, tmp_path):
    assert main(["demo", "--data-dir", str(tmp_path), *argv]) == ExitCode.BAD_INPUT
    assert "must be positive" in capsys.readouterr().err


def test_a_taken_port_is_bad_input_naming_the_flag_and_nothing_starts(capsys, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["demo", "--headless", "--duration", "1", "--data-dir", str(tmp_path),
                     "--port", str(port), "--otlp-http-port", str(_free_port()),
                     "--otlp-grpc-port", str(_free_port())])
    assert code == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert f"port {port}" in err and "--port" in err
    assert not (tmp_path / "logs" / "collector.log").exists()


@pytest.mark.slow
def test_headless_json_prints_a_report_of_the_running_bank(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "critpath", "demo", "--headless", "--duration", "8",
         "--format", "json", "--data-dir", str(tmp_path), "--port", str(_free_port()),
         "--otlp-http-port", str(_free_port()), "--otlp-grpc-port", str(_free_port()),
         "--bank-base-port", str(free_base_port())],
        capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert result.returncode == ExitCode.OK, result.stderr
    report = json.loads(result.stdout)
    assert report["schema"] == "critpath.report/v1" and report["traces"] > 0
    assert {"gateway", "card-processing"} <= {s["name"] for s in report["services"]}
    assert "dashboard: http://127.0.0.1:" in result.stderr
    assert f"are in {tmp_path.resolve()}" in result.stderr
    assert (tmp_path / "collector").is_dir() and (tmp_path / "logs" / "collector.log").is_file()


@pytest.mark.parametrize(("argv", "error"), [
    (["--duration", "5"], "only with --headless"),
    (["--format", "json"], "only with --headless"),
    (["--headless", "--fault", "merchant_slow_rate=2"], "between 0 and 1"),
], ids=["duration-without-headless", "format-without-headless", "fault-rate-above-one"])
def test_options_that_would_be_ignored_or_are_out_of_range_are_bad_input(argv, error, capsys, tmp_path):
    assert main(["demo", "--data-dir", str(tmp_path), *argv]) == ExitCode.BAD_INPUT
    assert error in capsys.readouterr().err
    assert not (tmp_path / "logs").exists(), "nothing starts"


@pytest.mark.parametrize("argv", [["--mix", "card-payment=1,nonsense=2"], ["--fault", "nonsense=1"]],
                         ids=["unknown-journey", "unknown-fault"])
def test_unknown_journeys_and_faults_are_usage_errors_naming_the_known_ones(argv, capsys):
    assert main(["demo", *argv]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "nonsense" in err and "known" in err


def test_help_documents_the_traffic_mix_the_fault_settings_and_the_stop_keys(capsys):
    assert main(["demo", "--help"]) == ExitCode.OK
    text = " ".join(capsys.readouterr().out.split())
    for expected in ("--mix JOURNEY=WEIGHT", "card-payment", "--fault NAME=VALUE",
                     "merchant_slow_rate", "enrichment_latency_ms", "--seed",
                     "q or ctrl+c", "SIGTERM", "SIGHUP"):
        assert expected in text, expected


def test_a_taken_bank_port_names_the_demos_own_flag(capsys, tmp_path):
    """The bank's own message names `critpath bank --base-port`; the demo's flag differs."""
    base = free_base_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 9))
        taken.listen()
        code = main(["demo", "--headless", "--duration", "1", "--data-dir", str(tmp_path),
                     "--port", str(_free_port()), "--otlp-http-port", str(_free_port()),
                     "--otlp-grpc-port", str(_free_port()), "--bank-base-port", str(base)])
    assert code == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert f"port {base + 9} is already in use" in err
    assert "choose another base port with --bank-base-port." in err
    assert "BANK_BASE_PORT" not in err and " --base-port" not in err
    assert f"are in {tmp_path.resolve()}" in err, "the collector it started was stopped"


# -- the TUI of the interactive demo -------------------------------------------------------

def _unreachable_demo_app(**kwargs):
    from critpath.demo import Demo, DemoSettings, demo_app

    return demo_app(Demo(DemoSettings(api_port=_free_port())), interval=None, **kwargs)


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
def test_q_and_ctrl_c_quit_the_demos_tui(key):
    """Textual 8 binds ctrl+c to a "press q to quit" hint; the demo's TUI quits on both,
    as the Makefile and --help say."""
    app = _unreachable_demo_app()

    async def press() -> None:
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.pause(0.2)
            await pilot.press(key)
            await pilot.pause(0.2)
            assert app.return_code == 0, f"{key} did not quit"

    asyncio.run(press())


def test_ctrl_c_quits_even_from_the_filter_box():
    """An Input binds ctrl+c to copy; the demo's quit binding takes priority."""
    from textual.widgets import Input

    app = _unreachable_demo_app()

    async def press() -> None:
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.press("slash")
            await pilot.pause(0.2)
            assert isinstance(app.focused, Input)
            await pilot.press("ctrl+c")
            await pilot.pause(0.2)
            assert app.return_code == 0

    asyncio.run(press())


def test_the_demos_tui_quits_by_itself_when_a_stop_signal_arrived():
    stop = threading.Event()
    app = _unreachable_demo_app(stop_requested=stop)

    async def wait() -> None:
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.pause(0.5)
            assert app.return_code is None, "quit before any signal"
            stop.set()
            await pilot.pause(1.0)
            assert app.return_code == 0

    asyncio.run(wait())


@pytest.mark.slow
def test_the_interactive_demo_shows_the_banks_endpoints_and_q_stops_everything(
        tmp_path, monkeypatch, capsys):
    """`make demo` as a user sees it: `critpath demo` with its real collector, bank and
    traffic, the TUI driven by Textual's pilot in place of a terminal."""
    import critpath.commands.demo as demo_command
    from tests.tui.conftest import cells
    from tui.widgets.tables import EndpointsTable

    seen: dict = {}

    def drive(app) -> None:
        async def pilot_run() -> None:
            async with app.run_test(size=(160, 46)) as pilot:
                seen["header"] = app.sub_title
                table = app.screen.query_one(EndpointsTable)
                deadline = time.monotonic() + 60
                while True:
                    rows = [" ".join(cells(table, row)) for row in range(table.row_count)]
                    if any("card-processing POST /authorisations" in r for r in rows) and \
                            any("gateway GET /accounts/" in r for r in rows):
                        break
                    assert time.monotonic() < deadline, f"the TUI showed {rows}"
                    await pilot.pause(0.2)
                seen["rows"] = rows
                seen["processes"] = [app.demo.collector, *app.demo.bank.processes.values()]
                await pilot.press("q")
                await pilot.pause(0.2)
                seen["return_code"] = app.return_code
        asyncio.run(pilot_run())

    monkeypatch.setattr(demo_command, "run_tui", drive)
    ports = _demo_ports()
    code = main(["demo", "--data-dir", str(tmp_path), *_port_args(ports)])
    err = capsys.readouterr().err
    assert code == ExitCode.OK, err
    assert seen["return_code"] == 0, "q quit the TUI"
    assert "q or ctrl+c stops everything" in seen["header"]
    assert len(seen["processes"]) == 16, "the collector and the bank's 15 services"
    assert [p.pid for p in seen["processes"] if p.poll() is None] == [], "left running"
    assert _taken(ports) == [], "ports still held"
    assert f"dashboard: http://127.0.0.1:{ports['--port']}/" in err
    assert f"are in {tmp_path.resolve()}" in err


# -- stopping the demo from outside ---------------------------------------------------------

def _demo_ports() -> dict[str, int]:
    return {"--port": _free_port(), "--otlp-http-port": _free_port(),
            "--otlp-grpc-port": _free_port(), "--bank-base-port": free_base_port()}


def _port_args(ports: dict[str, int]) -> list[str]:
    return [text for flag, port in ports.items() for text in (flag, str(port))]


def _taken(ports: dict[str, int]) -> list[int]:
    """The demo's ports (the bank's 15 too) that cannot be bound now."""
    wanted = [ports["--port"], ports["--otlp-http-port"], ports["--otlp-grpc-port"],
              *range(ports["--bank-base-port"], ports["--bank-base-port"] + 15)]
    taken = []
    for port in wanted:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                taken.append(port)
    return taken


def _children(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == pid and state != "Z":
                found.add(int(entry.name))
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


class _RunningDemo:
    """`critpath demo --headless` as a child process, its stderr read as it comes."""

    def __init__(self, data_dir: Path, ports: dict[str, int]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "critpath", "demo", "--headless", "--duration", "600",
             "--data-dir", str(data_dir), *_port_args(ports)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def err(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.err:
            assert self.process.poll() is None, f"the demo exited:\n{self.err}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout_s} s:\n{self.err}"
            time.sleep(0.1)

    def finish(self, timeout_s: float) -> int:
        code = self.process.wait(timeout_s)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_stops_everything_the_demo_started_and_says_where_the_data_is(
        signum, tmp_path):
    ports = _demo_ports()
    demo = _RunningDemo(tmp_path, ports)
    try:
        demo.wait_for("dashboard: http://", timeout_s=120)
        started = _children(demo.process.pid)
        assert len(started) == 16, "the collector and the bank's 15 services"
        time.sleep(1.0)  # traffic flowing
        demo.process.send_signal(signum)
        code = demo.finish(timeout_s=90)
    finally:
        demo.kill()
    assert code == ExitCode.INTERRUPTED, demo.err
    assert _alive(started) == set(), "children left running"
    assert _taken(ports) == [], "ports still held"
    assert f"{signal.Signals(signum).name}: stopping everything" in demo.err
    assert f"are in {tmp_path.resolve()}" in demo.err
    assert (tmp_path / "collector").is_dir() and (tmp_path / "logs" / "collector.log").is_file()


@pytest.mark.slow
def test_a_killed_demo_leaves_nothing_running(tmp_path):
    """SIGKILL runs no handler: each child notices its parent is gone and stops itself
    (the collector through CRITPATH_PARENT_PID, the bank's services through theirs)."""
    ports = _demo_ports()
    demo = _RunningDemo(tmp_path, ports)
    try:
        demo.wait_for("dashboard: http://", timeout_s=120)
        started = _children(demo.process.pid)
        assert len(started) == 16
        demo.process.kill()
        demo.process.wait(10)
        deadline = time.monotonic() + 45
        while _alive(started) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        demo.kill()
        for pid in _alive(locals().get("started", set())):
            os.kill(pid, signal.SIGKILL)  # do not leave them to the next test
    assert _alive(started) == set(), "orphans left running"
    assert _taken(ports) == []
    assert "critpath collect: stopped" in (tmp_path / "logs" / "collector.log").read_text(), \
        "the collector stopped cleanly (store written), not killed"
