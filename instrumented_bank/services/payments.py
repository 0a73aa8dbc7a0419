"""payments: bank transfers between accounts. A payment debits the payer and credits
the payee in the balance service, and records a transaction on each side."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from instrumented_bank.services import Service, ServiceContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY, from_account TEXT NOT NULL, to_account TEXT NOT NULL,
    amount INTEGER NOT NULL, reference TEXT NOT NULL, created_at REAL NOT NULL
);
"""


class PaymentRequest(BaseModel):
    from_account: str
    to_account: str
    amount: int = Field(gt=0, description="pence")
    reference: str = ""


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    router = APIRouter()

    @router.post("/payments")
    def pay(request: PaymentRequest) -> dict:
        ctx.work()
        if request.from_account == request.to_account:
            raise HTTPException(422, "cannot pay an account from itself")
        payee = ctx.client.request(
            "accounts", "GET", f"/accounts/{request.to_account}", expect=(200, 404)
        )
        if payee.status_code == 404:
            raise HTTPException(422, f"unknown payee account {request.to_account}")
        payee = payee.json()
        movement = {
            "amount": request.amount,
            "reference": request.reference or f"payment to {payee['holder']}",
        }
        debit = ctx.client.request(
            "balance",
            "POST",
            f"/balances/{request.from_account}/debits",
            json=movement,
            expect=(200, 409),
        )
        if debit.status_code == 409:
            raise HTTPException(
                409, {"error": "insufficient_funds", "balance": debit.json()["detail"]["balance"]}
            )
        try:
            ctx.client.post("balance", f"/balances/{request.to_account}/credits", movement)
        except Exception:
            # Put the money back before failing: a payment is all or nothing.
            ctx.client.post(
                "balance",
                f"/balances/{request.from_account}/credits",
                {"amount": request.amount, "reference": "reversal"},
            )
            raise
        ctx.client.post(
            "transactions",
            "/transactions",
            {
                "account_id": request.from_account,
                "amount": -request.amount,
                "kind": "payment_out",
                "counterparty": request.to_account,
                "description": movement["reference"],
            },
        )
        ctx.client.post(
            "transactions",
            "/transactions",
            {
                "account_id": request.to_account,
                "amount": request.amount,
                "kind": "payment_in",
                "counterparty": request.from_account,
                "description": movement["reference"],
            },
        )
        payment_id = f"pay-{uuid.uuid4().hex[:12]}"
        with db.connect() as connection:
            connection.execute(
                "INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?)",
                (
                    payment_id,
                    request.from_account,
                    request.to_account,
                    request.amount,
                    movement["reference"],
                    time.time(),
                ),
            )
        return {"id": payment_id, "status": "completed", "payer_balance": debit.json()["balance"]}

    return Service(router)
