"""The traffic generator counts each journey as what it really did (no bank needed)."""

from __future__ import annotations

import threading

from instrumented_bank import journeys as j
from instrumented_bank.journeys import Outcome
from instrumented_bank.traffic import TrafficGenerator


class FakeApp:
    """Answers card payments and reactions, counting the calls it got."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {j.CARD_PAYMENT: 0, j.REACTION: 0}
        self._lock = threading.Lock()

    def _count(self, journey: str) -> int:
        with self._lock:
            self.calls[journey] += 1
            return self.calls[journey]

    def card_payment(self, card_id: str, amount: int, merchant_id: str) -> Outcome:
        n = self._count(j.CARD_PAYMENT)
        return Outcome(j.CARD_PAYMENT, 200, {"approved": True, "transaction_id": f"tx-{n}"})

    def react(self, transaction_id: str, emoji: str) -> Outcome:
        self._count(j.REACTION)
        return Outcome(j.REACTION, 200, {"transaction_id": transaction_id, "reaction": emoji})


def test_a_reaction_without_a_transaction_is_counted_as_the_card_payment_it_made():
    app = FakeApp()
    generator = TrafficGenerator(app, rate=1.0, accounts=3, mix={j.REACTION: 1}, seed=1)
    # No transaction yet: the "reaction" pays by card first.
    assert generator.run_journey(j.REACTION).journey == j.CARD_PAYMENT
    assert generator.run_journey(j.REACTION).journey == j.REACTION

    generator = TrafficGenerator(app, rate=200, accounts=3, mix={j.REACTION: 1}, seed=2)
    app.calls = {j.CARD_PAYMENT: 0, j.REACTION: 0}
    stats = generator.run(duration_s=0.5, progress=None)
    assert stats.requests == sum(app.calls.values()) > 0
    assert app.calls[j.CARD_PAYMENT] >= 1 and app.calls[j.REACTION] >= 1
    assert dict(stats.by_journey) == app.calls
