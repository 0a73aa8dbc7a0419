"""The real bank (15 processes) in the ``as-is`` scenario: every journey's business result
and its trace, as an OTLP backend receives it (the checks shared with ``fixed`` live in
``journey_checks``), plus what ``as-is`` plants: synchronous side effects, calls without
timeouts and the timeout inversion."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.bank import journey_checks as checks
from tests.bank.harness import (
    QUIET_FAULTS,
    TIMEOUT_ATTRIBUTE,
    client_spans,
    has_hops,
    hops,
    running_bank,
)

pytestmark = pytest.mark.slow

#: Push always fails here, so a tolerated failure shows up in every card payment.
FAULTS = replace(QUIET_FAULTS, apns_failure_rate=1.0)


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    with running_bank(tmp_path_factory.mktemp("as-is"), "as-is", FAULTS) as running:
        yield running


def test_card_payment_approves_debits_and_calls_side_effects_synchronously(bank):
    _, spans, root = checks.check_card_payment(bank, "card-001", "acc-001", 1250, "m-coffee")
    assert not [s for s in spans if s.kind in ("producer", "consumer")]
    assert set(checks.SIDE_EFFECT_HOPS) <= hops(spans)
    # Every side effect is a POST with a declared timeout, answered on the critical path.
    for _, server, _ in checks.SIDE_EFFECT_HOPS:
        (call,) = client_spans(spans, "card-processing", server)
        assert call.attr("http.request.method") == "POST"
        assert call.attr(TIMEOUT_ATTRIBUTE) == ("1000",)
        assert call.end_ns <= root.end_ns
    (apns,) = client_spans(spans, "push", "apns")
    assert apns.status == "error" and apns.attr(TIMEOUT_ATTRIBUTE) == ("800",)


def test_a_failing_push_is_tolerated_and_nothing_follows_the_side_effects(bank):
    outcome = bank.app.card_payment("card-007", 300, "m-books")
    assert outcome.body["approved"] is True
    spans = bank.receiver.wait_for(
        outcome.trace_id, has_hops(("card-processing", "push", "POST /notifications"))
    )
    root = checks.tree(bank, spans, "card-payment")
    (push,) = client_spans(spans, "card-processing", "push")
    assert push.status == "error" and root.status != "error"
    # The deferrable calls are the handler's last steps: nothing of card-processing starts
    # after any of them ends (what critpath's deferrable-work rule requires).
    side = [
        s
        for s in spans
        if s.service == "card-processing"
        and s.kind == "client"
        and s.attr("peer.service") in ("transaction-enrichment", "feed-generator", "push")
    ]
    assert len(side) == 3
    own = [s for s in spans if s.service == "card-processing" and s is not root and s not in side]
    assert all(s.start_ns < min(c.end_ns for c in side) for s in own)


def test_frozen_card_declines_and_keeps_the_money(bank):
    checks.check_frozen_card_declines(bank, "card-002", "acc-002")


def test_payment_moves_money_and_declares_an_inverted_timeout(bank):
    _, spans = checks.check_payment(bank, "acc-003", "acc-004", 1234)
    # The inversion: payments waits on balance longer than the gateway waits on payments.
    (to_payments,) = client_spans(spans, "gateway", "payments")
    balance_calls = client_spans(spans, "payments", "balance")
    assert {c.attr(TIMEOUT_ATTRIBUTE) for c in balance_calls} == {("2500",)}
    assert 2500 > int(to_payments.attr(TIMEOUT_ATTRIBUTE)[0])


def test_payment_beyond_the_balance_is_refused(bank):
    checks.check_payment_beyond_the_balance_is_refused(bank, "acc-005", "acc-006")


def test_balance_adds_up_balance_and_pots(bank):
    checks.check_balance(bank, "acc-008", 80_000 + 25_000)


def test_feed_shows_merchants_with_two_calls_lacking_timeouts(bank):
    spans = checks.check_feed(bank, "card-009", "acc-009", 450, "m-cinema", "Picture House")
    for client, server in (("gateway", "feed"), ("feed", "merchant")):
        (call,) = client_spans(spans, client, server)
        assert TIMEOUT_ATTRIBUTE not in call.attributes


def test_reaction_reaches_the_feed_synchronously(bank):
    _, spans = checks.check_reaction(bank, "card-012", "acc-012", "m-cinema", "🍿")
    assert ("transactions", "feed", "PUT /items/{transaction_id}/reaction") in hops(spans)
    assert not [s for s in spans if s.kind in ("producer", "consumer")]
    (call,) = client_spans(spans, "transactions", "feed")
    assert call.attr(TIMEOUT_ATTRIBUTE) == ("400",)


def test_profile_picture_is_stored(bank):
    checks.check_profile_picture(bank, "user-010")


def test_support_ticket_carries_the_customer(bank):
    checks.check_support(bank, "acc-011")


def test_traffic_runs_every_journey_one_trace_each(bank):
    checks.check_traffic(bank)


def test_every_trace_has_one_edge_root_and_manifest_pairs_are_observed(bank):
    """Runs last in the module: looks at everything the bank exported."""
    checks.check_everything_received(bank)
