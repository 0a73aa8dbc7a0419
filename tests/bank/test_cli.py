"""``critpath bank`` and ``python -m instrumented_bank``: help, settings precedence, mix."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from critpath.cli import main as critpath_main
from instrumented_bank import cli as bank_cli
from instrumented_bank.settings import DEFAULT_BASE_PORT
from instrumented_bank.traffic import DEFAULT_MIX, parse_mix


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bank_cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_help_lists_every_flag_scenarios_and_examples(capsys):
    assert critpath_main(["bank", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in (
        "--scenario",
        "--rate",
        "--base-port",
        "--duration",
        "--data-dir",
        "--otlp-endpoint",
        "--mix",
    ):
        assert flag in text
    assert "examples:" in text and "critpath bank --scenario fixed" in text
    assert "flaws.json" in text and "BANK_FAULT_" in text


def test_flags_win_over_environment_over_config_file_over_defaults():
    file_values = {"rate": 3, "base-port": 15000, "scenario": "fixed", "data_dir": "/tmp/from-file"}
    env = {"BANK_BASE_PORT": "16000", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318"}
    args = bank_cli.resolve(parse("--rate", "7"), file_values, env)
    assert args.rate == 7.0  # flag
    assert args.base_port == 16000  # environment
    assert args.otlp_endpoint == "http://env:4318"  # environment
    assert args.scenario == "fixed"  # file
    assert args.data_dir == Path("/tmp/from-file")  # file
    assert args.duration is None  # default
    assert bank_cli.resolve(parse(), {}, {}).base_port == DEFAULT_BASE_PORT


@pytest.mark.parametrize(
    ("file_values", "message"),
    [
        ({"ports": 1}, "unknown key"),
        ({"rate": "fast"}, "[bank] rate='fast' is not a valid float"),
    ],
    ids=["unknown-key", "bad-value"],
)
def test_bad_config_values_are_named(file_values, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        bank_cli.resolve(parse(), file_values, {})


def test_a_bad_bank_table_exits_2_with_the_reason(tmp_path, capsys):
    config = tmp_path / "critpath.toml"
    config.write_text("[bank]\nspeed = 3\n")
    assert critpath_main(["bank", "--config", str(config), "--duration", "0"]) == 2
    assert "unknown key(s) speed" in capsys.readouterr().err


def test_fault_flags_override_the_environment(monkeypatch):
    monkeypatch.setenv("BANK_FAULT_APNS_FAILURE_RATE", "0.5")
    args = bank_cli.resolve(
        parse("--fault", "merchant_slow_rate=0.25", "--fault", "apns-latency-ms=7"), {}, {}
    )
    faults = bank_cli.settings_from_args(args).faults
    assert (faults.merchant_slow_rate, faults.apns_latency_ms, faults.apns_failure_rate) == (
        0.25,
        7,
        0.5,
    )
    for bad, message in (
        ("coffee=1", "unknown fault 'coffee'"),
        ("apns_latency_ms=fast", "needs a number"),
    ):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            bank_cli.parse_fault(bad)


def test_mix_parsing():
    assert parse_mix("card-payment=5, feed=2") == {"card-payment": 5.0, "feed": 2.0}
    assert parse_mix("balance") == {"balance": 1.0}
    assert set(DEFAULT_MIX) == {
        "card-payment",
        "payment",
        "freeze-card",
        "balance",
        "feed",
        "reaction",
        "profile-picture",
        "support",
    }
    for bad, message in (
        ("coffee=1", "unknown journey"),
        ("feed=x", "must be a number"),
        ("feed=0", "positive weight"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_mix(bad)
