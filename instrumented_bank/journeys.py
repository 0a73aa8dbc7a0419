"""The user journeys, as the app (through the gateway) and the card network make them.

These callers are outside the bank, so they are not traced: each journey's trace starts
at the bank's edge (the gateway, or card-processing for card authorisations).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

#: Journey names, as the traffic mix and the tests refer to them.
CARD_PAYMENT = "card-payment"
PAYMENT = "payment"
FREEZE_CARD = "freeze-card"
BALANCE = "balance"
FEED = "feed"
REACTION = "reaction"
PROFILE_PICTURE = "profile-picture"
SUPPORT = "support"
JOURNEYS: tuple[str, ...] = (
    CARD_PAYMENT,
    PAYMENT,
    FREEZE_CARD,
    BALANCE,
    FEED,
    REACTION,
    PROFILE_PICTURE,
    SUPPORT,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a journey got back: the HTTP status and the decoded JSON body."""

    journey: str
    status: int
    body: Any
    trace_id: str | None = None
    """The trace the request started, from the bank's ``traceresponse`` header."""

    @property
    def ok(self) -> bool:
        """The bank answered (a business refusal such as a decline still counts as ok)."""
        return self.status < 500


def _trace_id(traceresponse: str | None) -> str | None:
    """The trace id in a ``traceresponse`` header (``00-<trace id>-<span id>-<flags>``)."""
    parts = (traceresponse or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


class BankApp:
    """Makes the journeys against a running bank.

    ``timeout_s`` bounds how long a journey waits, like a phone app giving up.
    """

    def __init__(self, gateway_url: str, card_network_url: str, *, timeout_s: float = 10.0) -> None:
        self._gateway = gateway_url.rstrip("/")
        self._card_network = card_network_url.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BankApp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, journey: str, method: str, url: str, body: Any = None) -> Outcome:
        response = self._http.request(method, url, json=body)
        try:
            payload = response.json()
        except ValueError:
            payload = response.text
        return Outcome(
            journey, response.status_code, payload, _trace_id(response.headers.get("traceresponse"))
        )

    def card_payment(self, card_id: str, amount: int, merchant_id: str) -> Outcome:
        """The card network asks card-processing to authorise a payment (amount in pence)."""
        return self._call(
            CARD_PAYMENT,
            "POST",
            f"{self._card_network}/authorisations",
            {"card_id": card_id, "amount": amount, "merchant_id": merchant_id},
        )

    def payment(
        self, from_account: str, to_account: str, amount: int, reference: str = ""
    ) -> Outcome:
        """Send money to another account."""
        return self._call(
            PAYMENT,
            "POST",
            f"{self._gateway}/payments",
            {
                "from_account": from_account,
                "to_account": to_account,
                "amount": amount,
                "reference": reference,
            },
        )

    def freeze_card(self, card_id: str, frozen: bool = True) -> Outcome:
        """Freeze (or unfreeze) a card."""
        return self._call(
            FREEZE_CARD, "POST", f"{self._gateway}/cards/{card_id}/freeze", {"frozen": frozen}
        )

    def balance(self, account_id: str) -> Outcome:
        """The account's balance and pots."""
        return self._call(BALANCE, "GET", f"{self._gateway}/accounts/{account_id}/balance")

    def feed(self, account_id: str) -> Outcome:
        """Recent transactions, with merchant names and logos."""
        return self._call(FEED, "GET", f"{self._gateway}/accounts/{account_id}/feed")

    def react(self, transaction_id: str, emoji: str) -> Outcome:
        """Put an emoji on a transaction."""
        return self._call(
            REACTION,
            "POST",
            f"{self._gateway}/transactions/{transaction_id}/reactions",
            {"emoji": emoji},
        )

    def set_profile_picture(
        self, user_id: str, image: bytes, content_type: str = "image/png"
    ) -> Outcome:
        """Upload a new profile picture."""
        return self._call(
            PROFILE_PICTURE,
            "PUT",
            f"{self._gateway}/profiles/{user_id}/picture",
            {"content_type": content_type, "data_base64": base64.b64encode(image).decode()},
        )

    def contact_support(self, account_id: str, message: str) -> Outcome:
        """Open a support ticket."""
        return self._call(
            SUPPORT,
            "POST",
            f"{self._gateway}/support/tickets",
            {"account_id": account_id, "message": message},
        )
