"""CollectorSettings: defaults, precedence (flags > environment > file) and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.settings import CollectorSettings, SettingsError, window_name


def test_defaults_are_the_documented_ports():
    settings = CollectorSettings()
    assert (settings.otlp_http_port, settings.otlp_grpc_port, settings.port) == (4318, 4317, 8686)
    assert settings.window_names == {"1m": 60, "5m": 300, "15m": 900}


def test_flags_beat_environment_beat_file():
    table = {"port": 1111, "otlp_http_port": 2222, "otlp_grpc_port": 3333}
    environ = {"CRITPATH_OTLP_HTTP_PORT": "4444", "CRITPATH_OTLP_GRPC_PORT": "5555"}
    settings = CollectorSettings.from_sources(table, environ, {"otlp_grpc_port": 6666, "port": None})
    assert settings.port == 1111  # file only (a None override means "flag not given")
    assert settings.otlp_http_port == 4444  # environment over file
    assert settings.otlp_grpc_port == 6666  # flag over both


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("receivers", "false", False),
        ("trace_wait_seconds", "0.5", 0.5),
        ("data_dir", "/tmp/x", Path("/tmp/x")),
        ("bearer_token", "s3cret", "s3cret"),
        ("windows", "60, 120", (60, 120)),
        ("max_live_traces", "10", 10),
    ],
)
def test_environment_strings_are_coerced(name, raw, expected):
    settings = CollectorSettings.from_sources({}, {f"CRITPATH_{name.upper()}": raw})
    assert getattr(settings, name) == expected


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"max_live_trace": 5}, "unknown setting"),
        ({"port": "http"}, "[collect] port"),
        ({"port": 70000}, "not a TCP port"),
        ({"max_live_traces": 0}, "must be positive"),
        ({"windows": [61]}, "multiple of bucket_seconds"),
        ({"receivers": "maybe"}, "true or false"),
        ({"max_body_bytes": 1.5}, "integer"),
    ],
)
def test_bad_values_are_named(table, message):
    with pytest.raises(SettingsError, match=message.replace("[", r"\[")):
        CollectorSettings.from_sources(table, {})


def test_unrelated_environment_variables_are_ignored():
    settings = CollectorSettings.from_sources({}, {"CRITPATH_BANK_RATE": "5", "HOME": "/root"})
    assert settings == CollectorSettings()


@pytest.mark.parametrize(("seconds", "name"), [(60, "1m"), (90, "90s"), (3600, "1h"), (300, "5m")])
def test_window_names(seconds, name):
    assert window_name(seconds) == name
