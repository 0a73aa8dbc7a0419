"""The durable SQLite queue: trace context across a message, ack after handling,
redelivery after a crash, dead letters."""

from __future__ import annotations

import time

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumented_bank.queue import QueueWorker, SqliteQueue, publish


@pytest.fixture
def tracing():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "queue-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test"), exporter
    provider.shutdown()


def test_consumer_span_continues_the_producers_trace_and_acks(tmp_path, tracing):
    tracer, exporter = tracing
    queue = SqliteQueue(tmp_path / "q.sqlite")
    handled = []
    with tracer.start_as_current_span("POST /authorisations", kind=SpanKind.SERVER):
        publish(queue, tracer, "push.notifications", {"account_id": "acc-001"})
    assert queue.depth("push.notifications") == 1

    worker = QueueWorker(queue, tracer, {"push.notifications": handled.append})
    assert worker.run_once() == 1
    assert handled == [{"account_id": "acc-001"}]
    assert queue.depth() == 0

    spans = {s.kind: s for s in exporter.get_finished_spans()}
    producer, consumer, server = (
        spans[SpanKind.PRODUCER],
        spans[SpanKind.CONSUMER],
        spans[SpanKind.SERVER],
    )
    assert producer.parent.span_id == server.context.span_id
    assert consumer.parent.span_id == producer.context.span_id
    assert consumer.context.trace_id == server.context.trace_id
    assert (
        producer.attributes["messaging.system"]
        == consumer.attributes["messaging.system"]
        == "sqlite-queue"
    )
    assert consumer.attributes["messaging.destination.name"] == "push.notifications"
    assert (
        consumer.attributes["messaging.message.id"] == producer.attributes["messaging.message.id"]
    )


def test_a_consumer_that_dies_mid_message_loses_nothing(tmp_path):
    path = tmp_path / "q.sqlite"
    SqliteQueue(path).put("feed", {"n": 1})
    crashed = SqliteQueue(path, lease_s=0.3)
    taken = crashed.claim("feed")
    assert taken is not None and taken.attempts == 1
    # The first consumer "crashes": no ack. A restarted one (a new process, a new
    # SqliteQueue on the same file) cannot see the message while its lease runs…
    restarted = SqliteQueue(path, lease_s=0.3)
    assert restarted.claim("feed") is None
    time.sleep(0.35)
    # …and gets it once the lease expires.
    again = restarted.claim("feed")
    assert again is not None and again.body == {"n": 1} and again.attempts == 2
    restarted.ack(again)
    assert restarted.depth() == 0


def test_failing_messages_are_retried_then_dead_lettered(tmp_path, tracing):
    tracer, exporter = tracing
    queue = SqliteQueue(tmp_path / "q.sqlite", max_attempts=2, retry_backoff_s=0.05)
    queue.put("enrich", {"n": 1})

    def broken(body):
        raise RuntimeError("merchant down")

    worker = QueueWorker(queue, tracer, {"enrich": broken})
    assert worker.run_once() == 1
    assert queue.depth() == 1 and queue.dead_letters() == 0  # back in the queue after a backoff
    time.sleep(0.25)
    assert worker.run_once() == 1
    assert queue.depth() == 0 and queue.dead_letters() == 1
    consumers = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert len(consumers) == 2 and all(s.status.status_code is StatusCode.ERROR for s in consumers)
    assert [s.attributes["messaging.message.delivery_attempt"] for s in consumers] == [1, 2]


def test_worker_thread_consumes_in_the_background_and_stops(tmp_path, tracing):
    tracer, _ = tracing
    queue = SqliteQueue(tmp_path / "q.sqlite")
    handled = []
    worker = QueueWorker(queue, tracer, {"feed": handled.append}, poll_interval_s=0.01)
    worker.start()
    try:
        for n in range(5):
            queue.put("feed", n)
        deadline = time.monotonic() + 5
        while len(handled) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
    assert handled == [0, 1, 2, 3, 4]
