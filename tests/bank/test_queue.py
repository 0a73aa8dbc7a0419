"""The durable SQLite queue: trace context across a message, ack after handling,
redelivery after a crash, dead letters."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumented_bank.queue import QueueWorker, SqliteQueue, publish

ROOT = Path(__file__).resolve().parents[2]
#: A consumer process: a QueueWorker on the file's ``feed`` destination that reports each
#: message it handles (body and delivery attempt) on stdout. ``crashing`` hangs in its
#: handler, so it can be killed mid-message; ``restarted`` handles one message and exits.
CONSUMER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from instrumented_bank.queue import QueueWorker, SqliteQueue

    path, role, lease_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    queue = SqliteQueue(Path(path), lease_s=lease_s)

    def handle(body):
        print(json.dumps({"handling": body}), flush=True)
        if role == "crashing":
            time.sleep(60)

    worker = QueueWorker(queue, provider.get_tracer("consumer"), {"feed": handle})
    deadline = time.monotonic() + 30
    while worker.run_once() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    (span,) = exporter.get_finished_spans()
    print(json.dumps({
        "attempt": span.attributes["messaging.message.delivery_attempt"],
        "depth": queue.depth(),
    }), flush=True)
    """
)


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
    # The first consumer "crashes": no ack. A restarted one (here a second SqliteQueue on
    # the same file; the next test kills a real process) cannot see it while its lease runs…
    restarted = SqliteQueue(path, lease_s=0.3)
    assert restarted.claim("feed") is None
    time.sleep(0.35)
    # …and gets it once the lease expires.
    again = restarted.claim("feed")
    assert again is not None and again.body == {"n": 1} and again.attempts == 2
    restarted.ack(again)
    assert restarted.depth() == 0


def consumer_process(path: Path, role: str, lease_s: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CONSUMER, str(path), role, str(lease_s)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_consumer_process_killed_mid_message_loses_nothing(tmp_path):
    """A real consumer process is SIGKILLed while handling a message (no ack); a
    restarted consumer process gets the message once the lease expired, handles and
    acks it."""
    path = tmp_path / "q.sqlite"
    SqliteQueue(path).put("feed", {"transaction_id": "tx-1", "emoji": "🎉"})
    lease_s = 2.0
    crashing = consumer_process(path, "crashing", lease_s)
    try:
        claimed = json.loads(crashing.stdout.readline())
    finally:
        crashing.send_signal(signal.SIGKILL)
        crashing.wait(5)
        crashing.stdout.close()
    assert claimed == {"handling": {"transaction_id": "tx-1", "emoji": "🎉"}}
    killed_at = time.monotonic()
    assert SqliteQueue(path).depth("feed") == 1  # not acked, still stored

    restarted = consumer_process(path, "restarted", lease_s)
    try:
        handled = json.loads(restarted.stdout.readline())
        handled_at = time.monotonic()
        report = json.loads(restarted.stdout.readline())
        assert restarted.wait(10) == 0
    finally:
        if restarted.poll() is None:
            restarted.kill()
        restarted.stdout.close()
    assert handled == claimed
    # Not before the dead consumer's lease ran out; the second delivery of the message.
    assert handled_at - killed_at >= lease_s - 0.5
    assert report == {"attempt": 2, "depth": 0}
    assert SqliteQueue(path).depth() == 0 and SqliteQueue(path).dead_letters() == 0


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
