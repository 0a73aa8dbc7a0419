"""The durable work queue: its interface, the SQLite backend, and the traced
producer (:func:`publish`) and consumer (:class:`QueueWorker`) every backend shares.

Two backends implement :class:`WorkQueue`: :class:`SqliteQueue` here (the embedded
default) and :class:`instrumented_bank.redis_queue.RedisQueue` (Redis Streams, the broker
docker-compose runs). :func:`open_queue` picks one from the ``BANK_QUEUE_URL`` setting.

In SQLite, messages are rows. A consumer *claims* a message by making it invisible for a
lease; it deletes (acks) the row only after its handler succeeded. A consumer that crashes or
restarts mid-message therefore loses nothing: the lease expires and the message is
delivered again (at-least-once, so handlers must be idempotent). A message that keeps
failing is moved to ``dead_letters`` after ``max_attempts`` deliveries.

Trace context travels in the message headers (W3C ``traceparent``): the consumer's span
is a child of the producer's, in the same trace, as the messaging conventions describe.
The queue's own SQL is not traced; its spans are the messaging ones.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from instrumented_bank.db import open_connection
from instrumented_bank.settings import QUEUE_URL_SCHEMES

MESSAGING_SYSTEM = "sqlite-queue"
#: The SQLite backend's file in the data directory, shared by every service process.
QUEUE_FILE = "queue.sqlite"
#: How long a worker waits after its queue failed before polling again.
ERROR_BACKOFF_S = 1.0
log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    destination TEXT NOT NULL,
    headers TEXT NOT NULL,
    body TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (destination, visible_at, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    headers TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Message:
    """A claimed message: ack it by id once handled (a row id in SQLite, an entry id such
    as ``1700000000000-0`` in a Redis stream)."""

    id: int | str
    destination: str
    headers: dict[str, str]
    body: Any
    attempts: int


class WorkQueue(Protocol):
    """What producers and consumers need from a backend. Delivery is at-least-once: a
    claimed message stays stored until :meth:`ack`, and comes back if its consumer dies."""

    #: The ``messaging.system`` attribute of this backend's spans.
    messaging_system: str

    def put(
        self, destination: str, body: Any, headers: Mapping[str, str] | None = None
    ) -> int | str:
        """Store a message and return its id."""

    def claim(self, destination: str) -> Message | None:
        """Take the next deliverable message for ``destination``, or ``None``."""

    def ack(self, message: Message) -> None:
        """Forget a handled message."""

    def release(self, message: Message, error: str) -> None:
        """Give a failed message back for a later retry, or dead-letter it."""

    def depth(self, destination: str | None = None) -> int:
        """How many messages wait (claimed or not)."""

    def dead_letters(self) -> int:
        """How many messages were given up on."""

    def close(self) -> None:
        """Release connections."""


def open_queue(queue_url: str | None, data_dir: Path) -> WorkQueue:
    """The backend ``queue_url`` names: ``redis://``, ``rediss://`` or ``unix://`` selects
    Redis Streams (which must answer now: a service without its broker should fail at
    start, not on its first message); nothing selects the SQLite file in ``data_dir``."""
    if not queue_url:
        return SqliteQueue(data_dir / QUEUE_FILE)
    if not queue_url.startswith(QUEUE_URL_SCHEMES):
        raise ValueError(f"unsupported queue URL {queue_url!r} (expected redis://host:port/db)")
    # Imported here because that module builds on this one (Message), and because only a
    # bank configured for Redis needs a Redis client.
    from instrumented_bank.redis_queue import RedisQueue

    queue = RedisQueue(queue_url)
    queue.check()
    return queue


class SqliteQueue:
    """The queue file shared by producers and consumers (any number of processes)."""

    messaging_system = MESSAGING_SYSTEM

    def __init__(
        self,
        path: Path,
        *,
        lease_s: float = 30.0,
        max_attempts: int = 5,
        retry_backoff_s: float = 0.5,
    ) -> None:
        self.path = path
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = open_connection(path)
        try:
            connection.executescript(_SCHEMA)
        finally:
            connection.close()

    def __repr__(self) -> str:
        return f"SqliteQueue({str(self.path)!r})"

    def _connect(self):
        return open_connection(self.path)

    def close(self) -> None:
        """Nothing to release: every operation opens and closes its own connection."""

    def put(self, destination: str, body: Any, headers: Mapping[str, str] | None = None) -> int:
        """Store a message (no tracing; see :func:`publish`) and return its id."""
        now = time.time()
        connection = self._connect()
        try:
            cursor = connection.execute(
                "INSERT INTO messages (destination, headers, body, enqueued_at, visible_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (destination, json.dumps(dict(headers or {})), json.dumps(body), now, now),
            )
            return int(cursor.lastrowid)
        finally:
            connection.close()

    def claim(self, destination: str) -> Message | None:
        """The oldest visible message for ``destination``, hidden for one lease; or ``None``."""
        now = time.time()
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            row = connection.execute(
                "SELECT id, headers, body, attempts FROM messages"
                " WHERE destination = ? AND visible_at <= ? ORDER BY id LIMIT 1",
                (destination, now),
            ).fetchone()
            if row is None:
                connection.execute("COMMIT")
                return None
            connection.execute(
                "UPDATE messages SET visible_at = ?, attempts = attempts + 1 WHERE id = ?",
                (now + self.lease_s, row[0]),
            )
            connection.execute("COMMIT")
        finally:
            connection.close()
        return Message(row[0], destination, json.loads(row[1]), json.loads(row[2]), row[3] + 1)

    def ack(self, message: Message) -> None:
        """Delete a handled message."""
        connection = self._connect()
        try:
            connection.execute("DELETE FROM messages WHERE id = ?", (message.id,))
        finally:
            connection.close()

    def release(self, message: Message, error: str) -> None:
        """Give a failed message back for a retry after a short backoff (doubling per
        attempt, at most one lease), or dead-letter it after ``max_attempts`` tries."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            if message.attempts >= self.max_attempts:
                connection.execute(
                    "INSERT OR REPLACE INTO dead_letters"
                    " (id, destination, headers, body, attempts, error)"
                    " SELECT id, destination, headers, body, attempts, ?"
                    " FROM messages WHERE id = ?",
                    (error, message.id),
                )
                connection.execute("DELETE FROM messages WHERE id = ?", (message.id,))
            else:
                backoff_s = min(self.retry_backoff_s * 2 ** (message.attempts - 1), self.lease_s)
                connection.execute(
                    "UPDATE messages SET visible_at = ? WHERE id = ?",
                    (time.time() + backoff_s, message.id),
                )
            connection.execute("COMMIT")
        finally:
            connection.close()

    def depth(self, destination: str | None = None) -> int:
        """How many messages wait (claimed or not), for one destination or all."""
        connection = self._connect()
        try:
            if destination is None:
                return connection.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
            return connection.execute(
                "SELECT COUNT(*) FROM messages WHERE destination = ?", (destination,)
            ).fetchone()[0]
        finally:
            connection.close()

    def dead_letters(self) -> int:
        """How many messages were given up on."""
        connection = self._connect()
        try:
            return connection.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
        finally:
            connection.close()


def _messaging_attributes(queue: WorkQueue, destination: str, operation: str) -> dict[str, str]:
    return {
        "messaging.system": queue.messaging_system,
        "messaging.destination.name": destination,
        "messaging.operation.type": operation,
    }


def publish(queue: WorkQueue, tracer: Tracer, destination: str, body: Any) -> int | str:
    """Enqueue ``body`` under a PRODUCER span whose context rides in the message headers."""
    with tracer.start_as_current_span(
        f"send {destination}",
        kind=SpanKind.PRODUCER,
        attributes=_messaging_attributes(queue, destination, "send"),
    ) as span:
        headers: dict[str, str] = {}
        propagate.inject(headers)
        message_id = queue.put(destination, body, headers)
        span.set_attribute("messaging.message.id", str(message_id))
        return message_id


Handler = Callable[[Any], None]


class QueueWorker:
    """A consumer thread: claims messages for its destinations and runs their handlers,
    each under a CONSUMER span that continues the producer's trace."""

    def __init__(
        self,
        queue: WorkQueue,
        tracer: Tracer,
        handlers: Mapping[str, Handler],
        *,
        poll_interval_s: float = 0.05,
    ) -> None:
        self._queue = queue
        self._tracer = tracer
        self._handlers = dict(handlers)
        self._poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="queue-worker", daemon=True)

    def start(self) -> None:
        """Start consuming in the background."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Finish the message in hand, then stop (unclaimed messages stay queued)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def run_once(self) -> int:
        """Handle at most one message per destination; returns how many were handled."""
        handled = 0
        for destination, handler in self._handlers.items():
            message = self._queue.claim(destination)
            if message is not None:
                self._handle(message, handler)
                handled += 1
        return handled

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # a broken queue (file, broker) must not kill the worker silently
                log.exception("queue worker: polling %r failed", self._queue)
                # Back off so an outage logs once a second, not once per poll.
                self._stop.wait(max(self._poll_interval_s, ERROR_BACKOFF_S))
                continue
            if not busy:
                self._stop.wait(self._poll_interval_s)

    def _handle(self, message: Message, handler: Handler) -> None:
        parent = propagate.extract(message.headers)
        attributes = _messaging_attributes(self._queue, message.destination, "process")
        attributes["messaging.message.id"] = str(message.id)
        with self._tracer.start_as_current_span(
            f"process {message.destination}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        ) as span:
            span.set_attribute("messaging.message.delivery_attempt", message.attempts)
            try:
                handler(message.body)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                self._queue.release(message, f"{type(exc).__name__}: {exc}")
                return
            self._queue.ack(message)
