"""The durable work queue on Redis Streams (the broker docker-compose runs).

One stream per destination (``bank:queue:<destination>``), consumed by one consumer group
(``bank-workers``) shared by every process that handles that destination:

- produce: ``XADD`` (the W3C trace context travels as message fields next to ``body``);
- consume: ``XREADGROUP`` moves a new entry into the group's pending entries list (PEL),
  owned by this consumer; it stays there, and in the stream, until handled;
- ack: ``XACK`` and ``XDEL``, only after the handler succeeded;
- recover: a consumer that died keeps its claimed entries in the PEL. Once an entry has
  been idle for a lease, any consumer takes it over with ``XAUTOCLAIM`` (which also counts
  the delivery), so a consumer that restarts, under any name, loses nothing.

A failed message is given back by resetting its idle time (``XCLAIM ... IDLE``) so that
``XAUTOCLAIM`` returns it after the retry backoff instead of a whole lease; after
``max_attempts`` deliveries it moves to the ``bank:dead-letters`` stream. Redis's own
commands are not traced: the queue's spans are the messaging ones, as with SQLite.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from typing import Any

import redis

from instrumented_bank.queue import Message

MESSAGING_SYSTEM = "redis"
STREAM_PREFIX = "bank:queue:"
DEAD_LETTERS = "bank:dead-letters"
GROUP = "bank-workers"
#: The field holding the JSON body; every other field is a header (traceparent, …).
BODY_FIELD = "body"


def default_consumer_name() -> str:
    """Unique per process, and readable in ``XINFO CONSUMERS`` (host, then pid)."""
    return f"{socket.gethostname()}-{os.getpid()}"


class RedisQueue:
    """Streams on one Redis database, shared by producers and consumers in any process."""

    messaging_system = MESSAGING_SYSTEM

    def __init__(
        self,
        url: str,
        *,
        consumer: str | None = None,
        lease_s: float = 30.0,
        max_attempts: int = 5,
        retry_backoff_s: float = 0.5,
    ) -> None:
        self.url = url
        self.consumer = consumer or default_consumer_name()
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        # redis-py's client is thread-safe (a connection pool): request handlers publish
        # while the worker thread consumes.
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._groups: set[str] = set()

    def __repr__(self) -> str:
        return f"RedisQueue({self.url!r}, consumer={self.consumer!r})"

    def check(self) -> None:
        """Raise ``ConnectionError`` naming the URL unless the broker answers."""
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise ConnectionError(f"the queue broker at {self.url} does not answer: {exc}") from exc

    @staticmethod
    def stream(destination: str) -> str:
        """The stream key holding ``destination``'s messages."""
        return STREAM_PREFIX + destination

    def put(self, destination: str, body: Any, headers: Mapping[str, str] | None = None) -> str:
        """Append a message (no tracing; see :func:`instrumented_bank.queue.publish`) and
        return its entry id."""
        fields = dict(headers or {})
        if BODY_FIELD in fields:
            raise ValueError(f"{BODY_FIELD!r} is reserved for the message body, not a header")
        fields[BODY_FIELD] = json.dumps(body)
        return self._redis.xadd(self.stream(destination), fields)

    def _ensure_group(self, stream: str) -> None:
        # From id 0, so messages produced before any consumer started are delivered too.
        if stream in self._groups:
            return
        try:
            self._redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # another process created it first: fine
                raise
        self._groups.add(stream)

    def claim(self, destination: str) -> Message | None:
        """A message whose consumer died (idle for a lease), else the next new one, now
        owned by this consumer; or ``None``."""
        stream = self.stream(destination)
        self._ensure_group(stream)
        _, reclaimed, *_ = self._redis.xautoclaim(
            stream, GROUP, self.consumer, min_idle_time=int(self.lease_s * 1000), count=1
        )
        for entry_id, fields in reclaimed:
            if fields:
                attempts = self._deliveries(stream, entry_id)
                return self._message(destination, entry_id, fields, attempts)
            # Deleted from the stream while pending (Redis 6 reports it like this): drop it.
            self._redis.xack(stream, GROUP, entry_id)
        read = self._redis.xreadgroup(GROUP, self.consumer, {stream: ">"}, count=1)
        for _, entries in read or []:
            for entry_id, fields in entries:
                return self._message(destination, entry_id, fields, 1)
        return None

    def _deliveries(self, stream: str, entry_id: str) -> int:
        (pending,) = self._redis.xpending_range(stream, GROUP, entry_id, entry_id, 1)
        return int(pending["times_delivered"])

    @staticmethod
    def _message(destination: str, entry_id: str, fields: dict, attempts: int) -> Message:
        headers = {k: v for k, v in fields.items() if k != BODY_FIELD}
        return Message(entry_id, destination, headers, json.loads(fields[BODY_FIELD]), attempts)

    def ack(self, message: Message) -> None:
        """Acknowledge a handled message and delete it, so the stream holds only work."""
        stream = self.stream(message.destination)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(stream, GROUP, message.id).xdel(stream, message.id).execute()

    def release(self, message: Message, error: str) -> None:
        """Make a failed message claimable again after a backoff (doubling per attempt, at
        most one lease), or dead-letter it after ``max_attempts`` deliveries."""
        stream = self.stream(message.destination)
        if message.attempts >= self.max_attempts:
            fields = {
                "destination": message.destination,
                "id": str(message.id),
                "headers": json.dumps(message.headers),
                BODY_FIELD: json.dumps(message.body),
                "attempts": str(message.attempts),
                "error": error,
            }
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.xadd(DEAD_LETTERS, fields)
                pipe.xack(stream, GROUP, message.id).xdel(stream, message.id).execute()
            return
        backoff_s = min(self.retry_backoff_s * 2 ** (message.attempts - 1), self.lease_s)
        # Pretend the message has been idle for (lease - backoff): XAUTOCLAIM, which waits
        # for a lease of idleness, then hands it out after the backoff. JUSTID and
        # RETRYCOUNT keep the delivery count as it is; the next claim increments it.
        self._redis.xclaim(
            stream,
            GROUP,
            self.consumer,
            min_idle_time=0,
            message_ids=[message.id],
            idle=int((self.lease_s - backoff_s) * 1000),
            retrycount=message.attempts,
            justid=True,
        )

    def pending(self, destination: str) -> int:
        """How many of ``destination``'s messages are claimed and not yet acked."""
        stream = self.stream(destination)
        self._ensure_group(stream)
        return int(self._redis.xpending(stream, GROUP)["pending"])

    def depth(self, destination: str | None = None) -> int:
        """How many messages wait (claimed or not), for one destination or all."""
        if destination is not None:
            return int(self._redis.xlen(self.stream(destination)))
        return sum(
            int(self._redis.xlen(key)) for key in self._redis.scan_iter(match=STREAM_PREFIX + "*")
        )

    def dead_letters(self) -> int:
        """How many messages were given up on."""
        return int(self._redis.xlen(DEAD_LETTERS))

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()
