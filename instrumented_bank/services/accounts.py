"""accounts: who owns which current account."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from instrumented_bank.seed import customers
from instrumented_bank.services import Service, ServiceContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, holder TEXT NOT NULL,
    sort_code TEXT NOT NULL, number TEXT NOT NULL
);
"""


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    with db.untraced() as connection:
        connection.executemany(
            "INSERT OR IGNORE INTO accounts VALUES (?, ?, ?, ?, ?)",
            [
                (c.account_id, c.user_id, c.name, "04-00-04", f"{10_000_000 + c.number}")
                for c in customers(ctx.settings.accounts)
            ],
        )
    router = APIRouter()

    @router.get("/accounts/{account_id}")
    def get_account(account_id: str) -> dict:
        ctx.work()
        with db.connect() as connection:
            row = connection.execute(
                "SELECT id, user_id, holder, sort_code, number FROM accounts WHERE id = ?",
                (account_id,),
            ).fetchone()
        if row is None:
            raise HTTPException(404, f"no account {account_id}")
        return dict(zip(("id", "user_id", "holder", "sort_code", "number"), row, strict=True))

    return Service(router)
