"""gateway: the edge. Every app journey enters here and fans out to the API services.

Business answers of the services behind it (a declined payment, an unknown account)
pass through with their status; a failing dependency becomes 502/504.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from instrumented_bank.services import Service, ServiceContext

#: Statuses of the services behind the gateway that are answers, not failures.
_BUSINESS_STATUSES = (200, 404, 409, 422)


def build(ctx: ServiceContext) -> Service:
    router = APIRouter()

    def forward(callee: str, method: str, path: str, body: Any = None) -> JSONResponse:
        ctx.work()
        response = ctx.client.request(callee, method, path, json=body, expect=_BUSINESS_STATUSES)
        return JSONResponse(response.json(), status_code=response.status_code)

    @router.get("/accounts/{account_id}/balance")
    def view_balance(account_id: str) -> dict:
        ctx.work()
        balance = ctx.client.get("balance", f"/balances/{account_id}")
        pots = ctx.client.get("pots", f"/accounts/{account_id}/pots")
        return {
            "account_id": account_id,
            "balance": balance["balance"],
            "pots": pots["pots"],
            "pots_total": pots["total"],
            "total": balance["balance"] + pots["total"],
        }

    @router.get("/accounts/{account_id}/feed")
    def view_feed(account_id: str) -> JSONResponse:
        return forward("feed", "GET", f"/accounts/{account_id}/items")

    @router.post("/payments")
    def make_payment(body: dict) -> JSONResponse:
        return forward("payments", "POST", "/payments", body)

    @router.post("/cards/{card_id}/freeze")
    def freeze_card(card_id: str, body: dict) -> JSONResponse:
        return forward("cards", "POST", f"/cards/{card_id}/freeze", body)

    @router.post("/transactions/{transaction_id}/reactions")
    def react(transaction_id: str, body: dict) -> JSONResponse:
        return forward("transactions", "PUT", f"/transactions/{transaction_id}/reaction", body)

    @router.put("/profiles/{user_id}/picture")
    def set_profile_picture(user_id: str, body: dict) -> JSONResponse:
        return forward("profile", "PUT", f"/profiles/{user_id}/picture", body)

    @router.post("/support/tickets")
    def contact_support(body: dict) -> JSONResponse:
        return forward("support", "POST", "/tickets", body)

    return Service(router)
