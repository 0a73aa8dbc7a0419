"""``critpath collect``: options, precedence, a taken port, and a real process stopped by signal."""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from collector.store import Store
from critpath.cli import main
from critpath.commands.collect import settings_from_args
from tests.collector.support import protobuf_request, wait_until

ROOT = Path(__file__).resolve().parents[2]


def args(**given) -> argparse.Namespace:
    base = dict(otlp_http_port=None, otlp_grpc_port=None, port=None, host=None, data_dir=None,
                memory_only=False, config=None)
    return argparse.Namespace(**{**base, **given})


def test_help_lists_the_options(capsys):
    assert main(["collect", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--otlp-http-port", "--otlp-grpc-port", "--port", "--host", "--data-dir",
                   "--config", "CRITPATH_"):
        assert option in out


def test_flags_over_environment_over_file(tmp_path):
    config = tmp_path / "critpath.toml"
    config.write_text('[collect]\nport = 9001\notlp_http_port = 9002\nmax_live_traces = 7\n'
                      '[rules]\nmin_observations = 2\n')
    settings = settings_from_args(args(config=config, otlp_http_port=9999),
                                  environ={"CRITPATH_PORT": "9003"})
    assert (settings.port, settings.otlp_http_port, settings.max_live_traces) == (9003, 9999, 7)
    assert settings.analysis.min_observations == 2
    assert settings.data_dir == Path(".critpath")
    assert settings_from_args(args(memory_only=True), environ={}).data_dir is None


def test_bad_config_is_exit_2(tmp_path, capsys):
    config = tmp_path / "critpath.toml"
    config.write_text("[collect]\nmax_live_trace = 5\n")
    assert main(["collect", "--config", str(config)]) == 2
    assert "max_live_trace: unknown setting" in capsys.readouterr().err


def test_a_taken_port_is_a_clear_error(tmp_path, capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = main(["collect", "--port", "0", "--otlp-grpc-port", "0",
                     "--otlp-http-port", str(port), "--data-dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "--otlp-http-port" in err and "Traceback" not in err


def start(tmp_path: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "critpath.cli", "collect", "--port", "0", "--otlp-http-port", "0",
         "--otlp-grpc-port", "0", "--data-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CRITPATH_TRACE_WAIT_SECONDS": "30"},
    )
    urls: dict[str, str] = {}
    for line in process.stdout:
        match = re.match(r"\s+(OTLP/HTTP|API)\s+(\S+)", line)
        if match:
            urls[match.group(1)] = match.group(2)
        if "store" in line:
            break
    assert set(urls) == {"OTLP/HTTP", "API"}, process.stderr.read()
    return process, urls


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_signal_stops_gracefully_and_flushes_the_store(tmp_path, sig, code):
    process, urls = start(tmp_path)
    try:
        response = httpx.post(urls["OTLP/HTTP"], content=protobuf_request(3),
                              headers={"content-type": "application/x-protobuf"}, timeout=10)
        assert response.status_code == 200
        api = urls["API"].replace("/api/report", "")
        wait_until(lambda: httpx.get(f"{api}/readyz").status_code == 200)
        # The quiet wait is 30 s: only the shutdown flush can get these traces analyzed.
        process.send_signal(sig)
        assert process.wait(timeout=30) == code
    finally:
        if process.poll() is None:
            process.kill()
    store = Store(tmp_path)
    try:
        snapshot = store.latest_snapshot(3600)
        traces = snapshot["history"]["traces"] + sum(b[1]["traces"] for b in snapshot["buckets"])
        assert traces == 3
    finally:
        store.close()
