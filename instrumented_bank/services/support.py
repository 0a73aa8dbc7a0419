"""support: customers' messages to the support team, opened with their context."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from instrumented_bank.services import Service, ServiceContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, user_id TEXT NOT NULL,
    customer_name TEXT NOT NULL, message TEXT NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


class TicketRequest(BaseModel):
    account_id: str
    message: str = Field(min_length=1, max_length=2000)


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    router = APIRouter()

    @router.post("/tickets")
    def open_ticket(request: TicketRequest) -> dict:
        ctx.work()
        account = ctx.client.request(
            "accounts", "GET", f"/accounts/{request.account_id}", expect=(200, 404)
        )
        if account.status_code == 404:
            raise HTTPException(422, f"unknown account {request.account_id}")
        user_id = account.json()["user_id"]
        profile = ctx.client.get("profile", f"/profiles/{user_id}")
        ticket_id = f"ticket-{uuid.uuid4().hex[:10]}"
        with db.connect() as connection:
            connection.execute(
                "INSERT INTO tickets VALUES (?, ?, ?, ?, ?, 'open', ?)",
                (
                    ticket_id,
                    request.account_id,
                    user_id,
                    profile["display_name"],
                    request.message,
                    time.time(),
                ),
            )
        return {"id": ticket_id, "status": "open", "customer_name": profile["display_name"]}

    return Service(router)
