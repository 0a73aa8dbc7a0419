"""The real bank (15 processes) in the ``as-is`` scenario: every journey's business result
and its trace, as an OTLP backend receives it."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace

import pytest

from instrumented_bank.flaws import load_flaws
from instrumented_bank.traffic import TrafficGenerator
from tests.bank.harness import (
    QUIET_FAULTS,
    TIMEOUT_ATTRIBUTE,
    assert_one_tree,
    client_spans,
    db_services,
    has_hops,
    running_bank,
)

pytestmark = pytest.mark.slow

CARD = ("card-processing", "POST /authorisations")
#: Push always fails here, so a tolerated failure shows up in every card payment.
FAULTS = replace(QUIET_FAULTS, apns_failure_rate=1.0)


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    with running_bank(tmp_path_factory.mktemp("as-is"), "as-is", FAULTS) as running:
        yield running


def balance_of(bank, account_id: str) -> int:
    outcome = bank.app.balance(account_id)
    assert outcome.status == 200, outcome
    return outcome.body["balance"]


def test_card_payment_approves_debits_and_calls_side_effects_synchronously(bank):
    before = balance_of(bank, "acc-001")
    outcome = bank.app.card_payment("card-001", 1250, "m-coffee")
    assert outcome.status == 200 and outcome.body["approved"] is True, outcome
    assert balance_of(bank, "acc-001") == before - 1250

    side_effects = [
        ("card-processing", "transaction-enrichment", "POST /enrichments"),
        ("card-processing", "feed-generator", "POST /feed-items"),
        ("card-processing", "push", "POST /notifications"),
    ]
    spans = bank.receiver.wait_for(
        outcome.trace_id,
        has_hops(
            ("card-processing", "cards", "GET /cards/{card_id}"),
            ("card-processing", "balance", "POST /balances/{account_id}/debits"),
            ("card-processing", "transactions", "POST /transactions"),
            *side_effects,
            ("transaction-enrichment", "merchant", "GET /merchants/{merchant_id}"),
            ("feed-generator", "feed", "POST /accounts/{account_id}/items"),
        ),
    )
    root = assert_one_tree(spans, *CARD)
    assert {"cards", "balance", "transactions", "card-processing", "feed", "push"} <= db_services(
        spans
    )
    assert not [s for s in spans if s.kind in ("producer", "consumer")]
    # Every side effect is a POST with a declared timeout, answered on the critical path.
    for _, server, _ in side_effects:
        (call,) = client_spans(spans, "card-processing", server)
        assert call.attr("http.request.method") == "POST"
        assert call.attr(TIMEOUT_ATTRIBUTE) == ("1000",)
        assert call.end_ns <= root.end_ns
    # APNs is a virtual peer: a CLIENT span with no server behind it.
    (apns,) = client_spans(spans, "push", "apns")
    assert apns.attr("server.address") == "api.push.apple.com"
    assert apns.status == "error" and apns.attr(TIMEOUT_ATTRIBUTE) == ("800",)


def test_a_failing_push_is_tolerated_and_nothing_follows_the_side_effects(bank):
    outcome = bank.app.card_payment("card-007", 300, "m-books")
    assert outcome.body["approved"] is True
    spans = bank.receiver.wait_for(
        outcome.trace_id, has_hops(("card-processing", "push", "POST /notifications"))
    )
    root = assert_one_tree(spans, *CARD)
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
    frozen = bank.app.freeze_card("card-002", True)
    assert frozen.status == 200 and frozen.body["frozen"] is True
    spans = bank.receiver.wait_for(
        frozen.trace_id, has_hops(("gateway", "cards", "POST /cards/{card_id}/freeze"))
    )
    assert_one_tree(spans, "gateway", "POST /cards/{card_id}/freeze")
    assert "cards" in db_services(spans)

    before = balance_of(bank, "acc-002")
    declined = bank.app.card_payment("card-002", 500, "m-grocer")
    assert declined.status == 200
    assert declined.body["approved"] is False and declined.body["reason"] == "card_frozen"
    assert balance_of(bank, "acc-002") == before
    assert bank.app.freeze_card("card-002", False).body["frozen"] is False
    assert bank.app.card_payment("card-002", 500, "m-grocer").body["approved"] is True


def test_payment_moves_money_and_declares_an_inverted_timeout(bank):
    payer, payee = balance_of(bank, "acc-003"), balance_of(bank, "acc-004")
    outcome = bank.app.payment("acc-003", "acc-004", 1234, "rent share")
    assert outcome.status == 200 and outcome.body["status"] == "completed", outcome
    assert balance_of(bank, "acc-003") == payer - 1234
    assert balance_of(bank, "acc-004") == payee + 1234

    spans = bank.receiver.wait_for(
        outcome.trace_id,
        has_hops(
            ("gateway", "payments", "POST /payments"),
            ("payments", "accounts", "GET /accounts/{account_id}"),
            ("payments", "balance", "POST /balances/{account_id}/debits"),
            ("payments", "balance", "POST /balances/{account_id}/credits"),
            ("payments", "transactions", "POST /transactions"),
        ),
    )
    assert_one_tree(spans, "gateway", "POST /payments")
    (to_payments,) = client_spans(spans, "gateway", "payments")
    assert to_payments.attr(TIMEOUT_ATTRIBUTE) == ("2000",)
    (payments_server,) = [s for s in spans if s.service == "payments" and s.kind == "server"]
    assert payments_server.attr("bank.inbound_timeout_ms") == 2000
    balance_calls = client_spans(spans, "payments", "balance")
    assert len(balance_calls) == 2
    assert {c.attr(TIMEOUT_ATTRIBUTE) for c in balance_calls} == {("2500",)}
    assert {"payments", "balance", "transactions", "accounts"} <= db_services(spans)


def test_payment_beyond_the_balance_is_refused(bank):
    outcome = bank.app.payment("acc-005", "acc-006", 10**9)
    assert outcome.status == 409 and outcome.body["detail"]["error"] == "insufficient_funds"


def test_balance_adds_up_balance_and_pots(bank):
    outcome = bank.app.balance("acc-008")
    assert outcome.status == 200
    assert (
        outcome.body["pots_total"]
        == sum(p["balance"] for p in outcome.body["pots"])
        == 80_000 + 25_000
    )
    assert outcome.body["total"] == outcome.body["balance"] + outcome.body["pots_total"]
    spans = bank.receiver.wait_for(
        outcome.trace_id,
        has_hops(
            ("gateway", "balance", "GET /balances/{account_id}"),
            ("gateway", "pots", "GET /accounts/{account_id}/pots"),
        ),
    )
    assert_one_tree(spans, "gateway", "GET /accounts/{account_id}/balance")
    assert {"balance", "pots"} <= db_services(spans)


def test_feed_shows_merchants_and_reactions_with_two_calls_lacking_timeouts(bank):
    paid = bank.app.card_payment("card-009", 450, "m-cinema")
    assert paid.body["approved"] is True
    reaction = bank.app.react(paid.body["transaction_id"], "🍿")
    assert reaction.status == 200 and reaction.body["reaction"] == "🍿"
    spans = bank.receiver.wait_for(
        reaction.trace_id,
        has_hops(
            ("gateway", "transactions", "PUT /transactions/{transaction_id}/reaction"),
            ("transactions", "feed", "PUT /items/{transaction_id}/reaction"),
        ),
    )
    assert_one_tree(spans, "gateway", "POST /transactions/{transaction_id}/reactions")

    feed = bank.app.feed("acc-009")
    assert feed.status == 200 and feed.body["merchant_details"] is True
    (item,) = [i for i in feed.body["items"] if i["transaction_id"] == paid.body["transaction_id"]]
    assert item["merchant_name"] == "Picture House" and item["logo_url"].endswith("m-cinema.png")
    assert item["amount"] == -450 and item["reaction"] == "🍿"
    spans = bank.receiver.wait_for(
        feed.trace_id,
        has_hops(
            ("gateway", "feed", "GET /accounts/{account_id}/items"),
            ("feed", "merchant", "GET /merchants"),
        ),
    )
    assert_one_tree(spans, "gateway", "GET /accounts/{account_id}/feed")
    for client, server in (("gateway", "feed"), ("feed", "merchant")):
        (call,) = client_spans(spans, client, server)
        assert TIMEOUT_ATTRIBUTE not in call.attributes
    assert {"feed", "merchant"} <= db_services(spans)


def test_profile_picture_is_stored(bank):
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    outcome = bank.app.set_profile_picture("user-010", image)
    assert outcome.status == 200, outcome
    assert outcome.body["picture_sha256"] == hashlib.sha256(image).hexdigest()
    assert outcome.body["size"] == len(image)
    spans = bank.receiver.wait_for(
        outcome.trace_id, has_hops(("gateway", "profile", "PUT /profiles/{user_id}/picture"))
    )
    assert_one_tree(spans, "gateway", "PUT /profiles/{user_id}/picture")
    assert "profile" in db_services(spans)


def test_support_ticket_carries_the_customer(bank):
    outcome = bank.app.contact_support("acc-011", "Where is my refund?")
    assert outcome.status == 200 and outcome.body["status"] == "open"
    assert outcome.body["customer_name"].endswith("011")
    spans = bank.receiver.wait_for(
        outcome.trace_id,
        has_hops(
            ("gateway", "support", "POST /tickets"),
            ("support", "accounts", "GET /accounts/{account_id}"),
            ("support", "profile", "GET /profiles/{user_id}"),
        ),
    )
    assert_one_tree(spans, "gateway", "POST /support/tickets")
    assert {"support", "accounts", "profile"} <= db_services(spans)


def test_traffic_runs_every_journey_one_trace_each(bank):
    progress = io.StringIO()
    generator = TrafficGenerator(bank.app, rate=20, accounts=bank.settings.accounts, seed=7)
    stats = generator.run(duration_s=3, progress=progress, progress_interval_s=0.2)
    # Open loop: 60 arrivals in 3 s; on a busy machine some are shed rather than queued.
    assert stats.requests + stats.shed >= 55 and stats.requests >= 15
    assert stats.errors == 0 and len(stats.by_journey) >= 4
    assert "requests" in progress.getvalue() and "rate" in progress.getvalue()


def test_every_trace_has_one_edge_root_and_manifest_pairs_are_observed(bank):
    """Runs last in the module: looks at everything the bank exported."""
    spans = bank.receiver.settle()
    by_trace: dict[str, list] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    for trace_spans in by_trace.values():
        roots = [s for s in trace_spans if s.parent_id is None]
        assert len(roots) == 1, [(s.service, s.name) for s in roots]
        (root,) = roots
        assert root.kind == "server" and root.service in ("gateway", "card-processing")
        if root.service == "card-processing":
            assert root.name == "POST /authorisations"
    # The manifest's client/server pairs and endpoints are the ones the bank really emits.
    for flaw in load_flaws():
        if "as-is" not in flaw.scenarios:
            continue
        matching = [
            t
            for t in by_trace.values()
            if any((r.service, r.name) == flaw.endpoint for r in t if r.parent_id is None)
            and client_spans(t, flaw.client, flaw.server)
        ]
        assert matching, (
            f"{flaw.id}: no {flaw.endpoint} trace with a {flaw.client} -> {flaw.server} call"
        )
    # The flaws are exactly what the spans declare: no timeout on missing-timeout pairs…
    missing = {(f.client, f.server) for f in load_flaws() if f.rule == "missing-timeout"}
    for client, server in missing:
        assert all(
            TIMEOUT_ATTRIBUTE not in s.attributes
            for s in spans
            if s.kind == "client" and s.service == client and s.attr("peer.service") == server
        )
    # …and a declared timeout on every other call between services.
    declared = [
        s
        for s in spans
        if s.kind == "client"
        and s.attr("peer.service")
        and (s.service, s.attr("peer.service")) not in missing
    ]
    assert declared and all(TIMEOUT_ATTRIBUTE in s.attributes for s in declared)
