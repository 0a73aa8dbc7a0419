"""flaws.json against the code that plants the flaws (the timeout policy and the scenario
switch), so the manifest tests rely on stays true."""

from __future__ import annotations

import pytest

from instrumented_bank import policy
from instrumented_bank.flaws import expected_findings, load_flaws, load_manifest
from instrumented_bank.settings import SCENARIOS, SERVICE_NAMES

VIRTUAL_PEERS = {"apns"}
RULES = {
    "missing-timeout",
    "timeout-inversion",
    "deferrable-work",
    "soft-dependency",
    "long-tail",
    "tolerated-failure",
}


def inversions(scenario: str) -> set[tuple[str, str]]:
    """(client, server) calls whose timeout is at least the timeout of the call into the client."""
    calls = policy.known_calls()
    found = set()
    for upstream, middle in calls:
        inbound = policy.timeout_ms(scenario, upstream, middle)
        for caller, callee in calls:
            outbound = policy.timeout_ms(scenario, caller, callee)
            if (
                caller == middle
                and inbound is not None
                and outbound is not None
                and outbound >= inbound
            ):
                found.add((caller, callee))
    return found


def missing(scenario: str) -> set[tuple[str, str]]:
    return {pair for pair in policy.known_calls() if policy.timeout_ms(scenario, *pair) is None}


def flaw_pairs(rule: str, scenario: str) -> set[tuple[str, str]]:
    return {
        (f.client, f.server) for f in load_flaws() if f.rule == rule and scenario in f.scenarios
    }


def test_manifest_is_well_formed():
    flaws = load_flaws()
    assert load_manifest()["schema"] == "instrumented-bank.flaws/v1"
    assert len({f.id for f in flaws}) == len(flaws)
    for flaw in flaws:
        assert flaw.rule in RULES, flaw.id
        assert flaw.client in SERVICE_NAMES, flaw.id
        assert flaw.server in SERVICE_NAMES or flaw.server in VIRTUAL_PEERS, flaw.id
        assert flaw.endpoint is not None and flaw.endpoint[0] in ("gateway", "card-processing")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_missing_timeouts_are_exactly_the_listed_ones(scenario):
    assert missing(scenario) == flaw_pairs("missing-timeout", scenario)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_timeout_inversions_are_exactly_the_listed_ones(scenario):
    assert inversions(scenario) == flaw_pairs("timeout-inversion", scenario)


def test_the_inversion_entry_quotes_the_policys_timeouts():
    (flaw,) = [f for f in load_flaws() if f.rule == "timeout-inversion"]
    parent = flaw.details["parent"]
    assert policy.timeout_ms("as-is", flaw.client, flaw.server) == flaw.details["timeout_ms"]
    assert policy.timeout_ms("as-is", parent["client"], parent["server"]) == parent["timeout_ms"]
    assert parent["server"] == flaw.client


def test_deferrable_work_is_synchronous_only_as_is_and_bounded_by_timeouts():
    deferrable = flaw_pairs("deferrable-work", "as-is")
    assert deferrable == {
        ("card-processing", s) for s in ("transaction-enrichment", "feed-generator", "push")
    } | {("transactions", "feed")}
    assert flaw_pairs("deferrable-work", "fixed") == set()
    assert not policy.defers_side_effects("as-is") and policy.defers_side_effects("fixed")
    # A deferrable call has a timeout, so it is not also a missing-timeout finding.
    assert all(policy.timeout_ms("as-is", *pair) is not None for pair in deferrable)


def test_the_tolerated_read_is_never_listed_as_deferrable():
    (read,) = [f for f in load_flaws() if f.rule == "soft-dependency"]
    assert read.not_rule == "deferrable-work"
    assert (read.client, read.server) not in flaw_pairs("deferrable-work", "as-is")


def test_fixed_keeps_only_behaviour_not_defects():
    assert {f.rule for f in expected_findings("fixed")} == {"soft-dependency"}
    assert {f.rule for f in expected_findings("as-is")} == {
        "missing-timeout",
        "timeout-inversion",
        "deferrable-work",
        "soft-dependency",
    }


def test_only_long_tail_and_tolerated_failure_are_informational():
    """What flaws.py's docstring says: the soft dependency is a finding to expect (in both
    scenarios), with deferrable-work as the rule that must not fire for it."""
    flaws = load_flaws()
    assert {f.rule for f in flaws if f.informational} == {"long-tail", "tolerated-failure"}
    (soft,) = [f for f in flaws if f.rule == "soft-dependency"]
    assert not soft.informational and soft.not_rule == "deferrable-work"
    for scenario in SCENARIOS:
        assert soft in expected_findings(scenario)
