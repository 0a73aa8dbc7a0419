"""cards: debit cards and whether they are frozen."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from instrumented_bank.seed import customers
from instrumented_bank.services import Service, ServiceContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, last4 TEXT NOT NULL,
    frozen INTEGER NOT NULL DEFAULT 0
);
"""


class FreezeRequest(BaseModel):
    frozen: bool = True


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    with db.untraced() as connection:
        connection.executemany(
            "INSERT OR IGNORE INTO cards (id, account_id, last4) VALUES (?, ?, ?)",
            [
                (c.card_id, c.account_id, f"{4000 + c.number}")
                for c in customers(ctx.settings.accounts)
            ],
        )
    router = APIRouter()

    def load(connection, card_id: str) -> dict:
        row = connection.execute(
            "SELECT id, account_id, last4, frozen FROM cards WHERE id = ?", (card_id,)
        ).fetchone()
        if row is None:
            raise HTTPException(404, f"no card {card_id}")
        return {"id": row[0], "account_id": row[1], "last4": row[2], "frozen": bool(row[3])}

    @router.get("/cards/{card_id}")
    def get_card(card_id: str) -> dict:
        ctx.work()
        with db.connect() as connection:
            return load(connection, card_id)

    @router.post("/cards/{card_id}/freeze")
    def freeze(card_id: str, request: FreezeRequest) -> dict:
        ctx.work()
        with db.transaction() as connection:
            load(connection, card_id)
            connection.execute(
                "UPDATE cards SET frozen = ? WHERE id = ?", (int(request.frozen), card_id)
            )
            return load(connection, card_id)

    return Service(router)
