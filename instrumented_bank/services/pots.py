"""pots: money a customer has set aside, shown next to the balance."""

from __future__ import annotations

from fastapi import APIRouter

from instrumented_bank.seed import customers
from instrumented_bank.services import Service, ServiceContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS pots (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL, balance INTEGER NOT NULL
);
"""


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    with db.untraced() as connection:
        rows = []
        for c in customers(ctx.settings.accounts):
            rows.append((f"pot-{c.number:03d}-holiday", c.account_id, "Holiday", 10_000 * c.number))
            rows.append((f"pot-{c.number:03d}-rainy-day", c.account_id, "Rainy day", 25_000))
        connection.executemany("INSERT OR IGNORE INTO pots VALUES (?, ?, ?, ?)", rows)
    router = APIRouter()

    @router.get("/accounts/{account_id}/pots")
    def list_pots(account_id: str) -> dict:
        ctx.work()
        with db.connect() as connection:
            rows = connection.execute(
                "SELECT id, name, balance FROM pots WHERE account_id = ? ORDER BY id", (account_id,)
            ).fetchall()
        pots = [{"id": r[0], "name": r[1], "balance": r[2]} for r in rows]
        return {"account_id": account_id, "pots": pots, "total": sum(p["balance"] for p in pots)}

    return Service(router)
