"""One SQLite file per service, with database calls traced as CLIENT spans.

Connections for request handling are wrapped by the sqlite3 instrumentation, so every
statement becomes a span with ``db.system`` = ``sqlite`` under the request that ran it.
Schema set-up and seeding use plain connections: they happen at start-up, outside any
request, and would otherwise appear as traces of their own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.sdk.trace import TracerProvider

#: How long a writer waits for another one before giving up (SQLite's busy timeout).
BUSY_TIMEOUT_S = 5.0


def open_connection(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode with WAL, safe to share across processes."""
    connection = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


class TracedSession:
    """The connection a request uses. Statements run through cursors because the
    instrumentation traces cursor calls, not ``sqlite3.Connection.execute`` shortcuts."""

    def __init__(self, connection) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters=()):
        """Run one statement as a database span; returns the (traced) cursor."""
        cursor = self._connection.cursor()
        cursor.execute(sql, parameters)
        return cursor

    def executemany(self, sql: str, rows):
        """Run one statement for many rows, as one database span."""
        cursor = self._connection.cursor()
        cursor.executemany(sql, rows)
        return cursor


class Database:
    """A service's SQLite file: ``schema`` is applied once, ``seed`` fills an empty one."""

    def __init__(
        self, path: Path, schema: str, tracer_provider: TracerProvider | None = None
    ) -> None:
        self.path = path
        self._tracer_provider = tracer_provider
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.untraced() as connection:
            connection.executescript(schema)

    @contextmanager
    def untraced(self) -> Iterator[sqlite3.Connection]:
        """A plain connection, for start-up work that belongs to no request."""
        connection = open_connection(self.path)
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def connect(self) -> Iterator[TracedSession]:
        """A traced session for the current request (statements become spans)."""
        raw = open_connection(self.path)
        connection = SQLite3Instrumentor.instrument_connection(
            raw, tracer_provider=self._tracer_provider
        )
        try:
            yield TracedSession(connection)
        finally:
            raw.close()

    @contextmanager
    def transaction(self) -> Iterator[TracedSession]:
        """A traced session inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error).

        ``IMMEDIATE`` takes the write lock up front, so a read-modify-write such as a
        balance check and debit cannot interleave with another request's.
        """
        with self.connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
