"""Settings of the analysis: which attributes declare timeouts, rule thresholds, budgets.

:class:`AnalysisConfig` is what the rules (``analyzer.rules``), the report and the gate
(``analyzer.gate``) read. :meth:`AnalysisConfig.from_mapping` builds it from the
``[rules]`` and ``[gate]`` tables of a critpath config file (``critpath.toml`` or
``[tool.critpath]`` in ``pyproject.toml``), validating every key so that a typo is an
error naming the key and the valid ones rather than a setting silently ignored::

    [rules]
    min_observations = 5                  # default for every rule
    extra_timeout_keys = ["http.request.header.x-my-deadline-ms"]
    disable = ["soft-dependency"]

    [rules.missing-timeout]
    critical_share = 0.5                  # critical when on the path in >= half the calls

    [rules.deferrable-work]
    min_observations = 20
    min_saving_ms = 0                     # speak only when the p99 saving exceeds this

    [rules.critical-path-depth]
    budget = 4                            # every endpoint
    [rules.critical-path-depth.budgets]
    "bank-gateway POST /transfers" = 5    # "service span-name", as in the report

    [gate]
    fail_on = ["critical", "timeout-inversion"]   # severities and/or rule ids
    new_findings = "warning"              # with a baseline: new findings this bad fail
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

DEFAULT_TIMEOUT_KEYS: tuple[str, ...] = (
    "http.request.header.x-envoy-expected-rq-timeout-ms",
    "http.request.header.grpc-timeout",
    "rpc.grpc.request.metadata.grpc-timeout",
    "http.request.header.x-bank-timeout-ms",
)

RULE_IDS: tuple[str, ...] = (
    "missing-timeout",
    "timeout-inversion",
    "deferrable-work",
    "soft-dependency",
    "critical-path-depth",
)
"""Stable rule ids (ARCHITECTURE.md §5); scripts and ``fail_on`` lists name them."""

SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")
"""Finding severities, worst first."""

DEFAULT_FAIL_ON: tuple[str, ...] = ("critical",)
"""With no config at all the gate fails on critical findings, so it is useful out of the box."""


class AnalysisConfigError(ValueError):
    """A ``[rules]`` or ``[gate]`` setting is unknown or has a wrong value.

    The message names the offending key (as a dotted TOML path) and what would be valid.
    """


def _frozen(mapping: Mapping[str, int] | None) -> Mapping[str, int]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    """What the rules look for, how sure they must be before they speak, and what fails the gate.

    ``depth_budgets`` maps ``"service name"`` endpoint keys (``str(Endpoint)``) to the
    largest critical-path depth allowed; endpoints not listed get ``default_depth_budget``
    (``None``: no budget). ``rule_min_observations`` overrides ``min_observations`` for
    single rules. ``fail_on`` lists severities and/or rule ids whose findings fail the
    gate; ``new_findings`` is the least severity of a finding absent from the baseline that
    fails it (``"off"``: new findings never fail it).
    """

    timeout_keys: tuple[str, ...] = DEFAULT_TIMEOUT_KEYS
    min_observations: int = 5
    default_depth_budget: int | None = None
    depth_budgets: Mapping[str, int] = field(default_factory=lambda: _frozen(None))
    rule_min_observations: Mapping[str, int] = field(default_factory=lambda: _frozen(None))
    disabled_rules: frozenset[str] = frozenset()
    min_observed_timeouts: int = 2
    timeout_cluster_tolerance: float = 0.1
    missing_timeout_critical_share: float = 0.5
    min_tolerated_failures: int = 1
    deferrable_min_saving_ms: float = 0.0
    fail_on: tuple[str, ...] = DEFAULT_FAIL_ON
    new_findings: str = "info"

    def __post_init__(self) -> None:
        # Freeze mappings passed as plain dicts so a shared config cannot change under
        # the collector's threads.
        object.__setattr__(self, "depth_budgets", _frozen(self.depth_budgets))
        object.__setattr__(self, "rule_min_observations", _frozen(self.rule_min_observations))

    def min_observations_for(self, rule: str) -> int:
        """How many observations ``rule`` needs before it reports anything."""
        return self.rule_min_observations.get(rule, self.min_observations)

    def depth_budget(self, endpoint: str) -> int | None:
        """The depth budget of ``endpoint`` (``"service name"``), or ``None`` for none."""
        return self.depth_budgets.get(endpoint, self.default_depth_budget)

    def enabled(self, rule: str) -> bool:
        """False when the config disables ``rule``."""
        return rule not in self.disabled_rules

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AnalysisConfig:
        """Build a config from a parsed config file's tables (``{"rules": …, "gate": …}``).

        Other tables (``[collect]``, ``[bank]``…) belong to other commands and are ignored.
        Raises :class:`AnalysisConfigError` naming the first unknown key or bad value.
        """
        rules = _table(data, "rules")
        gate = _table(data, "gate")
        _check_keys("rules", rules, _RULES_KEYS + RULE_IDS)
        _check_keys("gate", gate, _GATE_KEYS)

        kwargs: dict[str, Any] = {}
        if "timeout_keys" in rules:
            kwargs["timeout_keys"] = _strings("rules.timeout_keys", rules["timeout_keys"])
        extra = _strings("rules.extra_timeout_keys", rules.get("extra_timeout_keys", []))
        if extra:
            base = kwargs.get("timeout_keys", DEFAULT_TIMEOUT_KEYS)
            kwargs["timeout_keys"] = base + tuple(k for k in extra if k not in base)
        if "min_observations" in rules:
            kwargs["min_observations"] = _count("rules.min_observations", rules["min_observations"])
        disabled = _strings("rules.disable", rules.get("disable", []))
        for rule in disabled:
            _check_choice("rules.disable", rule, RULE_IDS)
        kwargs["disabled_rules"] = frozenset(disabled)

        per_rule: dict[str, int] = {}
        for rule in RULE_IDS:
            table = _table(rules, rule, f"rules.{rule}")
            _check_keys(f"rules.{rule}", table, _RULE_TABLE_KEYS[rule])
            if "min_observations" in table:
                per_rule[rule] = _count(f"rules.{rule}.min_observations", table["min_observations"])
            if rule == "missing-timeout":
                if "min_observed_timeouts" in table:
                    kwargs["min_observed_timeouts"] = _count(
                        "rules.missing-timeout.min_observed_timeouts",
                        table["min_observed_timeouts"], minimum=1,
                    )
                if "cluster_tolerance" in table:
                    kwargs["timeout_cluster_tolerance"] = _fraction(
                        "rules.missing-timeout.cluster_tolerance", table["cluster_tolerance"]
                    )
                if "critical_share" in table:
                    kwargs["missing_timeout_critical_share"] = _fraction(
                        "rules.missing-timeout.critical_share", table["critical_share"]
                    )
            elif rule == "deferrable-work":
                if "min_tolerated_failures" in table:
                    kwargs["min_tolerated_failures"] = _count(
                        "rules.deferrable-work.min_tolerated_failures",
                        table["min_tolerated_failures"], minimum=1,
                    )
                if "min_saving_ms" in table:
                    kwargs["deferrable_min_saving_ms"] = _non_negative(
                        "rules.deferrable-work.min_saving_ms", table["min_saving_ms"]
                    )
            elif rule == "critical-path-depth":
                if "budget" in table:
                    kwargs["default_depth_budget"] = _count(
                        "rules.critical-path-depth.budget", table["budget"], minimum=1
                    )
                budgets = _table(table, "budgets", "rules.critical-path-depth.budgets")
                kwargs["depth_budgets"] = {
                    str(endpoint): _count(
                        f'rules.critical-path-depth.budgets."{endpoint}"', value, minimum=1
                    )
                    for endpoint, value in budgets.items()
                }
        kwargs["rule_min_observations"] = per_rule

        if "fail_on" in gate:
            fail_on = _strings("gate.fail_on", gate["fail_on"])
            for item in fail_on:
                _check_choice("gate.fail_on", item, SEVERITIES + RULE_IDS)
            kwargs["fail_on"] = fail_on
        if "new_findings" in gate:
            value = gate["new_findings"]
            if not isinstance(value, str):
                raise AnalysisConfigError(
                    f"gate.new_findings: expected a string, got {_kind(value)}"
                )
            _check_choice("gate.new_findings", value, SEVERITIES + ("off",))
            kwargs["new_findings"] = value
        return cls(**kwargs)


_RULES_KEYS: tuple[str, ...] = ("min_observations", "timeout_keys", "extra_timeout_keys", "disable")
_GATE_KEYS: tuple[str, ...] = ("fail_on", "new_findings")
_RULE_TABLE_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "missing-timeout": ("min_observations", "min_observed_timeouts", "cluster_tolerance",
                        "critical_share"),
    "timeout-inversion": ("min_observations",),
    "deferrable-work": ("min_observations", "min_tolerated_failures", "min_saving_ms"),
    "soft-dependency": ("min_observations",),
    "critical-path-depth": ("min_observations", "budget", "budgets"),
})


def _kind(value: object) -> str:
    """A TOML-ish name for a value's type, for error messages."""
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _table(data: Mapping[str, Any], key: str, path: str | None = None) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise AnalysisConfigError(f"[{path or key}]: expected a table, got {_kind(value)}")
    return value


def _check_keys(path: str, table: Mapping[str, Any], valid: tuple[str, ...]) -> None:
    for key in table:
        if key not in valid:
            raise AnalysisConfigError(
                f"[{path}]: unknown key {key!r}; valid keys: {', '.join(valid)}"
            )


def _check_choice(path: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise AnalysisConfigError(f"{path}: unknown value {value!r}; valid: {', '.join(valid)}")


def _strings(path: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AnalysisConfigError(f"{path}: expected an array of strings, got {_kind(value)}")
    return tuple(value)


def _count(path: str, value: object, minimum: int = 0) -> int:
    # bool is an int subclass in Python; `budget = true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnalysisConfigError(f"{path}: expected an integer, got {_kind(value)}")
    if value < minimum:
        raise AnalysisConfigError(f"{path}: must be at least {minimum}, got {value}")
    return value


def _fraction(path: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AnalysisConfigError(f"{path}: expected a number, got {_kind(value)}")
    if not 0 <= value <= 1:
        raise AnalysisConfigError(f"{path}: must be between 0 and 1, got {value}")
    return float(value)


def _non_negative(path: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AnalysisConfigError(f"{path}: expected a number, got {_kind(value)}")
    if not 0 <= value < float("inf"):  # also refuses nan and inf
        raise AnalysisConfigError(f"{path}: must be a finite number of at least 0, got {value}")
    return float(value)
