"""`critpath demo` as a user runs it: --help, its exit codes, and a short headless run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

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
