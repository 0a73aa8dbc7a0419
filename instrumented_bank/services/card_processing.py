"""card-processing: answers the card network's authorisation requests.

The approve/decline decision needs the card, the balance and a transaction record. What
follows a decision (enrichment, the feed entry, the push notification) is not needed for
the answer: ``as-is`` still calls those services synchronously, side by side, as the very
last thing it does, and tolerates their failures (the planted ``deferrable-work``: the
answer waits for the slowest of them); ``fixed`` queues them instead.
"""

from __future__ import annotations

import logging
import time
import uuid

from fastapi import APIRouter
from opentelemetry import trace
from pydantic import BaseModel, Field

from instrumented_bank import policy
from instrumented_bank.client import DependencyError
from instrumented_bank.services import Service, ServiceContext
from instrumented_bank.services import feed_generator, push, transaction_enrichment

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS authorisations (
    id TEXT PRIMARY KEY, card_id TEXT NOT NULL, amount INTEGER NOT NULL, merchant_id TEXT NOT NULL,
    approved INTEGER NOT NULL, reason TEXT, transaction_id TEXT, created_at REAL NOT NULL
);
"""


class Authorisation(BaseModel):
    card_id: str
    amount: int = Field(gt=0, description="pence")
    merchant_id: str


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    router = APIRouter()
    deferred = policy.defers_side_effects(ctx.settings.scenario)

    def record(
        auth: Authorisation, approved: bool, reason: str | None, transaction_id: str | None
    ) -> dict:
        authorisation_id = f"auth-{uuid.uuid4().hex[:12]}"
        with db.connect() as connection:
            connection.execute(
                "INSERT INTO authorisations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    authorisation_id,
                    auth.card_id,
                    auth.amount,
                    auth.merchant_id,
                    int(approved),
                    reason,
                    transaction_id,
                    time.time(),
                ),
            )
        return {
            "authorisation_id": authorisation_id,
            "approved": approved,
            "reason": reason,
            "transaction_id": transaction_id,
        }

    def side_effects(
        account_id: str, transaction: dict, auth: Authorisation
    ) -> list[tuple[str, str, str, dict]]:
        """(callee, path, queue destination, body) of the work that can happen later."""
        return [
            (
                "transaction-enrichment",
                "/enrichments",
                transaction_enrichment.DESTINATION,
                {"transaction_id": transaction["id"], "merchant_id": auth.merchant_id},
            ),
            (
                "feed-generator",
                "/feed-items",
                feed_generator.DESTINATION,
                {
                    "account_id": account_id,
                    "transaction_id": transaction["id"],
                    "amount": -auth.amount,
                    "merchant_id": auth.merchant_id,
                    "description": transaction["description"],
                },
            ),
            (
                "push",
                "/notifications",
                push.DESTINATION,
                {"account_id": account_id, "title": f"You spent £{auth.amount / 100:.2f}"},
            ),
        ]

    @router.post("/authorisations")
    def authorise(auth: Authorisation) -> dict:
        ctx.work()
        card = ctx.client.request("cards", "GET", f"/cards/{auth.card_id}", expect=(200, 404))
        if card.status_code == 404:
            return record(auth, False, "unknown_card", None)
        card = card.json()
        if card["frozen"]:
            return record(auth, False, "card_frozen", None)
        account_id = card["account_id"]
        debit = ctx.client.request(
            "balance",
            "POST",
            f"/balances/{account_id}/debits",
            json={"amount": auth.amount, "reference": f"card {auth.card_id} at {auth.merchant_id}"},
            expect=(200, 409),
        )
        if debit.status_code == 409:
            return record(auth, False, "insufficient_funds", None)
        transaction = ctx.client.post(
            "transactions",
            "/transactions",
            {
                "account_id": account_id,
                "amount": -auth.amount,
                "kind": "card",
                "merchant_id": auth.merchant_id,
                "description": f"Card payment at {auth.merchant_id}",
            },
        )
        # The decision is recorded first: nothing after the side effects depends on them.
        answer = record(auth, True, None, transaction["id"])
        effects = side_effects(account_id, transaction, auth)
        if deferred:
            for _, _, destination, body in effects:
                ctx.publish(destination, body)
            return answer
        results = ctx.client.post_concurrently(
            [(callee, path, body) for callee, path, _, body in effects]
        )
        for (callee, *_), result in zip(effects, results, strict=True):
            if isinstance(result, DependencyError):
                # The payment is authorised either way; the customer just misses a detail.
                log.info("tolerated failure of %s: %s", callee, result)
                trace.get_current_span().add_event(
                    "tolerated dependency failure", {"peer.service": callee}
                )
        return answer

    return Service(router)
