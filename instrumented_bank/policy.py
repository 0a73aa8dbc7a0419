"""Which calls carry which timeout, and which work is done synchronously, per scenario.

This table is where the planted flaws live (listed for machines in ``flaws.json``):

- ``as-is`` leaves two calls on the feed's critical path without a timeout
  (gateway -> feed, feed -> merchant), and gives payments -> balance a timeout
  longer than the one the gateway gives payments (a timeout inversion);
- ``fixed`` sets every timeout and keeps each callee's budget inside its caller's.

Deferral of the card-authorisation side effects is decided by :func:`defers_side_effects`.
"""

from __future__ import annotations

from instrumented_bank.settings import Scenario

#: (caller, callee) -> timeout in milliseconds, shared by both scenarios.
_TIMEOUTS_MS: dict[tuple[str, str], int] = {
    ("gateway", "balance"): 1000,
    ("gateway", "pots"): 1000,
    ("gateway", "payments"): 2000,
    ("gateway", "cards"): 1000,
    ("gateway", "transactions"): 1500,
    ("gateway", "profile"): 2000,
    ("gateway", "support"): 2000,
    ("card-processing", "cards"): 300,
    ("card-processing", "balance"): 500,
    ("card-processing", "transactions"): 500,
    ("card-processing", "transaction-enrichment"): 1000,
    ("card-processing", "feed-generator"): 1000,
    ("card-processing", "push"): 1000,
    ("payments", "accounts"): 500,
    ("payments", "transactions"): 500,
    ("transaction-enrichment", "merchant"): 300,
    ("feed-generator", "feed"): 500,
    ("transactions", "feed"): 400,
    ("support", "accounts"): 500,
    ("support", "profile"): 500,
    ("push", "apns"): 800,
}

#: The calls whose timeouts differ between scenarios: (as-is, fixed).
_SCENARIO_TIMEOUTS_MS: dict[tuple[str, str], tuple[int | None, int]] = {
    # missing-timeout: the feed waits as long as the merchant service takes (the long tail).
    ("gateway", "feed"): (None, 1500),
    ("feed", "merchant"): (None, 250),
    # timeout-inversion: the gateway gives up on payments after 2000 ms, yet payments
    # keeps waiting on balance for up to 2500 ms, work nobody will read.
    ("payments", "balance"): (2500, 600),
}


def timeout_ms(scenario: Scenario, caller: str, callee: str) -> int | None:
    """The timeout ``caller`` sets on calls to ``callee``; ``None`` means it waits forever.

    Raises ``KeyError`` for a pair the bank never calls, so a new call cannot silently
    go out without a deliberate decision about its timeout.
    """
    pair = (caller, callee)
    if pair in _SCENARIO_TIMEOUTS_MS:
        as_is, fixed = _SCENARIO_TIMEOUTS_MS[pair]
        return as_is if scenario == "as-is" else fixed
    if pair in _TIMEOUTS_MS:
        return _TIMEOUTS_MS[pair]
    raise KeyError(f"no timeout policy for calls from {caller} to {callee}")


def known_calls() -> frozenset[tuple[str, str]]:
    """Every (caller, callee) pair the policy covers."""
    return frozenset(_TIMEOUTS_MS) | frozenset(_SCENARIO_TIMEOUTS_MS)


def defers_side_effects(scenario: Scenario) -> bool:
    """Whether card authorisation queues enrichment, feed generation and push (``fixed``)
    instead of calling them synchronously on the critical path (``as-is``)."""
    return scenario == "fixed"
