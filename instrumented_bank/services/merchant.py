"""merchant: names, categories and logos of the places customers pay.

Sometimes slow (the long tail: ``merchant_slow_rate`` of lookups take
``merchant_slow_ms`` longer) and sometimes failing (``merchant_failure_rate``).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from instrumented_bank.seed import MERCHANTS
from instrumented_bank.services import Service, ServiceContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS merchants (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, logo_url TEXT NOT NULL
);
"""
_COLUMNS = ("id", "name", "category", "logo_url")


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    with db.untraced() as connection:
        connection.executemany(
            "INSERT OR IGNORE INTO merchants VALUES (?, ?, ?, ?)",
            [(m.id, m.name, m.category, m.logo_url) for m in MERCHANTS],
        )
    router = APIRouter()

    def behave_like_production() -> None:
        ctx.work()
        if ctx.chance(ctx.faults.merchant_slow_rate):
            ctx.work(ctx.faults.merchant_slow_ms)
        ctx.fail_sometimes(ctx.faults.merchant_failure_rate, "merchant lookup failed")

    @router.get("/merchants")
    def list_merchants(ids: str = Query("", description="comma-separated merchant ids")) -> dict:
        behave_like_production()
        wanted = [i for i in ids.split(",") if i]
        with db.connect() as connection:
            marks = ",".join("?" for _ in wanted)
            rows = (
                connection.execute(
                    f"SELECT id, name, category, logo_url FROM merchants WHERE id IN ({marks})",
                    wanted,
                ).fetchall()
                if wanted
                else []
            )
        return {"merchants": [dict(zip(_COLUMNS, row, strict=True)) for row in rows]}

    @router.get("/merchants/{merchant_id}")
    def get_merchant(merchant_id: str) -> dict:
        behave_like_production()
        with db.connect() as connection:
            row = connection.execute(
                "SELECT id, name, category, logo_url FROM merchants WHERE id = ?", (merchant_id,)
            ).fetchone()
        if row is None:
            raise HTTPException(404, f"no merchant {merchant_id}")
        return dict(zip(_COLUMNS, row, strict=True))

    return Service(router)
