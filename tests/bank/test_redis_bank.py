"""The real bank in the ``fixed`` scenario with its work queue on Redis Streams (as in
docker-compose): card authorisation's side effects and the feed's reaction copy travel
through a real redis-server, under PRODUCER/CONSUMER spans of ``messaging.system=redis``,
and every message is acked once handled."""

from __future__ import annotations

import time

import pytest
import redis

from instrumented_bank.redis_queue import GROUP, STREAM_PREFIX
from tests.bank.harness import (
    QUEUED,
    assert_one_tree,
    by_id,
    client_spans,
    consumers_done,
    running_bank,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bank(tmp_path_factory, redis_server):
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    client.close()
    with running_bank(
        tmp_path_factory.mktemp("redis-bank"), "fixed", queue_url=redis_server
    ) as running:
        yield running


def unfinished_messages(url: str) -> dict[str, tuple[int, int]]:
    """Per bank stream, (entries stored, entries claimed and not acked), when non-zero."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        found = {}
        for key in client.scan_iter(match=STREAM_PREFIX + "*"):
            groups = {g["name"]: g["pending"] for g in client.xinfo_groups(key)}
            stored, pending = client.xlen(key), groups.get(GROUP, 0)
            if stored or pending:
                found[key] = (stored, pending)
        return found
    finally:
        client.close()


def test_deferred_work_flows_through_redis_under_producer_and_consumer_spans(bank, redis_server):
    paid = bank.app.card_payment("card-003", 640, "m-bakery")
    assert paid.status == 200 and paid.body["approved"] is True

    spans = bank.receiver.wait_for(paid.trace_id, consumers_done)
    root = assert_one_tree(bank.receiver.spans(), spans, "card-processing", "POST /authorisations")
    index = by_id(spans)
    producers = [s for s in spans if s.kind == "producer"]
    assert {p.attr("messaging.destination.name") for p in producers} == set(QUEUED)
    for producer in producers:
        assert producer.service == "card-processing" and producer.parent_id == root.span_id
        assert producer.attr("messaging.system") == "redis"
    consumers = [s for s in spans if s.kind == "consumer"]
    assert {c.service for c in consumers} == set(QUEUED.values())
    for consumer in consumers:
        parent = index[consumer.parent_id]
        assert parent.kind == "producer" and consumer.attr("messaging.system") == "redis"
        destination = consumer.attr("messaging.destination.name")
        assert parent.attr("messaging.destination.name") == destination
        assert consumer.service == QUEUED[destination]
        # The entry id the producer got from XADD is the one the consumer handled.
        assert consumer.attr("messaging.message.id") == parent.attr("messaging.message.id")
    for server in QUEUED.values():
        assert not client_spans(spans, "card-processing", server)
    (apns,) = client_spans(spans, "push", "apns")
    assert index[apns.parent_id].kind == "consumer"

    # The queued work really happened: the feed shows the enriched payment, and the
    # reaction, itself queued, reaches it too.
    reaction = bank.app.react(paid.body["transaction_id"], "🥐")
    assert reaction.status == 200
    reaction_spans = bank.receiver.wait_for(
        reaction.trace_id, lambda s: any(x.kind == "consumer" for x in s)
    )
    (consumer,) = [s for s in reaction_spans if s.kind == "consumer"]
    producer = by_id(reaction_spans)[consumer.parent_id]
    assert (producer.kind, producer.service, consumer.service) == (
        "producer",
        "transactions",
        "feed",
    )
    assert consumer.attr("messaging.system") == "redis"
    (item,) = [
        i
        for i in bank.app.feed("acc-003").body["items"]
        if i["transaction_id"] == paid.body["transaction_id"]
    ]
    assert (item["amount"], item["reaction"]) == (-640, "🥐")
    assert item["merchant_name"]

    # Every message was acked (and deleted) once handled: nothing stored, nothing pending.
    deadline = time.monotonic() + 5
    while unfinished_messages(redis_server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert unfinished_messages(redis_server) == {}
