"""``AnalysisConfig.from_mapping``: the ``[rules]`` and ``[gate]`` tables of critpath.toml."""

from __future__ import annotations

import tomllib

import pytest

from analyzer.config import DEFAULT_TIMEOUT_KEYS, AnalysisConfig, AnalysisConfigError

FULL = """
[rules]
min_observations = 3
extra_timeout_keys = ["http.request.header.x-deadline-ms"]
disable = ["soft-dependency"]

[rules.missing-timeout]
min_observed_timeouts = 3
cluster_tolerance = 0.05
critical_share = 0.25

[rules.deferrable-work]
min_observations = 20
min_tolerated_failures = 2
min_saving_ms = 1.5

[rules.critical-path-depth]
budget = 4
[rules.critical-path-depth.budgets]
"bank-gateway POST /transfers" = 5

[gate]
fail_on = ["critical", "timeout-inversion"]
new_findings = "warning"

[collect]
port = 8686
"""


def test_a_full_config_file():
    config = AnalysisConfig.from_mapping(tomllib.loads(FULL))
    assert config.min_observations == 3
    assert config.timeout_keys == DEFAULT_TIMEOUT_KEYS + ("http.request.header.x-deadline-ms",)
    assert config.disabled_rules == frozenset({"soft-dependency"})
    assert config.min_observed_timeouts == 3
    assert config.timeout_cluster_tolerance == 0.05
    assert config.missing_timeout_critical_share == 0.25
    assert config.min_tolerated_failures == 2
    assert config.deferrable_min_saving_ms == 1.5
    assert config.min_observations_for("deferrable-work") == 20
    assert config.min_observations_for("missing-timeout") == 3
    assert config.depth_budget("bank-gateway POST /transfers") == 5
    assert config.depth_budget("bank-gateway GET /accounts") == 4
    assert config.fail_on == ("critical", "timeout-inversion")
    assert config.new_findings == "warning"


def test_no_config_at_all_fails_on_critical_findings_and_has_no_budgets():
    config = AnalysisConfig.from_mapping({})
    assert config == AnalysisConfig()
    assert config.fail_on == ("critical",)
    assert config.depth_budget("any endpoint") is None
    assert config.missing_timeout_critical_share == 0.5
    assert config.deferrable_min_saving_ms == 0.0


def test_whole_numbers_are_fine_for_the_share_and_the_saving():
    config = AnalysisConfig.from_mapping(tomllib.loads(
        "[rules.missing-timeout]\ncritical_share = 1\n"
        "[rules.deferrable-work]\nmin_saving_ms = 5\n"))
    assert config.missing_timeout_critical_share == 1.0
    assert config.deferrable_min_saving_ms == 5.0


def test_timeout_keys_replace_the_defaults():
    config = AnalysisConfig.from_mapping({"rules": {"timeout_keys": ["a"]}})
    assert config.timeout_keys == ("a",)


def test_config_mappings_are_read_only():
    config = AnalysisConfig(depth_budgets={"a b": 2})
    with pytest.raises(TypeError):
        config.depth_budgets["a b"] = 3  # type: ignore[index]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        pytest.param("[rules]\nmin_obs = 3", "[rules]: unknown key 'min_obs'; valid keys: "
                     "min_observations, timeout_keys, extra_timeout_keys, disable, missing-timeout, "
                     "timeout-inversion, deferrable-work, soft-dependency, critical-path-depth",
                     id="unknown-rules-key"),
        pytest.param("[gate]\nfail-on = []", "[gate]: unknown key 'fail-on'; valid keys: "
                     "fail_on, new_findings", id="unknown-gate-key"),
        pytest.param("[rules.deferrable-work]\nbudget = 3", "[rules.deferrable-work]: unknown key "
                     "'budget'; valid keys: min_observations, min_tolerated_failures, "
                     "min_saving_ms",
                     id="unknown-rule-table-key"),
        pytest.param("[gate]\nfail_on = [\"critcal\"]", "gate.fail_on: unknown value 'critcal'; "
                     "valid: critical, warning, info, missing-timeout, timeout-inversion, "
                     "deferrable-work, soft-dependency, critical-path-depth", id="misspelt-severity"),
        pytest.param("[gate]\nfail_on = \"critical\"", "gate.fail_on: expected an array of "
                     "strings, got a string", id="fail-on-not-a-list"),
        pytest.param("[gate]\nnew_findings = \"all\"", "gate.new_findings: unknown value 'all'; "
                     "valid: critical, warning, info, off", id="bad-new-findings"),
        pytest.param("[rules]\ndisable = [\"deferrable\"]", "rules.disable: unknown value "
                     "'deferrable'; valid: missing-timeout, timeout-inversion, deferrable-work, "
                     "soft-dependency, critical-path-depth", id="unknown-rule-id"),
        pytest.param("[rules]\nmin_observations = \"5\"", "rules.min_observations: expected an "
                     "integer, got a string", id="string-count"),
        pytest.param("[rules]\nmin_observations = -1", "rules.min_observations: must be at "
                     "least 0, got -1", id="negative-count"),
        pytest.param("[rules.critical-path-depth]\nbudget = true", "rules.critical-path-depth."
                     "budget: expected an integer, got a boolean", id="boolean-budget"),
        pytest.param("[rules.critical-path-depth]\nbudget = 0", "rules.critical-path-depth."
                     "budget: must be at least 1, got 0", id="zero-budget"),
        pytest.param("[rules.critical-path-depth.budgets]\n\"web GET /\" = 2.5",
                     "rules.critical-path-depth.budgets.\"web GET /\": expected an integer, got a "
                     "number", id="fractional-endpoint-budget"),
        pytest.param("[rules.missing-timeout]\ncluster_tolerance = 2", "rules.missing-timeout."
                     "cluster_tolerance: must be between 0 and 1, got 2", id="tolerance-above-one"),
        pytest.param("[rules.missing-timeout]\nshare = 0.5", "[rules.missing-timeout]: unknown "
                     "key 'share'; valid keys: min_observations, min_observed_timeouts, "
                     "cluster_tolerance, critical_share", id="unknown-missing-timeout-key"),
        pytest.param("[rules.missing-timeout]\ncritical_share = 1.5", "rules.missing-timeout."
                     "critical_share: must be between 0 and 1, got 1.5", id="share-above-one"),
        pytest.param("[rules.missing-timeout]\ncritical_share = -0.1", "rules.missing-timeout."
                     "critical_share: must be between 0 and 1, got -0.1", id="negative-share"),
        pytest.param("[rules.missing-timeout]\ncritical_share = \"50%\"", "rules.missing-"
                     "timeout.critical_share: expected a number, got a string", id="share-string"),
        pytest.param("[rules.deferrable-work]\nmin_saving_ms = -1", "rules.deferrable-work."
                     "min_saving_ms: must be a finite number of at least 0, got -1",
                     id="negative-saving"),
        pytest.param("[rules.deferrable-work]\nmin_saving_ms = inf", "rules.deferrable-work."
                     "min_saving_ms: must be a finite number of at least 0, got inf",
                     id="infinite-saving"),
        pytest.param("[rules.deferrable-work]\nmin_saving_ms = false", "rules.deferrable-work."
                     "min_saving_ms: expected a number, got a boolean", id="boolean-saving"),
        pytest.param("rules = 3", "[rules]: expected a table, got an integer", id="rules-not-a-table"),
    ],
)
def test_bad_settings_are_errors_naming_the_key(toml, message):
    with pytest.raises(AnalysisConfigError) as caught:
        AnalysisConfig.from_mapping(tomllib.loads(toml))
    assert str(caught.value) == message
