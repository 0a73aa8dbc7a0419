"""The Redis Streams queue backend against a real redis-server: trace context across a
message, ack only after handling, redelivery after a consumer is killed, dead letters,
and choosing the backend by setting."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumented_bank.queue import QueueWorker, SqliteQueue, open_queue, publish
from instrumented_bank.redis_queue import DEAD_LETTERS, GROUP, RedisQueue
from instrumented_bank.settings import BankSettings
from tests.bank.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tracing():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "queue-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test"), exporter
    provider.shutdown()


@pytest.fixture
def queues(redis_url):
    """Opens RedisQueues on the test server and closes them afterwards."""
    opened: list[RedisQueue] = []

    def open_one(**options) -> RedisQueue:
        queue = RedisQueue(redis_url, **options)
        opened.append(queue)
        return queue

    yield open_one
    for queue in opened:
        queue.close()


def test_consumer_span_continues_the_producers_trace_and_acks(queues, redis_url, tracing):
    tracer, exporter = tracing
    queue = queues(consumer="push-1")
    handled = []
    with tracer.start_as_current_span("POST /authorisations", kind=SpanKind.SERVER):
        message_id = publish(queue, tracer, "push.notifications", {"account_id": "acc-001"})
    assert queue.depth("push.notifications") == 1

    # The trace context is a field of the stream entry itself, next to the body.
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    ((entry_id, fields),) = raw.xrange(RedisQueue.stream("push.notifications"))
    raw.close()
    producer = next(s for s in exporter.get_finished_spans() if s.kind is SpanKind.PRODUCER)
    assert entry_id == message_id
    assert fields["traceparent"].split("-")[1:3] == [
        f"{producer.context.trace_id:032x}",
        f"{producer.context.span_id:016x}",
    ]

    worker = QueueWorker(queue, tracer, {"push.notifications": handled.append})
    assert worker.run_once() == 1
    assert handled == [{"account_id": "acc-001"}]
    assert queue.depth() == 0 and queue.pending("push.notifications") == 0

    spans = {s.kind: s for s in exporter.get_finished_spans()}
    consumer, server = spans[SpanKind.CONSUMER], spans[SpanKind.SERVER]
    assert producer.parent.span_id == server.context.span_id
    assert consumer.parent.span_id == producer.context.span_id
    assert consumer.context.trace_id == producer.context.trace_id == server.context.trace_id
    assert producer.attributes["messaging.system"] == consumer.attributes["messaging.system"]
    assert consumer.attributes["messaging.system"] == "redis"
    assert consumer.attributes["messaging.destination.name"] == "push.notifications"
    assert consumer.attributes["messaging.message.id"] == message_id
    assert producer.attributes["messaging.message.id"] == message_id
    assert consumer.attributes["messaging.message.delivery_attempt"] == 1


def test_ack_comes_only_after_the_handler_finished(queues, tracing):
    tracer, _ = tracing
    queue = queues(consumer="feed-1")
    queue.put("feed", {"n": 1})
    seen_while_handling = []

    def handler(body):
        # Mid-handling the message is claimed by this consumer but still stored.
        seen_while_handling.append((queue.pending("feed"), queue.depth("feed")))

    assert QueueWorker(queue, tracer, {"feed": handler}).run_once() == 1
    assert seen_while_handling == [(1, 1)]
    assert (queue.pending("feed"), queue.depth("feed")) == (0, 0)


def test_a_killed_consumer_loses_nothing(queues, redis_url):
    producer = queues()
    message_id = producer.put("feed", {"n": 1})
    # A consumer process claims the message, then is killed before it can ack.
    child = textwrap.dedent(
        f"""
        import sys, time
        from instrumented_bank.redis_queue import RedisQueue
        message = RedisQueue({redis_url!r}, consumer="feed-crashed").claim("feed")
        print(message.id, message.attempts, flush=True)
        time.sleep(60)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", child], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        claimed = process.stdout.readline().split()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(5)
        process.stdout.close()
    assert claimed == [message_id, "1"]

    # The restarted consumer (another process, another consumer name) cannot take the
    # message while the dead one's lease runs, and gets it once it expired.
    lease_s = 3.0
    restarted = queues(consumer="feed-restarted", lease_s=lease_s)
    started = time.monotonic()
    assert restarted.claim("feed") is None
    again = None
    while again is None and time.monotonic() - started < lease_s + 5:
        time.sleep(0.05)
        again = restarted.claim("feed")
    assert again is not None, "the killed consumer's message was never redelivered"
    assert (again.id, again.body, again.attempts) == (message_id, {"n": 1}, 2)
    assert restarted.pending("feed") == 1  # now owned by the restarted consumer, not acked
    restarted.ack(again)
    assert restarted.depth() == 0 and restarted.pending("feed") == 0


def test_failing_messages_are_retried_after_a_backoff_then_dead_lettered(queues, tracing):
    tracer, exporter = tracing
    queue = queues(consumer="enrich-1", max_attempts=2, retry_backoff_s=1.0, lease_s=10)
    queue.put("enrich", {"n": 1})

    def broken(body):
        raise RuntimeError("merchant down")

    worker = QueueWorker(queue, tracer, {"enrich": broken})
    assert worker.run_once() == 1
    # Not acked: still stored and pending, but held back for the backoff, not a lease.
    assert queue.depth("enrich") == 1 and queue.pending("enrich") == 1
    assert worker.run_once() == 0
    time.sleep(1.1)
    assert worker.run_once() == 1
    assert queue.depth() == 0 and queue.pending("enrich") == 0 and queue.dead_letters() == 1
    consumers = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert [s.status.status_code for s in consumers] == [StatusCode.ERROR, StatusCode.ERROR]
    assert [s.attributes["messaging.message.delivery_attempt"] for s in consumers] == [1, 2]


def test_dead_letters_keep_the_message_and_the_error(queues, redis_url):
    queue = queues(max_attempts=1)
    queue.put("enrich", {"n": 7})
    message = queue.claim("enrich")
    queue.release(message, "RuntimeError: merchant down")
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    ((_, letter),) = raw.xrange(DEAD_LETTERS)
    groups = raw.xinfo_groups(RedisQueue.stream("enrich"))
    raw.close()
    assert letter["destination"] == "enrich" and letter["id"] == message.id
    assert letter["body"] == '{"n": 7}' and letter["error"] == "RuntimeError: merchant down"
    assert [(g["name"], g["pending"]) for g in groups] == [(GROUP, 0)]


def test_messages_produced_before_any_consumer_existed_are_delivered(queues):
    queues().put("feed", 1)
    queues().put("feed", 2)
    consumer = queues(consumer="late")
    assert [consumer.claim("feed").body, consumer.claim("feed").body] == [1, 2]
    assert consumer.claim("feed") is None


def test_the_backend_follows_the_queue_url_setting(tmp_path, redis_url):
    assert isinstance(open_queue("", tmp_path), SqliteQueue)
    queue = open_queue(redis_url, tmp_path)
    try:
        assert isinstance(queue, RedisQueue) and queue.messaging_system == "redis"
    finally:
        queue.close()
    with pytest.raises(ValueError, match="unsupported queue URL"):
        open_queue("amqp://rabbit", tmp_path)
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(ConnectionError, match=f"the queue broker at {unreachable} does not"):
        open_queue(unreachable, tmp_path)
    assert BankSettings.from_env({"BANK_QUEUE_URL": redis_url}).queue_url == redis_url
    with pytest.raises(ValueError, match="BANK_QUEUE_URL='amqp://rabbit' is not a Redis URL"):
        BankSettings.from_env({"BANK_QUEUE_URL": "amqp://rabbit"})


def test_a_worker_survives_a_broker_outage_without_flooding_the_log(tracing, caplog):
    tracer, _ = tracing
    # Constructed directly (open_queue would refuse): the broker is down from the start.
    queue = RedisQueue(f"redis://127.0.0.1:{free_port()}/0")
    worker = QueueWorker(queue, tracer, {"feed": print}, poll_interval_s=0.01)
    with caplog.at_level(logging.ERROR, logger="instrumented_bank.queue"):
        worker.start()
        time.sleep(2.2)
        worker.stop()
    queue.close()
    failures = [r for r in caplog.records if "polling RedisQueue" in r.getMessage()]
    # One failure per second of outage, not one per 10 ms poll; and the thread kept going.
    assert 2 <= len(failures) <= 4
