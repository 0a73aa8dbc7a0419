"""The SQLite store: a restart resumes the live view; exemplars outlive memory; retention."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from collector.app import create_app
from collector.exemplars import Exemplar
from collector.store import Store
from tests.collector.conftest import running
from tests.collector.support import (
    comparable,
    expected_report,
    loopback_settings,
    protobuf_request,
    wait_until,
)

PROTOBUF = {"content-type": "application/x-protobuf"}


def test_restart_resumes_the_live_view_and_exemplars(tmp_path):
    first, second = protobuf_request(6), protobuf_request(4, start_ms=60_000)
    # A quiet wait longer than the test: only shutdown's flush can analyze and store them.
    with running(data_dir=tmp_path, trace_wait_seconds=60) as collector:
        assert httpx.post(collector.otlp_http, content=first, headers=PROTOBUF).status_code == 200
        assert collector.api.get("/api/report").json()["traces"] == 0
    with running(data_dir=tmp_path) as collector:
        report = collector.api.get("/api/report").json()
        assert comparable(report) == expected_report(first)
        rows = collector.api.get("/api/endpoints/web/POST /checkout").json()["exemplars"]
        assert rows
        exemplar = rows[0]["trace_id"]
        assert collector.api.get(f"/api/traces/{exemplar}").status_code == 200
        assert httpx.post(collector.otlp_http, content=second, headers=PROTOBUF).status_code == 200
        wait_until(lambda: collector.runtime.state.traces >= 10)
    with running(data_dir=tmp_path) as collector:
        assert comparable(collector.api.get("/api/report").json()) == expected_report(first, second)
        assert collector.api.get(f"/api/traces/{exemplar}").status_code == 200


def test_periodic_snapshots_are_written_while_running(tmp_path):
    with running(data_dir=tmp_path, snapshot_interval_seconds=0.05) as collector:
        httpx.post(collector.otlp_http, content=protobuf_request(2), headers=PROTOBUF)
        wait_until(lambda: collector.runtime.state.traces >= 2)
        store = Store(tmp_path)
        try:
            wait_until(lambda: (store.latest_snapshot(3600) or {}).get("history") is not None
                       and _stored_traces(store) == 2, what="a snapshot with both traces")
        finally:
            store.close()


def _stored_traces(store: Store) -> int:
    snapshot = store.latest_snapshot(3600)
    return snapshot["history"]["traces"] + sum(b[1]["traces"] for b in snapshot["buckets"])


def test_retention_prunes_old_traces_and_snapshots(tmp_path):
    clock = [1_000_000.0]
    store = Store(tmp_path, clock=lambda: clock[0])
    try:
        old = Exemplar("a" * 32, "web", "GET /", 5, False, 0, clock[0], {"trace_id": "a" * 32})
        store.save_exemplars([old])
        store.save_snapshot({"taken_at": clock[0], "format": 1})
        clock[0] += 100
        new = Exemplar("b" * 32, "web", "GET /", 5, False, 0, clock[0], {"trace_id": "b" * 32})
        store.save_exemplars([new])
        assert store.prune(retention_seconds=50) == 1
        assert store.trace("a" * 32) is None and store.trace("b" * 32) is not None
        assert store.latest_snapshot(retention_seconds=50) is None
    finally:
        store.close()


def test_a_corrupt_snapshot_starts_empty_instead_of_failing(tmp_path):
    store = Store(tmp_path)
    store.save_snapshot({"format": 1, "bucket_seconds": 15, "taken_at": 9e18,
                         "history": {"version": 1}, "buckets": []})
    store.close()
    app = create_app(loopback_settings(data_dir=tmp_path, receivers=False))
    with TestClient(app) as client:
        assert client.get("/api/report").json()["traces"] == 0
