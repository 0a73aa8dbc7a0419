"""feed: each customer's list of recent activity, shown with merchant names and logos.

Reaction updates fail ``side_effect_failure_rate`` of the time (the feed store is busy).

The merchant lookup is a *tolerated read*: when it fails the feed still answers, without
names and logos. Its result is used, so it is not work that could be deferred.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from instrumented_bank.client import DependencyError
from instrumented_bank.services import Service, ServiceContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    transaction_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, amount INTEGER NOT NULL,
    merchant_id TEXT, description TEXT NOT NULL, category TEXT, reaction TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS items_by_account ON items (account_id, created_at);
"""
#: Queue of reaction updates (``fixed``); see ``transactions``.
REACTIONS_DESTINATION = "feed.reactions"
_COLUMNS = (
    "transaction_id",
    "account_id",
    "amount",
    "merchant_id",
    "description",
    "category",
    "reaction",
)


class NewItem(BaseModel):
    transaction_id: str
    amount: int
    merchant_id: str | None = None
    description: str = ""
    category: str | None = None


class Reaction(BaseModel):
    emoji: str = Field(min_length=1, max_length=8)


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    router = APIRouter()

    @router.post("/accounts/{account_id}/items")
    def add_item(account_id: str, item: NewItem) -> dict:
        ctx.work()
        with db.connect() as connection:
            # Idempotent: a redelivered queue message must not duplicate the entry.
            connection.execute(
                "INSERT OR IGNORE INTO items (transaction_id, account_id, amount, merchant_id,"
                " description,"
                " category, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    item.transaction_id,
                    account_id,
                    item.amount,
                    item.merchant_id,
                    item.description,
                    item.category,
                    time.time(),
                ),
            )
        return {"transaction_id": item.transaction_id, "account_id": account_id}

    @router.get("/accounts/{account_id}/items")
    def list_items(account_id: str, limit: int = Query(20, ge=1, le=100)) -> dict:
        ctx.work()
        with db.connect() as connection:
            rows = connection.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM items WHERE account_id = ?"
                " ORDER BY created_at DESC LIMIT ?",
                (account_id, limit),
            ).fetchall()
        items = [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
        merchant_ids = sorted({i["merchant_id"] for i in items if i["merchant_id"]})
        merchants, complete = {}, True
        if merchant_ids:
            try:
                found = ctx.client.get(
                    "merchant", "/merchants", params={"ids": ",".join(merchant_ids)}
                )
                merchants = {m["id"]: m for m in found["merchants"]}
            except DependencyError:
                complete = False  # show the feed without names and logos rather than nothing
        for item in items:
            merchant = merchants.get(item["merchant_id"] or "")
            item["merchant_name"] = merchant["name"] if merchant else None
            item["logo_url"] = merchant["logo_url"] if merchant else None
        return {"account_id": account_id, "items": items, "merchant_details": complete}

    def set_reaction(transaction_id: str, emoji: str) -> dict:
        ctx.work()
        ctx.fail_sometimes(ctx.faults.side_effect_failure_rate, "feed store busy")
        with db.connect() as connection:
            updated = connection.execute(
                "UPDATE items SET reaction = ? WHERE transaction_id = ?", (emoji, transaction_id)
            ).rowcount
        if not updated:
            raise HTTPException(404, f"no feed item for {transaction_id}")
        return {"transaction_id": transaction_id, "reaction": emoji}

    @router.put("/items/{transaction_id}/reaction")
    def react(transaction_id: str, reaction: Reaction) -> dict:
        return set_reaction(transaction_id, reaction.emoji)

    # Queued reactions may overtake their feed entry (also queued): a missing entry
    # raises, so the message is retried with backoff until the entry exists.
    return Service(
        router,
        consumers={
            REACTIONS_DESTINATION: lambda body: set_reaction(body["transaction_id"], body["emoji"]),
        },
    )
