"""The embedded store: SQLite in ``--data-dir``, so a restart resumes the live view.

It keeps two things: snapshots of the live aggregates (``LiveState.snapshot``) and the
exemplar traces, whole. :class:`StoreWriter` is the pipeline consumer that writes
them every ``snapshot_interval_seconds`` and once more on shutdown, and prunes what is
older than ``retention_seconds``. Exemplars stay in the store after they leave the
in-memory set, so a trace id shown yesterday still opens (within retention).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from analyzer.model import Trace
from collector.exemplars import Exemplar
from collector.settings import CollectorSettings
from collector.state import LiveState

log = logging.getLogger(__name__)

DB_NAME = "critpath.sqlite3"
SNAPSHOTS_KEPT = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    taken_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    name TEXT NOT NULL,
    duration_ns INTEGER NOT NULL,
    error INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    received_at REAL NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_by_endpoint ON traces (service, name, received_at);
CREATE INDEX IF NOT EXISTS traces_by_age ON traces (received_at);
"""


class Store:
    """One SQLite database file; safe to call from several threads (one connection, a lock)."""

    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.time) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_NAME
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        # WAL: readers (trace look-ups from the API) never wait for a snapshot being written.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- snapshots -------------------------------------------------------------------

    def save_snapshot(self, snapshot: dict[str, Any]) -> None:
        """Store a snapshot, keeping only the last few (the newest supersedes the rest)."""
        data = json.dumps(snapshot, separators=(",", ":"))
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute("INSERT INTO snapshots (taken_at, data) VALUES (?, ?)",
                             (snapshot.get("taken_at", self._clock()), data))
            self._db.execute(
                "DELETE FROM snapshots WHERE id NOT IN "
                "(SELECT id FROM snapshots ORDER BY id DESC LIMIT ?)", (SNAPSHOTS_KEPT,))

    def latest_snapshot(self, retention_seconds: float) -> dict[str, Any] | None:
        """The newest snapshot younger than ``retention_seconds``, if any."""
        cutoff = self._clock() - retention_seconds
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM snapshots WHERE taken_at >= ? ORDER BY id DESC LIMIT 1",
                (cutoff,)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except ValueError:
            log.warning("newest snapshot in %s is not valid JSON; ignored", self.path)
            return None

    # -- exemplar traces -------------------------------------------------------------

    def save_exemplars(self, exemplars: Sequence[Exemplar]) -> None:
        """Persist exemplar traces (a trace already stored is replaced)."""
        if not exemplars:
            return
        rows = [(e.trace_id, e.service, e.name, e.duration_ns, int(e.error), e.start_ns,
                 e.received_at, json.dumps(e.document, separators=(",", ":")))
                for e in exemplars]
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO traces (trace_id, service, name, duration_ns, error, "
                "start_ns, received_at, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """A stored ``critpath.trace/v1`` document."""
        with self._lock:
            row = self._db.execute("SELECT document FROM traces WHERE trace_id = ?",
                                   (trace_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def recent_exemplars(self, per_endpoint: int) -> list[Exemplar]:
        """Up to ``per_endpoint`` newest stored exemplars of each endpoint, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT trace_id, service, name, duration_ns, error, start_ns, received_at, "
                "document FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY service, name "
                "ORDER BY received_at DESC) AS rank FROM traces) WHERE rank <= ? "
                "ORDER BY received_at", (per_endpoint,)).fetchall()
        return [Exemplar(trace_id=r[0], service=r[1], name=r[2], duration_ns=r[3],
                         error=bool(r[4]), start_ns=r[5], received_at=r[6],
                         document=json.loads(r[7])) for r in rows]

    def prune(self, retention_seconds: float) -> int:
        """Delete traces and snapshots older than the retention; returns traces deleted."""
        cutoff = self._clock() - retention_seconds
        with self._lock, self._db:
            self._db.execute("BEGIN")
            deleted = self._db.execute("DELETE FROM traces WHERE received_at < ?",
                                       (cutoff,)).rowcount
            self._db.execute("DELETE FROM snapshots WHERE taken_at < ?", (cutoff,))
        return deleted


class StoreWriter:
    """Pipeline consumer that persists the live state periodically and on shutdown."""

    def __init__(self, store: Store, state: LiveState, settings: CollectorSettings) -> None:
        self._store = store
        self._state = state
        self._interval = settings.snapshot_interval_seconds
        self._retention = settings.retention_seconds
        self._per_endpoint = settings.exemplars_slowest + settings.exemplars_recent
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._written_version = -1

    def resume(self) -> bool:
        """Load the newest snapshot and stored exemplars into the live state."""
        snapshot = self._store.latest_snapshot(self._retention)
        restored = snapshot is not None and self._state.restore(snapshot)
        self._state.exemplar_set.restore(self._store.recent_exemplars(self._per_endpoint))
        self._written_version = self._state.version
        return restored

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="critpath-store", daemon=True)
        self._thread.start()

    def consume(self, traces: Sequence[Trace]) -> None:
        """Nothing per trace: the state is written in snapshots, off the ingest path."""

    def shutdown(self) -> None:
        """Stop the timer and write one last snapshot (the pipeline has flushed by now)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def flush(self) -> None:
        """Write new exemplars and, if anything changed, a snapshot; prune old data."""
        self._store.save_exemplars(self._state.exemplar_set.take_new())
        version = self._state.version
        if version != self._written_version:
            self._store.save_snapshot(self._state.snapshot())
            self._written_version = version
        self._store.prune(self._retention)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except sqlite3.Error:
                # A full disk or locked file must not stop the collector; the next tick retries.
                log.exception("writing the store at %s failed", self._store.path)
