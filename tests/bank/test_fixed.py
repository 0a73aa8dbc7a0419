"""The real bank in the ``fixed`` scenario: card authorisation queues its side effects
(PRODUCER spans, CONSUMER spans in the consuming services, same trace) and every call
between services declares a timeout that fits inside its caller's."""

from __future__ import annotations

import pytest

from tests.bank.harness import (
    QUEUED,
    TIMEOUT_ATTRIBUTE,
    assert_one_tree,
    by_id,
    client_spans,
    consumers_done,
    running_bank,
)

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    with running_bank(tmp_path_factory.mktemp("fixed"), "fixed") as running:
        yield running


def test_card_payment_queues_side_effects_under_producer_and_consumer_spans(bank):
    outcome = bank.app.card_payment("card-001", 999, "m-bakery")
    assert outcome.status == 200 and outcome.body["approved"] is True

    spans = bank.receiver.wait_for(outcome.trace_id, consumers_done)
    root = assert_one_tree(spans, "card-processing", "POST /authorisations")
    index = by_id(spans)
    producers = [s for s in spans if s.kind == "producer"]
    assert {p.attr("messaging.destination.name") for p in producers} == set(QUEUED)
    for producer in producers:
        assert producer.service == "card-processing" and producer.parent_id == root.span_id
        assert producer.attr("messaging.system") == "sqlite-queue"
        assert producer.end_ns <= root.end_ns
    for consumer in (s for s in spans if s.kind == "consumer"):
        parent = index[consumer.parent_id]
        assert parent.kind == "producer"
        destination = consumer.attr("messaging.destination.name")
        assert parent.attr("messaging.destination.name") == destination
        assert consumer.service == QUEUED[destination]
        assert consumer.attr("messaging.system") == "sqlite-queue"
    # No synchronous call to the deferred services remains on the authorisation.
    for server in QUEUED.values():
        assert not client_spans(spans, "card-processing", server)
    # The consumers' own work hangs under their CONSUMER spans.
    (apns,) = client_spans(spans, "push", "apns")
    assert index[apns.parent_id].kind == "consumer"


def test_queued_work_really_happens(bank):
    paid = bank.app.card_payment("card-002", 250, "m-train")
    assert paid.body["approved"] is True
    bank.receiver.wait_for(paid.trace_id, consumers_done)
    feed = bank.app.feed("acc-002")
    (item,) = [i for i in feed.body["items"] if i["transaction_id"] == paid.body["transaction_id"]]
    assert item["merchant_name"] == "Northern Rail Tickets" and item["amount"] == -250


def test_reactions_reach_the_feed_through_the_queue(bank):
    paid = bank.app.card_payment("card-005", 820, "m-pharmacy")
    bank.receiver.wait_for(paid.trace_id, consumers_done)
    reaction = bank.app.react(paid.body["transaction_id"], "💊")
    assert reaction.status == 200 and reaction.body["reaction"] == "💊"
    spans = bank.receiver.wait_for(
        reaction.trace_id, lambda s: any(x.kind == "consumer" for x in s)
    )
    assert_one_tree(spans, "gateway", "POST /transactions/{transaction_id}/reactions")
    (producer,) = [s for s in spans if s.kind == "producer"]
    (consumer,) = [s for s in spans if s.kind == "consumer"]
    assert producer.service == "transactions" and consumer.service == "feed"
    assert consumer.parent_id == producer.span_id
    assert not client_spans(spans, "transactions", "feed")
    (item,) = [
        i
        for i in bank.app.feed("acc-005").body["items"]
        if i["transaction_id"] == paid.body["transaction_id"]
    ]
    assert item["reaction"] == "💊"


def test_every_call_declares_a_timeout_inside_its_callers_budget(bank):
    feed = bank.app.feed("acc-001")
    payment = bank.app.payment("acc-003", "acc-004", 100)
    assert feed.status == 200 and payment.status == 200
    feed_spans = bank.receiver.wait_for(
        feed.trace_id, lambda s: bool(client_spans(s, "feed", "merchant"))
    )
    (to_feed,) = client_spans(feed_spans, "gateway", "feed")
    (to_merchant,) = client_spans(feed_spans, "feed", "merchant")
    assert to_feed.attr(TIMEOUT_ATTRIBUTE) == ("1500",) and to_merchant.attr(TIMEOUT_ATTRIBUTE) == (
        "250",
    )

    pay_spans = bank.receiver.wait_for(
        payment.trace_id, lambda s: len(client_spans(s, "payments", "balance")) == 2
    )
    (to_payments,) = client_spans(pay_spans, "gateway", "payments")
    inbound = int(to_payments.attr(TIMEOUT_ATTRIBUTE)[0])
    for call in client_spans(pay_spans, "payments", "balance"):
        assert int(call.attr(TIMEOUT_ATTRIBUTE)[0]) < inbound
