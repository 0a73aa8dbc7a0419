"""balance: the ledger balance of each account; debits refuse to overdraw."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from instrumented_bank.seed import OPENING_BALANCE, customers
from instrumented_bank.services import Service, ServiceContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS balances (account_id TEXT PRIMARY KEY, balance INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS movements (
    id INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL,
    amount INTEGER NOT NULL, reference TEXT NOT NULL
);
"""


class Movement(BaseModel):
    amount: int = Field(gt=0, description="pence")
    reference: str = ""


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    with db.untraced() as connection:
        connection.executemany(
            "INSERT OR IGNORE INTO balances VALUES (?, ?)",
            [(c.account_id, OPENING_BALANCE) for c in customers(ctx.settings.accounts)],
        )
    router = APIRouter()

    def current(connection, account_id: str) -> int:
        row = connection.execute(
            "SELECT balance FROM balances WHERE account_id = ?", (account_id,)
        ).fetchone()
        if row is None:
            raise HTTPException(404, f"no account {account_id}")
        return int(row[0])

    def move(account_id: str, signed_amount: int, reference: str) -> dict:
        with db.transaction() as connection:
            balance = current(connection, account_id)
            if balance + signed_amount < 0:
                raise HTTPException(409, {"error": "insufficient_funds", "balance": balance})
            connection.execute(
                "UPDATE balances SET balance = balance + ? WHERE account_id = ?",
                (signed_amount, account_id),
            )
            connection.execute(
                "INSERT INTO movements (account_id, amount, reference) VALUES (?, ?, ?)",
                (account_id, signed_amount, reference),
            )
            return {"account_id": account_id, "balance": balance + signed_amount}

    @router.get("/balances/{account_id}")
    def get_balance(account_id: str) -> dict:
        ctx.work()
        with db.connect() as connection:
            return {"account_id": account_id, "balance": current(connection, account_id)}

    @router.post("/balances/{account_id}/debits")
    def debit(account_id: str, movement: Movement) -> dict:
        ctx.work()
        return move(account_id, -movement.amount, movement.reference)

    @router.post("/balances/{account_id}/credits")
    def credit(account_id: str, movement: Movement) -> dict:
        ctx.work()
        return move(account_id, movement.amount, movement.reference)

    return Service(router)
