"""Journey checks shared by the ``as-is`` and ``fixed`` integration tests.

Each ``check_*`` drives one journey against a running test bank, asserts its business
result and the trace an OTLP backend receives for it (one tree, hops, database spans,
the timeout every call declares according to :mod:`instrumented_bank.policy` for the
bank's scenario), and returns what it saw, so each scenario's test adds its own checks
(synchronous side effects in ``as-is``, PRODUCER/CONSUMER spans in ``fixed``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from instrumented_bank import journeys as j
from instrumented_bank import policy
from instrumented_bank.flaws import load_flaws
from instrumented_bank.journeys import Outcome
from instrumented_bank.traffic import TrafficGenerator
from tests.bank.harness import (
    TIMEOUT_ATTRIBUTE,
    TestBank,
    assert_one_tree,
    client_spans,
    consumers_done,
    db_services,
    has_hops,
    hops,
)
from tests.bank.otlp_receiver import ReceivedSpan

CARD = ("card-processing", "POST /authorisations")
#: The edge span (root service, root span name) each journey's trace starts with.
EDGE = {
    j.CARD_PAYMENT: CARD,
    j.PAYMENT: ("gateway", "POST /payments"),
    j.FREEZE_CARD: ("gateway", "POST /cards/{card_id}/freeze"),
    j.BALANCE: ("gateway", "GET /accounts/{account_id}/balance"),
    j.FEED: ("gateway", "GET /accounts/{account_id}/feed"),
    j.REACTION: ("gateway", "POST /transactions/{transaction_id}/reactions"),
    j.PROFILE_PICTURE: ("gateway", "PUT /profiles/{user_id}/picture"),
    j.SUPPORT: ("gateway", "POST /support/tickets"),
}
#: The calls card authorisation makes in both scenarios before answering.
CARD_HOPS = (
    ("card-processing", "cards", "GET /cards/{card_id}"),
    ("card-processing", "balance", "POST /balances/{account_id}/debits"),
    ("card-processing", "transactions", "POST /transactions"),
)
#: The side effects card authorisation calls synchronously in ``as-is``.
SIDE_EFFECT_HOPS = (
    ("card-processing", "transaction-enrichment", "POST /enrichments"),
    ("card-processing", "feed-generator", "POST /feed-items"),
    ("card-processing", "push", "POST /notifications"),
)


def tree(bank: TestBank, spans: list[ReceivedSpan], journey: str) -> ReceivedSpan:
    """:func:`assert_one_tree` for ``journey``'s edge span, against all spans received."""
    return assert_one_tree(bank.receiver.spans(), spans, *EDGE[journey])


def expected_timeout(scenario: str, client: str, server: str) -> tuple[str, ...] | None:
    """The timeout attribute a call from ``client`` to ``server`` must carry (or None)."""
    ms = policy.timeout_ms(scenario, client, server)
    return None if ms is None else (str(ms),)


def assert_declared_timeouts(spans: list[ReceivedSpan], scenario: str) -> int:
    """Every CLIENT span naming a peer declares exactly the policy's timeout (and none
    when the policy has none). Returns how many calls were checked."""
    calls = [s for s in spans if s.kind == "client" and s.attr("peer.service")]
    for call in calls:
        expected = expected_timeout(scenario, call.service, call.attr("peer.service"))
        assert call.attr(TIMEOUT_ATTRIBUTE) == expected, (
            f"{call.service} -> {call.attr('peer.service')}: declares "
            f"{call.attr(TIMEOUT_ATTRIBUTE)}, the policy says {expected}"
        )
    return len(calls)


def balance_of(bank: TestBank, account_id: str) -> int:
    outcome = bank.app.balance(account_id)
    assert outcome.status == 200, outcome
    return outcome.body["balance"]


def eventually(probe: Callable[[], object], timeout_s: float = 10.0) -> object:
    """``probe()`` once it is truthy; fails after ``timeout_s`` (queued work is late)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            assert value, f"still not true after {timeout_s} s"
            return value
        time.sleep(0.1)


def card_payment_done(scenario: str) -> Callable[[list[ReceivedSpan]], bool]:
    """A ``done`` predicate: the authorisation's calls and its side effects' work arrived
    (in ``fixed``, under the queue's consumers)."""
    core = has_hops(*CARD_HOPS)
    if scenario == "fixed":
        return lambda spans: core(spans) and consumers_done(spans)
    return has_hops(
        *CARD_HOPS,
        *SIDE_EFFECT_HOPS,
        ("transaction-enrichment", "merchant", "GET /merchants/{merchant_id}"),
        ("feed-generator", "feed", "POST /accounts/{account_id}/items"),
    )


def feed_item(bank: TestBank, account_id: str, transaction_id: str) -> dict | None:
    """The account's feed entry for ``transaction_id`` (None while there is none)."""
    feed = bank.app.feed(account_id)
    assert feed.status == 200, feed
    found = [i for i in feed.body["items"] if i["transaction_id"] == transaction_id]
    return found[0] if found else None


# --- the journeys ----------------------------------------------------------------------


def check_card_payment(
    bank: TestBank, card_id: str, account_id: str, amount: int, merchant_id: str
) -> tuple[Outcome, list[ReceivedSpan], ReceivedSpan]:
    """An approved card payment debits the balance; its trace holds every call, the
    side effects' work (enrichment's merchant lookup, the feed entry, the APNs delivery)
    and the database calls; every call declares the policy's timeout."""
    scenario = bank.settings.scenario
    before = balance_of(bank, account_id)
    outcome = bank.app.card_payment(card_id, amount, merchant_id)
    assert outcome.status == 200 and outcome.body["approved"] is True, outcome
    assert outcome.body["transaction_id"]
    assert balance_of(bank, account_id) == before - amount

    spans = bank.receiver.wait_for(outcome.trace_id, card_payment_done(scenario))
    root = tree(bank, spans, j.CARD_PAYMENT)
    assert {"cards", "balance", "transactions", "card-processing"} <= db_services(spans)
    # The side effects' own work happened (in fixed, once the consumers ran).
    assert ("transaction-enrichment", "merchant", "GET /merchants/{merchant_id}") in hops(spans)
    assert ("feed-generator", "feed", "POST /accounts/{account_id}/items") in hops(spans)
    assert {"transaction-enrichment", "feed"} <= db_services(spans)
    # APNs is a virtual peer: a CLIENT span with no server behind it.
    (apns,) = client_spans(spans, "push", "apns")
    assert apns.attr("server.address") == "api.push.apple.com"
    assert assert_declared_timeouts(spans, scenario) >= len(CARD_HOPS) + 2
    return outcome, spans, root


def check_frozen_card_declines(bank: TestBank, card_id: str, account_id: str) -> None:
    """A frozen card declines and keeps the money; unfrozen, it pays again."""
    frozen = bank.app.freeze_card(card_id, True)
    assert frozen.status == 200 and frozen.body["frozen"] is True, frozen
    spans = bank.receiver.wait_for(
        frozen.trace_id, has_hops(("gateway", "cards", "POST /cards/{card_id}/freeze"))
    )
    tree(bank, spans, j.FREEZE_CARD)
    assert "cards" in db_services(spans)
    assert assert_declared_timeouts(spans, bank.settings.scenario) == 1

    before = balance_of(bank, account_id)
    declined = bank.app.card_payment(card_id, 500, "m-grocer")
    assert declined.status == 200, declined
    assert declined.body["approved"] is False and declined.body["reason"] == "card_frozen"
    assert balance_of(bank, account_id) == before
    spans = bank.receiver.wait_for(declined.trace_id, has_hops(CARD_HOPS[0]))
    tree(bank, spans, j.CARD_PAYMENT)
    # A decline moves no money and has no side effects.
    assert not client_spans(spans, "card-processing", "balance")
    assert not [s for s in spans if s.kind == "producer"]

    unfrozen = bank.app.freeze_card(card_id, False)
    assert unfrozen.status == 200 and unfrozen.body["frozen"] is False
    paid = bank.app.card_payment(card_id, 500, "m-grocer")
    assert paid.body["approved"] is True, paid
    assert balance_of(bank, account_id) == before - 500
    bank.receiver.wait_for(paid.trace_id, card_payment_done(bank.settings.scenario))


def check_payment(
    bank: TestBank, payer: str, payee: str, amount: int
) -> tuple[Outcome, list[ReceivedSpan]]:
    """A payment moves ``amount`` from payer to payee; its trace holds every call and the
    database calls; the gateway gives payments 2000 ms, which payments receives as its
    budget, and every call declares the policy's timeout."""
    scenario = bank.settings.scenario
    before = balance_of(bank, payer), balance_of(bank, payee)
    outcome = bank.app.payment(payer, payee, amount, "rent share")
    assert outcome.status == 200 and outcome.body["status"] == "completed", outcome
    assert balance_of(bank, payer) == before[0] - amount
    assert balance_of(bank, payee) == before[1] + amount

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
    # One transaction each side: wait for the second record too.
    spans = bank.receiver.wait_for(
        outcome.trace_id, lambda s: len(client_spans(s, "payments", "transactions")) == 2
    )
    tree(bank, spans, j.PAYMENT)
    (to_payments,) = client_spans(spans, "gateway", "payments")
    assert to_payments.attr(TIMEOUT_ATTRIBUTE) == ("2000",)
    (payments_server,) = [s for s in spans if s.service == "payments" and s.kind == "server"]
    assert payments_server.attr("bank.inbound_timeout_ms") == 2000
    assert len(client_spans(spans, "payments", "balance")) == 2
    # gateway -> payments, payments -> accounts, debit, credit and two transactions.
    assert assert_declared_timeouts(spans, scenario) == 6
    assert {"payments", "balance", "transactions", "accounts"} <= db_services(spans)
    return outcome, spans


def check_payment_beyond_the_balance_is_refused(bank: TestBank, payer: str, payee: str) -> None:
    before = balance_of(bank, payer), balance_of(bank, payee)
    outcome = bank.app.payment(payer, payee, 10**9)
    assert outcome.status == 409 and outcome.body["detail"]["error"] == "insufficient_funds"
    assert (balance_of(bank, payer), balance_of(bank, payee)) == before


def check_balance(bank: TestBank, account_id: str, pots_total: int) -> None:
    """The balance journey adds the balance and the pots (seeded ``pots_total``)."""
    outcome = bank.app.balance(account_id)
    assert outcome.status == 200, outcome
    body = outcome.body
    assert body["pots_total"] == sum(p["balance"] for p in body["pots"]) == pots_total
    assert body["total"] == body["balance"] + body["pots_total"]
    spans = bank.receiver.wait_for(
        outcome.trace_id,
        has_hops(
            ("gateway", "balance", "GET /balances/{account_id}"),
            ("gateway", "pots", "GET /accounts/{account_id}/pots"),
        ),
    )
    tree(bank, spans, j.BALANCE)
    assert {"balance", "pots"} <= db_services(spans)
    assert assert_declared_timeouts(spans, bank.settings.scenario) == 2


def check_feed(
    bank: TestBank,
    card_id: str,
    account_id: str,
    amount: int,
    merchant_id: str,
    merchant_name: str,
) -> list[ReceivedSpan]:
    """A card payment shows up in the feed with its merchant's name and logo; the feed's
    trace holds the merchant lookup and the database calls, each call declaring the
    policy's timeout (none on the ``as-is`` missing-timeout pairs)."""
    paid, _, _ = check_card_payment(bank, card_id, account_id, amount, merchant_id)
    transaction_id = paid.body["transaction_id"]
    eventually(lambda: feed_item(bank, account_id, transaction_id))

    feed = bank.app.feed(account_id)
    assert feed.status == 200 and feed.body["merchant_details"] is True, feed
    (item,) = [i for i in feed.body["items"] if i["transaction_id"] == transaction_id]
    assert item["merchant_name"] == merchant_name
    assert item["logo_url"].endswith(f"{merchant_id}.png")
    assert item["amount"] == -amount
    spans = bank.receiver.wait_for(
        feed.trace_id,
        has_hops(
            ("gateway", "feed", "GET /accounts/{account_id}/items"),
            ("feed", "merchant", "GET /merchants"),
        ),
    )
    tree(bank, spans, j.FEED)
    assert {"feed", "merchant"} <= db_services(spans)
    assert assert_declared_timeouts(spans, bank.settings.scenario) == 2
    return spans


def check_reaction(
    bank: TestBank, card_id: str, account_id: str, merchant_id: str, emoji: str
) -> tuple[Outcome, list[ReceivedSpan]]:
    """A reaction is stored on the transaction and reaches its feed entry (in ``fixed``
    through the queue); its trace holds the gateway's call and the database calls."""
    scenario = bank.settings.scenario
    paid, _, _ = check_card_payment(bank, card_id, account_id, 450, merchant_id)
    transaction_id = paid.body["transaction_id"]
    eventually(lambda: feed_item(bank, account_id, transaction_id))

    reaction = bank.app.react(transaction_id, emoji)
    assert reaction.status == 200, reaction
    assert reaction.body["reaction"] == emoji and reaction.body["id"] == transaction_id

    def copied_to_feed(spans: list[ReceivedSpan]) -> bool:
        if scenario == "fixed":
            return any(s.kind == "consumer" and s.service == "feed" for s in spans)
        return ("transactions", "feed", "PUT /items/{transaction_id}/reaction") in hops(spans)

    spans = bank.receiver.wait_for(
        reaction.trace_id,
        lambda s: copied_to_feed(s)
        and ("gateway", "transactions", "PUT /transactions/{transaction_id}/reaction") in hops(s),
    )
    tree(bank, spans, j.REACTION)
    assert {"transactions", "feed"} <= db_services(spans)
    assert_declared_timeouts(spans, scenario)
    item = eventually(
        lambda: (i := feed_item(bank, account_id, transaction_id)) and i["reaction"] == emoji and i
    )
    assert item["amount"] == -450
    return reaction, spans


def check_profile_picture(bank: TestBank, user_id: str) -> None:
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    outcome = bank.app.set_profile_picture(user_id, image)
    assert outcome.status == 200, outcome
    assert outcome.body["picture_sha256"] == hashlib.sha256(image).hexdigest()
    assert outcome.body["size"] == len(image)
    spans = bank.receiver.wait_for(
        outcome.trace_id, has_hops(("gateway", "profile", "PUT /profiles/{user_id}/picture"))
    )
    tree(bank, spans, j.PROFILE_PICTURE)
    assert "profile" in db_services(spans)
    assert assert_declared_timeouts(spans, bank.settings.scenario) == 1


def check_support(bank: TestBank, account_id: str) -> None:
    outcome = bank.app.contact_support(account_id, "Where is my refund?")
    assert outcome.status == 200 and outcome.body["status"] == "open", outcome
    assert outcome.body["customer_name"].endswith(account_id[-3:])
    spans = bank.receiver.wait_for(
        outcome.trace_id,
        has_hops(
            ("gateway", "support", "POST /tickets"),
            ("support", "accounts", "GET /accounts/{account_id}"),
            ("support", "profile", "GET /profiles/{user_id}"),
        ),
    )
    tree(bank, spans, j.SUPPORT)
    assert {"support", "accounts", "profile"} <= db_services(spans)
    assert assert_declared_timeouts(spans, bank.settings.scenario) == 3


# --- traffic and the end-of-run sweep -------------------------------------------------


class RecordingTraffic(TrafficGenerator):
    """The traffic generator, keeping every journey's outcome."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: list[Outcome] = []
        self._outcomes_lock = threading.Lock()

    def run_journey(self, journey: str) -> Outcome:
        outcome = super().run_journey(journey)
        with self._outcomes_lock:
            self.outcomes.append(outcome)
        return outcome


def check_traffic(bank: TestBank) -> None:
    """Traffic with every journey in the mix runs all eight, without errors, and each
    request is exactly one trace starting at its journey's edge; no other trace starts
    while the traffic runs."""
    generator = RecordingTraffic(
        bank.app,
        rate=16,
        accounts=bank.settings.accounts,
        mix=dict.fromkeys(j.JOURNEYS, 1.0),
        seed=7,
    )
    started = time.time_ns()
    stats = generator.run(duration_s=4, progress=None)
    ended = time.time_ns()
    # Open loop: 64 arrivals in 4 s; on a busy machine some are shed rather than queued.
    assert stats.requests + stats.shed >= 58 and stats.requests >= 24, stats.line()
    assert stats.errors == 0, stats.line()
    assert set(stats.by_journey) == set(j.JOURNEYS), dict(stats.by_journey)
    outcomes = generator.outcomes
    assert sorted(o.journey for o in outcomes) == sorted(stats.by_journey.elements())
    trace_ids = [o.trace_id for o in outcomes]
    assert None not in trace_ids and len(set(trace_ids)) == len(trace_ids)

    spans = bank.receiver.settle()
    by_trace: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    for outcome in outcomes:
        roots = [s for s in by_trace.get(outcome.trace_id, []) if s.parent_id is None]
        assert [(r.service, r.name) for r in roots] == [EDGE[outcome.journey]], outcome
    started_meanwhile = {
        s.trace_id for s in spans if s.parent_id is None and started <= s.start_ns <= ended
    }
    assert started_meanwhile == set(trace_ids)


def check_everything_received(bank: TestBank) -> None:
    """The end-of-run sweep over everything the bank exported: one edge root per trace,
    the manifest's client/server pairs really emitted at their endpoints, and every call
    between services declaring exactly the policy's timeout (none on missing-timeout
    pairs, which the manifest lists for ``as-is`` only)."""
    scenario = bank.settings.scenario
    spans = bank.receiver.settle()
    by_trace: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    assert len(by_trace) >= 20
    for trace_spans in by_trace.values():
        roots = [s for s in trace_spans if s.parent_id is None]
        assert len(roots) == 1, [(s.service, s.name) for s in roots]
        (root,) = roots
        assert root.kind == "server" and (root.service, root.name) in EDGE.values(), root
        ids = {s.span_id for s in trace_spans}
        assert all(s.parent_id in ids for s in trace_spans if s is not root)
    for flaw in load_flaws():
        if scenario not in flaw.scenarios:
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
    missing = {
        (f.client, f.server)
        for f in load_flaws()
        if f.rule == "missing-timeout" and scenario in f.scenarios
    }
    calls = [s for s in spans if s.kind == "client" and s.attr("peer.service")]
    # Exactly the policy's timeout on every call (so none on the missing-timeout pairs)…
    assert assert_declared_timeouts(spans, scenario) == len(calls) > 0
    # …which were really called, and the policy agrees with the manifest about them.
    assert missing <= {(s.service, s.attr("peer.service")) for s in calls}
    assert all(expected_timeout(scenario, *pair) is None for pair in missing)
    declared = [s for s in calls if (s.service, s.attr("peer.service")) not in missing]
    assert declared and all(TIMEOUT_ATTRIBUTE in s.attributes for s in declared)
