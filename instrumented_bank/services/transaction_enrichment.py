"""transaction-enrichment: attaches merchant name and category to a card transaction.

Reached over HTTP from card authorisation (``as-is``) or through the queue (``fixed``).
Fails ``side_effect_failure_rate`` of the time; takes ``enrichment_latency_ms``.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from instrumented_bank.services import Service, ServiceContext

DESTINATION = "transaction-enrichment.transactions"

SCHEMA = """
CREATE TABLE IF NOT EXISTS enrichments (
    transaction_id TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, merchant_name TEXT NOT NULL,
    category TEXT NOT NULL, logo_url TEXT NOT NULL
);
"""


class EnrichmentRequest(BaseModel):
    transaction_id: str
    merchant_id: str


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    router = APIRouter()

    def enrich(request: EnrichmentRequest) -> dict:
        ctx.jittered(ctx.faults.enrichment_latency_ms)
        ctx.fail_sometimes(ctx.faults.side_effect_failure_rate, "enrichment backlog full")
        merchant = ctx.client.get("merchant", f"/merchants/{request.merchant_id}")
        with db.connect() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO enrichments VALUES (?, ?, ?, ?, ?)",
                (
                    request.transaction_id,
                    merchant["id"],
                    merchant["name"],
                    merchant["category"],
                    merchant["logo_url"],
                ),
            )
        return {
            "transaction_id": request.transaction_id,
            "merchant_name": merchant["name"],
            "category": merchant["category"],
        }

    @router.post("/enrichments")
    def create_enrichment(request: EnrichmentRequest) -> dict:
        return enrich(request)

    return Service(router, consumers={DESTINATION: lambda body: enrich(EnrichmentRequest(**body))})
