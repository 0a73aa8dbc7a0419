"""Fixtures: a running collector (API through TestClient, receivers on real loopback ports)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.app import create_app
from collector.runtime import CollectorRuntime
from tests.collector.support import loopback_settings


@dataclass
class Running:
    """A started collector: its API client, runtime and receiver addresses."""

    api: TestClient
    runtime: CollectorRuntime

    @property
    def otlp_http(self) -> str:
        return f"http://127.0.0.1:{self.runtime.http_receiver.port}/v1/traces"

    @property
    def otlp_grpc(self) -> str:
        return f"127.0.0.1:{self.runtime.grpc_receiver.port}"

    def metric(self, line_start: str) -> float:
        """The value of the first /metrics sample line starting with ``line_start``."""
        for line in self.api.get("/metrics").text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@contextmanager
def running(**changes: Any) -> Iterator[Running]:
    """A collector with ``changes`` applied to the loopback settings, stopped afterwards."""
    app = create_app(loopback_settings(**changes))
    with TestClient(app) as client:
        yield Running(client, app.state.runtime)


@pytest.fixture
def collector() -> Iterator[Running]:
    with running() as started:
        yield started


@pytest.fixture
def start_collector() -> Callable[..., Any]:
    """``with start_collector(max_live_traces=1) as c:`` for tests needing other settings."""
    return running
