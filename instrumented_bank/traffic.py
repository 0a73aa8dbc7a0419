"""Traffic: the user journeys at a steady rate and mix, with a live progress line.

Arrivals are open-loop (a new journey every ``1/rate`` seconds, whatever the bank's
speed), run by a small thread pool. When the bank is so slow that the pool is full, the
arrival is shed and counted rather than queued without bound.
"""

from __future__ import annotations

import argparse
import collections
import random
import signal
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TextIO

import httpx

from instrumented_bank import journeys as j
from instrumented_bank.journeys import BankApp, Outcome
from instrumented_bank.seed import MERCHANTS, customers

#: Relative weights of the journeys (card payments dominate, as at a card-first bank).
DEFAULT_MIX: Mapping[str, float] = {
    j.CARD_PAYMENT: 30,
    j.BALANCE: 20,
    j.FEED: 20,
    j.PAYMENT: 10,
    j.REACTION: 8,
    j.FREEZE_CARD: 4,
    j.PROFILE_PICTURE: 4,
    j.SUPPORT: 4,
}
_EMOJI = ("🎉", "☕", "🍕", "🚆", "💸", "🙈")


def parse_mix(text: str) -> dict[str, float]:
    """``"card-payment=5,feed=2"`` -> weights; journeys not named get weight 0."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in j.JOURNEYS:
            raise ValueError(f"unknown journey {name!r} in mix (known: {', '.join(j.JOURNEYS)})")
        try:
            mix[name] = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"weight of {name} must be a number, not {weight!r}") from None
        if mix[name] < 0:
            raise ValueError(f"weight of {name} must not be negative")
    if not any(mix.values()):
        raise ValueError("the mix must give at least one journey a positive weight")
    return mix


@dataclass
class TrafficStats:
    """Counts so far (updated from several threads under ``lock``)."""

    started_at: float = field(default_factory=time.monotonic)
    requests: int = 0
    errors: int = 0
    shed: int = 0
    by_journey: collections.Counter = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, outcome: Outcome | None, journey: str) -> None:
        with self.lock:
            self.requests += 1
            self.by_journey[journey] += 1
            if outcome is None or not outcome.ok:
                self.errors += 1

    def line(self) -> str:
        """The one-line progress summary."""
        with self.lock:
            elapsed = max(time.monotonic() - self.started_at, 1e-9)
            share = 100.0 * self.errors / self.requests if self.requests else 0.0
            text = (
                f"bank traffic: {elapsed:6.1f} s  requests {self.requests}  "
                f"errors {self.errors} ({share:.1f}%)  rate {self.requests / elapsed:.1f}/s"
            )
            return text + (f"  shed {self.shed}" if self.shed else "")


class TrafficGenerator:
    """Runs journeys against ``app`` at ``rate`` per second, chosen by ``mix`` weights."""

    def __init__(
        self,
        app: BankApp,
        *,
        rate: float,
        accounts: int,
        mix: Mapping[str, float] | None = None,
        concurrency: int = 8,
        seed: int | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self._app = app
        self.rate = rate
        self._customers = customers(accounts)
        weights = dict(mix or DEFAULT_MIX)
        self._names = [name for name in j.JOURNEYS if weights.get(name, 0) > 0]
        self._weights = [weights[name] for name in self._names]
        self._concurrency = concurrency
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._frozen: set[str] = set()
        self._recent_transactions: collections.deque[str] = collections.deque(maxlen=200)
        self.stats = TrafficStats()

    def run(
        self,
        *,
        duration_s: float | None = None,
        stop: threading.Event | None = None,
        progress: TextIO | None = sys.stderr,
        progress_interval_s: float = 0.5,
    ) -> TrafficStats:
        """Generate traffic until ``duration_s`` passes or ``stop`` is set; returns the stats."""
        stop = stop or threading.Event()
        self.stats = TrafficStats()
        interval = 1.0 / self.rate
        in_flight = threading.Semaphore(self._concurrency)
        next_at = time.monotonic()
        last_progress = 0.0
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="journey") as pool:
            while not stop.is_set():
                now = time.monotonic()
                if duration_s is not None and now - self.stats.started_at >= duration_s:
                    break
                if progress and now - last_progress >= progress_interval_s:
                    progress.write("\r" + self.stats.line() + "\033[K")
                    progress.flush()
                    last_progress = now
                if now < next_at:
                    stop.wait(min(next_at - now, progress_interval_s))
                    continue
                next_at += interval
                if in_flight.acquire(blocking=False):
                    pool.submit(self._run_one, in_flight)
                else:
                    with self.stats.lock:
                        self.stats.shed += 1
        if progress:
            progress.write("\r" + self.stats.line() + "\033[K\n")
            progress.flush()
        return self.stats

    def _run_one(self, in_flight: threading.Semaphore) -> None:
        try:
            journey = self._choose(self._names, self._weights)
            try:
                outcome = self.run_journey(journey)
            except httpx.HTTPError:
                outcome = None
            # Counted as what was done: a reaction with no transaction to react to yet
            # makes a card payment instead.
            self.stats.record(outcome, outcome.journey if outcome is not None else journey)
        finally:
            in_flight.release()

    def _choose(self, options, weights=None):
        with self._rng_lock:
            return self._rng.choices(options, weights)[0]

    def _amount(self, low: int, high: int) -> int:
        with self._rng_lock:
            return self._rng.randint(low, high)

    def run_journey(self, journey: str) -> Outcome:
        """Make one ``journey`` for a random customer."""
        customer = self._choose(self._customers)
        app = self._app
        if journey == j.REACTION and self._recent_transactions:
            return app.react(self._choose(list(self._recent_transactions)), self._choose(_EMOJI))
        if journey in (j.CARD_PAYMENT, j.REACTION):
            outcome = app.card_payment(
                customer.card_id, self._amount(100, 3000), self._choose(MERCHANTS).id
            )
            if outcome.status == 200 and outcome.body.get("transaction_id"):
                self._recent_transactions.append(outcome.body["transaction_id"])
            return outcome
        if journey == j.PAYMENT:
            payee = self._choose([c for c in self._customers if c != customer] or self._customers)
            return app.payment(
                customer.account_id, payee.account_id, self._amount(100, 2000), "dinner"
            )
        if journey == j.FREEZE_CARD:
            # Toggle, so a card frozen now is unfrozen on a later visit and declines stay rare.
            freeze = customer.card_id not in self._frozen
            outcome = app.freeze_card(customer.card_id, freeze)
            if outcome.status == 200:
                (self._frozen.add if freeze else self._frozen.discard)(customer.card_id)
            return outcome
        if journey == j.BALANCE:
            return app.balance(customer.account_id)
        if journey == j.FEED:
            return app.feed(customer.account_id)
        if journey == j.PROFILE_PICTURE:
            image = b"\x89PNG\r\n\x1a\n" + bytes(self._amount(0, 255) for _ in range(256))
            return app.set_profile_picture(customer.user_id, image)
        if journey == j.SUPPORT:
            return app.contact_support(customer.account_id, "I don't recognise a payment")
        raise ValueError(f"unknown journey {journey!r}")


def main(argv: list[str] | None = None) -> int:
    """``python -m instrumented_bank.traffic``: traffic against a bank running elsewhere
    (docker-compose runs it next to the service containers)."""
    parser = argparse.ArgumentParser(
        prog="python -m instrumented_bank.traffic",
        description="Run the bank's user journeys against a running bank.",
    )
    parser.add_argument("--gateway-url", default="http://127.0.0.1:9000")
    parser.add_argument(
        "--card-network-url",
        default="http://127.0.0.1:9003",
        help="where card-processing listens (card authorisations)",
    )
    parser.add_argument(
        "--rate", type=float, default=5.0, help="journeys per second (default: %(default)s)"
    )
    parser.add_argument("--mix", type=parse_mix, default=None, metavar="JOURNEY=WEIGHT,...")
    parser.add_argument("--accounts", type=int, default=20, help="customers seeded in the bank")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with BankApp(args.gateway_url, args.card_network_url) as app:
        generator = TrafficGenerator(app, rate=args.rate, accounts=args.accounts, mix=args.mix)
        generator.run(duration_s=args.duration, stop=stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
