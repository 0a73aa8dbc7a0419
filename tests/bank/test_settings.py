"""Bank settings: environment round trip, validation, ports and addresses."""

from __future__ import annotations

from pathlib import Path

import pytest

from instrumented_bank.settings import SERVICE_NAMES, BankSettings, Faults


def test_settings_survive_the_trip_through_the_environment():
    settings = BankSettings(
        scenario="fixed",
        base_port=12000,
        data_dir=Path("/tmp/x"),
        accounts=7,
        faults=Faults(merchant_slow_rate=0.5, apns_latency_ms=9),
    )
    assert BankSettings.from_env(settings.to_env()) == settings


def test_unset_variables_keep_defaults():
    assert BankSettings.from_env({}) == BankSettings()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BANK_BASE_PORT": "nine"}, "BANK_BASE_PORT='nine' is not a valid int"),
        ({"BANK_FAULT_APNS_FAILURE_RATE": "2"}, "apns_failure_rate must be between 0 and 1"),
        ({"BANK_SCENARIO": "to-be"}, "scenario must be one of as-is, fixed"),
        ({"BANK_BASE_PORT": "65530"}, "leaves no room for 15 services"),
    ],
    ids=["bad-int", "rate-out-of-range", "unknown-scenario", "ports-past-65535"],
)
def test_bad_values_name_what_is_wrong(env, message):
    with pytest.raises(ValueError, match=message):
        BankSettings.from_env(env)


def test_ports_follow_the_gateway_and_urls_follow_the_template():
    settings = BankSettings(base_port=9000, url_template="http://{name}:{port}")
    assert settings.port_of("gateway") == 9000
    assert [settings.port_of(n) for n in SERVICE_NAMES] == list(range(9000, 9015))
    assert settings.url_of("card-processing") == "http://card-processing:9003"
    with pytest.raises(KeyError, match="no such bank service"):
        settings.port_of("ledger")
