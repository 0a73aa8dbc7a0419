"""The real bank in the ``fixed`` scenario: every journey's business result and trace (the
checks shared with ``as-is`` live in ``journey_checks``), plus what ``fixed`` changes: card
authorisation and reactions queue their deferrable work (PRODUCER spans, CONSUMER spans in
the consuming services, same trace) and every call between services declares a timeout that
fits inside its caller's."""

from __future__ import annotations

import pytest

from tests.bank import journey_checks as checks
from tests.bank.harness import (
    QUEUED,
    TIMEOUT_ATTRIBUTE,
    by_id,
    client_spans,
    running_bank,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    with running_bank(tmp_path_factory.mktemp("fixed"), "fixed") as running:
        yield running


def test_card_payment_queues_side_effects_under_producer_and_consumer_spans(bank):
    _, spans, root = checks.check_card_payment(bank, "card-001", "acc-001", 999, "m-bakery")
    index = by_id(spans)
    producers = [s for s in spans if s.kind == "producer"]
    assert {p.attr("messaging.destination.name") for p in producers} == set(QUEUED)
    for producer in producers:
        assert producer.service == "card-processing" and producer.parent_id == root.span_id
        assert producer.attr("messaging.system") == "sqlite-queue"
        assert producer.end_ns <= root.end_ns
    consumers = [s for s in spans if s.kind == "consumer"]
    assert {c.service for c in consumers} == set(QUEUED.values())
    for consumer in consumers:
        parent = index[consumer.parent_id]
        assert parent.kind == "producer"
        destination = consumer.attr("messaging.destination.name")
        assert parent.attr("messaging.destination.name") == destination
        assert consumer.service == QUEUED[destination]
        assert consumer.attr("messaging.system") == "sqlite-queue"
        assert consumer.attr("messaging.message.id") == parent.attr("messaging.message.id")
    # No synchronous call to the deferred services remains on the authorisation.
    for server in QUEUED.values():
        assert not client_spans(spans, "card-processing", server)
    # The consumers' own work hangs under their CONSUMER spans.
    (apns,) = client_spans(spans, "push", "apns")
    assert index[apns.parent_id].kind == "consumer"
    assert apns.attr(TIMEOUT_ATTRIBUTE) == ("800",)


def test_frozen_card_declines_and_keeps_the_money(bank):
    checks.check_frozen_card_declines(bank, "card-002", "acc-002")


def test_payment_moves_money_with_every_timeout_inside_its_callers_budget(bank):
    _, spans = checks.check_payment(bank, "acc-003", "acc-004", 1234)
    (to_payments,) = client_spans(spans, "gateway", "payments")
    inbound = int(to_payments.attr(TIMEOUT_ATTRIBUTE)[0])
    for client, server in (("payments", "balance"), ("payments", "accounts")):
        for call in client_spans(spans, client, server):
            assert int(call.attr(TIMEOUT_ATTRIBUTE)[0]) < inbound
    assert {c.attr(TIMEOUT_ATTRIBUTE) for c in client_spans(spans, "payments", "balance")} == {
        ("600",)
    }


def test_payment_beyond_the_balance_is_refused(bank):
    checks.check_payment_beyond_the_balance_is_refused(bank, "acc-005", "acc-006")


def test_balance_adds_up_balance_and_pots(bank):
    checks.check_balance(bank, "acc-008", 80_000 + 25_000)


def test_feed_shows_the_queued_entry_and_every_call_declares_a_timeout(bank):
    spans = checks.check_feed(bank, "card-009", "acc-009", 250, "m-train", "Northern Rail Tickets")
    (to_feed,) = client_spans(spans, "gateway", "feed")
    (to_merchant,) = client_spans(spans, "feed", "merchant")
    assert to_feed.attr(TIMEOUT_ATTRIBUTE) == ("1500",)
    assert to_merchant.attr(TIMEOUT_ATTRIBUTE) == ("250",)


def test_reactions_reach_the_feed_through_the_queue(bank):
    _, spans = checks.check_reaction(bank, "card-012", "acc-012", "m-pharmacy", "💊")
    (producer,) = [s for s in spans if s.kind == "producer"]
    consumers = [s for s in spans if s.kind == "consumer"]
    assert producer.service == "transactions" and consumers
    assert producer.attr("messaging.destination.name") == "feed.reactions"
    for consumer in consumers:  # more than one only if a delivery was retried
        assert consumer.service == "feed" and consumer.parent_id == producer.span_id
    assert not client_spans(spans, "transactions", "feed")


def test_profile_picture_is_stored(bank):
    checks.check_profile_picture(bank, "user-010")


def test_support_ticket_carries_the_customer(bank):
    checks.check_support(bank, "acc-011")


def test_traffic_runs_every_journey_one_trace_each(bank):
    checks.check_traffic(bank)


def test_every_trace_has_one_edge_root_and_every_call_declares_a_timeout(bank):
    """Runs last in the module: looks at everything the bank exported."""
    checks.check_everything_received(bank)
