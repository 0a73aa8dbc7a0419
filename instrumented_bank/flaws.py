"""The planted-flaw manifest (``flaws.json``): ground truth for critpath's findings.

Each flaw names a rule id, the client and server (``service.name`` values or virtual
peers), the endpoint where it matters and the scenarios it exists in. Informational
entries (``long-tail``, ``tolerated-failure``) describe behaviour that is not a rule of its
own, so no finding is expected for them. ``soft-dependency`` (feed -> merchant, the read
whose failure the feed tolerates) is a rule and expected; its ``not_rule`` says which rule
must *not* fire for that pair (``deferrable-work``: the read's result is used).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from instrumented_bank.settings import SCENARIOS, Scenario

MANIFEST = "flaws.json"
SCHEMA = "instrumented-bank.flaws/v1"


@dataclass(frozen=True, slots=True)
class Flaw:
    id: str
    rule: str
    client: str
    server: str
    endpoint: tuple[str, str] | None
    scenarios: tuple[Scenario, ...]
    informational: bool
    not_rule: str | None
    details: dict[str, Any]


def load_manifest() -> dict[str, Any]:
    """The manifest as stored."""
    return json.loads(resources.files("instrumented_bank").joinpath(MANIFEST).read_text())


def load_flaws() -> list[Flaw]:
    """Every planted flaw; raises ``ValueError`` when the manifest is malformed."""
    manifest = load_manifest()
    if manifest.get("schema") != SCHEMA:
        raise ValueError(f"{MANIFEST}: schema must be {SCHEMA!r}")
    flaws = []
    for entry in manifest["flaws"]:
        scenarios = tuple(entry["scenarios"])
        if not scenarios or any(s not in SCENARIOS for s in scenarios):
            raise ValueError(f"{MANIFEST}: flaw {entry['id']} has bad scenarios {scenarios}")
        endpoint = entry.get("endpoint")
        flaws.append(
            Flaw(
                id=entry["id"],
                rule=entry["rule"],
                client=entry["client"],
                server=entry["server"],
                endpoint=(endpoint["service"], endpoint["name"]) if endpoint else None,
                scenarios=scenarios,
                informational=bool(entry.get("informational", False)),
                not_rule=entry.get("not_rule"),
                details=entry,
            )
        )
    return flaws


def expected_findings(scenario: Scenario) -> list[Flaw]:
    """The flaws a rule should report in ``scenario`` (informational entries left out)."""
    return [f for f in load_flaws() if scenario in f.scenarios and not f.informational]
