"""The bank's starting state: customers, their accounts and cards, merchants.

Identifiers are derived from a customer's number, so every service seeds its own
database independently and they still agree (``acc-007`` belongs to ``user-007`` and
carries ``card-007``).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Opening balance of every account, in pence.
OPENING_BALANCE = 500_000

_FIRST_NAMES = (
    "Ada",
    "Bola",
    "Chen",
    "Dara",
    "Eve",
    "Femi",
    "Gita",
    "Hugo",
    "Ines",
    "Jon",
    "Kemi",
    "Luca",
    "Mina",
    "Nia",
    "Omar",
    "Pia",
    "Quin",
    "Rosa",
    "Sami",
    "Tara",
)


@dataclass(frozen=True, slots=True)
class Customer:
    """One customer with one current account and one debit card."""

    number: int

    @property
    def user_id(self) -> str:
        return f"user-{self.number:03d}"

    @property
    def account_id(self) -> str:
        return f"acc-{self.number:03d}"

    @property
    def card_id(self) -> str:
        return f"card-{self.number:03d}"

    @property
    def name(self) -> str:
        return f"{_FIRST_NAMES[(self.number - 1) % len(_FIRST_NAMES)]} {self.number:03d}"


def customers(count: int) -> list[Customer]:
    """The first ``count`` customers."""
    return [Customer(number) for number in range(1, count + 1)]


@dataclass(frozen=True, slots=True)
class Merchant:
    id: str
    name: str
    category: str

    @property
    def logo_url(self) -> str:
        return f"https://logos.bank.example/{self.id}.png"


MERCHANTS: tuple[Merchant, ...] = (
    Merchant("m-coffee", "Flat White Co", "eating_out"),
    Merchant("m-grocer", "Greengrocer & Sons", "groceries"),
    Merchant("m-books", "Paperback Lane", "shopping"),
    Merchant("m-train", "Northern Rail Tickets", "transport"),
    Merchant("m-cinema", "Picture House", "entertainment"),
    Merchant("m-pharmacy", "Corner Pharmacy", "personal_care"),
    Merchant("m-bakery", "Rise Bakery", "eating_out"),
    Merchant("m-hardware", "Nuts & Bolts", "shopping"),
)
