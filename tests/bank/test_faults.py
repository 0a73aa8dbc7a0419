"""The planted long tail and merchant failures, exercised on the real bank (the other
integration tests keep every fault off): a slow merchant is waited for where no timeout
is set and given up on where one is; a failing merchant leaves the feed without names
and logos but answering."""

from __future__ import annotations

from dataclasses import replace

import pytest

from instrumented_bank import journeys as j
from tests.bank import journey_checks as checks
from tests.bank.harness import QUIET_FAULTS, TIMEOUT_ATTRIBUTE, client_spans, running_bank

pytestmark = pytest.mark.slow

#: The long tail's extra latency: well above the 250/300 ms timeouts that cut it short.
SLOW_MS = 900


def seconds(span) -> float:
    return (span.end_ns - span.start_ns) / 1e9


def merchant_servers(spans, name: str) -> list:
    return [s for s in spans if s.service == "merchant" and s.kind == "server" and s.name == name]


def feed_spans(bank, outcome):
    return bank.receiver.wait_for(
        outcome.trace_id,
        lambda s: bool(
            merchant_servers(s, "GET /merchants") and client_spans(s, "feed", "merchant")
        ),
    )


def pay_and_wait_for_the_feed_entry(bank, card_id: str, account_id: str, amount: int) -> str:
    paid = bank.app.card_payment(card_id, amount, "m-cinema")
    assert paid.status == 200 and paid.body["approved"] is True, paid
    transaction_id = paid.body["transaction_id"]
    checks.eventually(lambda: checks.feed_item(bank, account_id, transaction_id))
    return transaction_id


def test_the_long_tail_is_waited_for_without_a_timeout_and_cut_with_one(tmp_path):
    faults = replace(QUIET_FAULTS, merchant_slow_rate=1.0, merchant_slow_ms=SLOW_MS)
    with running_bank(tmp_path, "as-is", faults) as bank:
        # Card authorisation: enrichment gives up on the slow merchant at its 300 ms and
        # card-processing tolerates the failed side effect.
        paid = bank.app.card_payment("card-001", 700, "m-cinema")
        assert paid.status == 200 and paid.body["approved"] is True, paid
        spans = bank.receiver.wait_for(
            paid.trace_id,
            lambda s: bool(
                merchant_servers(s, "GET /merchants/{merchant_id}")
                and client_spans(s, "card-processing", "transaction-enrichment")
            ),
        )
        root = checks.tree(bank, spans, j.CARD_PAYMENT)
        (lookup,) = client_spans(spans, "transaction-enrichment", "merchant")
        assert lookup.attr(TIMEOUT_ATTRIBUTE) == ("300",) and lookup.status == "error"
        assert 0.28 <= seconds(lookup) < SLOW_MS / 1000, seconds(lookup)
        (slow,) = merchant_servers(spans, "GET /merchants/{merchant_id}")
        assert seconds(slow) >= SLOW_MS / 1000  # the long tail itself
        (enrichment,) = client_spans(spans, "card-processing", "transaction-enrichment")
        assert enrichment.status == "error" and root.status != "error"

        # The feed: feed -> merchant has no timeout in as-is, so the feed waits it out.
        transaction_id = pay_and_wait_for_the_feed_entry(bank, "card-002", "acc-002", 300)
        feed = bank.app.feed("acc-002")
        assert feed.status == 200 and feed.body["merchant_details"] is True
        (item,) = [i for i in feed.body["items"] if i["transaction_id"] == transaction_id]
        assert item["merchant_name"] == "Picture House"
        spans = feed_spans(bank, feed)
        root = checks.tree(bank, spans, j.FEED)
        (slow,) = merchant_servers(spans, "GET /merchants")
        (call,) = client_spans(spans, "feed", "merchant")
        assert TIMEOUT_ATTRIBUTE not in call.attributes and call.status != "error"
        assert seconds(slow) >= SLOW_MS / 1000
        assert seconds(call) >= SLOW_MS / 1000 and seconds(root) >= SLOW_MS / 1000


def test_fixed_gives_up_on_the_long_tail_at_its_timeout_and_still_shows_the_feed(tmp_path):
    faults = replace(QUIET_FAULTS, merchant_slow_rate=1.0, merchant_slow_ms=SLOW_MS)
    with running_bank(tmp_path, "fixed", faults) as bank:
        transaction_id = pay_and_wait_for_the_feed_entry(bank, "card-003", "acc-003", 400)
        feed = bank.app.feed("acc-003")
        assert feed.status == 200 and feed.body["merchant_details"] is False, feed
        (item,) = [i for i in feed.body["items"] if i["transaction_id"] == transaction_id]
        assert item["amount"] == -400 and item["merchant_name"] is None
        spans = feed_spans(bank, feed)
        root = checks.tree(bank, spans, j.FEED)
        (call,) = client_spans(spans, "feed", "merchant")
        assert call.attr(TIMEOUT_ATTRIBUTE) == ("250",) and call.status == "error"
        assert 0.24 <= seconds(call) < SLOW_MS / 1000, seconds(call)
        assert seconds(root) < SLOW_MS / 1000 and root.status != "error"


def test_a_failing_merchant_leaves_the_feed_answering_without_merchant_details(tmp_path):
    faults = replace(QUIET_FAULTS, merchant_failure_rate=1.0)
    with running_bank(tmp_path, "as-is", faults) as bank:
        transaction_id = pay_and_wait_for_the_feed_entry(bank, "card-004", "acc-004", 500)
        feed = bank.app.feed("acc-004")
        assert feed.status == 200 and feed.body["merchant_details"] is False, feed
        (item,) = [i for i in feed.body["items"] if i["transaction_id"] == transaction_id]
        assert item["amount"] == -500
        assert item["merchant_name"] is None and item["logo_url"] is None
        spans = feed_spans(bank, feed)
        root = checks.tree(bank, spans, j.FEED)
        (failed,) = merchant_servers(spans, "GET /merchants")
        assert failed.status == "error" and failed.attr("http.response.status_code") == 503
        (call,) = client_spans(spans, "feed", "merchant")
        assert call.status == "error" and call.attr("http.response.status_code") == 503
        assert root.status != "error" and root.attr("http.response.status_code") == 200
