"""transactions: the record of every card payment and transfer, with emoji reactions.

A reaction is shown on the feed too. ``as-is`` updates the feed synchronously and carries
on when that fails (the feed busy, or no feed entry for the transaction): a tolerated
write nothing depends on, i.e. deferrable work. ``fixed`` queues the update for the feed instead.
"""

from __future__ import annotations

import logging
import time
import uuid

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from instrumented_bank import policy
from instrumented_bank.client import DependencyError
from instrumented_bank.services import Service, ServiceContext
from instrumented_bank.services.feed import REACTIONS_DESTINATION

SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, amount INTEGER NOT NULL,
    kind TEXT NOT NULL, merchant_id TEXT, counterparty TEXT, description TEXT NOT NULL,
    reaction TEXT, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_by_account ON transactions (account_id, created_at);
"""
log = logging.getLogger(__name__)
_COLUMNS = (
    "id",
    "account_id",
    "amount",
    "kind",
    "merchant_id",
    "counterparty",
    "description",
    "reaction",
)


class NewTransaction(BaseModel):
    account_id: str
    amount: int = Field(description="pence; negative for money out")
    kind: str = Field(pattern="^(card|payment_out|payment_in)$")
    merchant_id: str | None = None
    counterparty: str | None = None
    description: str = ""


class Reaction(BaseModel):
    emoji: str = Field(min_length=1, max_length=8)


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    router = APIRouter()

    def load(connection, transaction_id: str) -> dict:
        row = connection.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM transactions WHERE id = ?", (transaction_id,)
        ).fetchone()
        if row is None:
            raise HTTPException(404, f"no transaction {transaction_id}")
        return dict(zip(_COLUMNS, row, strict=True))

    @router.post("/transactions")
    def create(new: NewTransaction) -> dict:
        ctx.work()
        transaction_id = f"tx-{uuid.uuid4().hex[:16]}"
        with db.connect() as connection:
            connection.execute(
                f"INSERT INTO transactions ({', '.join(_COLUMNS)}, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                (
                    transaction_id,
                    new.account_id,
                    new.amount,
                    new.kind,
                    new.merchant_id,
                    new.counterparty,
                    new.description,
                    time.time(),
                ),
            )
            return load(connection, transaction_id)

    @router.get("/transactions/{transaction_id}")
    def get(transaction_id: str) -> dict:
        ctx.work()
        with db.connect() as connection:
            return load(connection, transaction_id)

    @router.put("/transactions/{transaction_id}/reaction")
    def react(transaction_id: str, reaction: Reaction) -> dict:
        ctx.work()
        with db.transaction() as connection:
            load(connection, transaction_id)
            connection.execute(
                "UPDATE transactions SET reaction = ? WHERE id = ?",
                (reaction.emoji, transaction_id),
            )
            updated = load(connection, transaction_id)
        if policy.defers_side_effects(ctx.settings.scenario):
            ctx.publish(
                REACTIONS_DESTINATION, {"transaction_id": transaction_id, "emoji": reaction.emoji}
            )
        else:
            try:
                ctx.client.put(
                    "feed", f"/items/{transaction_id}/reaction", {"emoji": reaction.emoji}
                )
            except DependencyError as exc:
                # The reaction is stored here either way; the feed shows it on its next update.
                log.info("tolerated failure of feed: %s", exc)
        return updated

    return Service(router)
