"""A throwaway redis-server on loopback for the Redis queue tests.

The real server, not a fake: consumer groups, pending entries and XAUTOCLAIM are exactly
what the tests are about. Missing the binary fails the test (CI must run these), with the
command that installs it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

INSTALL_HINT = (
    "redis-server is not installed; the Redis queue tests need it: "
    "run `apt-get install redis-server` (or scripts/install-test-deps)"
)


def free_port() -> int:
    """A loopback port free right now (the kernel picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_redis(work_dir: Path, start_timeout_s: float = 10.0) -> Iterator[str]:
    """Start redis-server (no persistence) and yield its URL; stop it afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(work_dir)]
    command += ["--save", "", "--appendonly", "no"]  # nothing written to disk
    log = (work_dir / "redis.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not start on port {port}: "
                        f"{(work_dir / 'redis.log').read_text(errors='replace')}"
                    ) from None
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
