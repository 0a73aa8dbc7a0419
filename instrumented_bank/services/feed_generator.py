"""feed-generator: turns a card transaction into a feed entry.

Reached over HTTP from card authorisation (``as-is``) or through the queue (``fixed``);
both paths run the same :func:`generate`. Fails ``side_effect_failure_rate`` of the time.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from instrumented_bank.services import Service, ServiceContext

DESTINATION = "feed-generator.transactions"

SCHEMA = """
CREATE TABLE IF NOT EXISTS generated (transaction_id TEXT PRIMARY KEY, account_id TEXT NOT NULL);
"""


class FeedEvent(BaseModel):
    account_id: str
    transaction_id: str
    amount: int
    merchant_id: str | None = None
    description: str = ""


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    router = APIRouter()

    def generate(event: FeedEvent) -> dict:
        ctx.jittered(ctx.faults.feed_generation_latency_ms)
        ctx.fail_sometimes(ctx.faults.side_effect_failure_rate, "feed generation backlog full")
        ctx.client.post(
            "feed",
            f"/accounts/{event.account_id}/items",
            {
                "transaction_id": event.transaction_id,
                "amount": event.amount,
                "merchant_id": event.merchant_id,
                "description": event.description,
            },
        )
        with db.connect() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO generated VALUES (?, ?)",
                (event.transaction_id, event.account_id),
            )
        return {"transaction_id": event.transaction_id, "generated": True}

    @router.post("/feed-items")
    def create_feed_item(event: FeedEvent) -> dict:
        return generate(event)

    return Service(router, consumers={DESTINATION: lambda body: generate(FeedEvent(**body))})
