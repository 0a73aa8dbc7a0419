"""The bank's settings: scenario, ports, data directory and fault injection.

Every service process and the runner read the same :class:`BankSettings`. The runner
passes them to its children as ``BANK_*`` environment variables (:meth:`BankSettings.to_env`),
so a service started by hand, by the runner or by docker-compose is configured the same way.
OpenTelemetry itself is configured by the standard ``OTEL_*`` variables, not here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

Scenario = Literal["as-is", "fixed"]
SCENARIOS: tuple[Scenario, ...] = ("as-is", "fixed")

#: Every service, in port order: the gateway gets the base port, the others follow.
SERVICE_NAMES: tuple[str, ...] = (
    "gateway",
    "accounts",
    "cards",
    "card-processing",
    "balance",
    "transactions",
    "transaction-enrichment",
    "merchant",
    "feed-generator",
    "feed",
    "push",
    "pots",
    "payments",
    "profile",
    "support",
)

#: The URL schemes of the Redis Streams queue backend (see ``BankSettings.queue_url``).
QUEUE_URL_SCHEMES = ("redis://", "rediss://", "unix://")

DEFAULT_BASE_PORT = 9000
DEFAULT_HOST = "127.0.0.1"
DEFAULT_URL_TEMPLATE = "http://127.0.0.1:{port}"
#: Outside any source tree, and kept between runs so balances carry on where they were.
DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "critpath-bank"


@dataclass(frozen=True, slots=True)
class Faults:
    """How often things go wrong, and how slow they are. Rates are probabilities in [0, 1]."""

    merchant_slow_rate: float = 0.05
    """Share of merchant lookups that hit the slow path (the long tail)."""
    merchant_slow_ms: int = 400
    merchant_failure_rate: float = 0.03
    """Share of merchant lookups that fail; the feed still renders, without logos."""
    apns_failure_rate: float = 0.05
    """Share of push deliveries that APNs rejects; card authorisation still succeeds."""
    apns_latency_ms: int = 35
    side_effect_failure_rate: float = 0.03
    """Share of enrichment, feed-generation and feed-reaction writes that fail (their
    callers tolerate it: the planted deferrable work)."""
    enrichment_latency_ms: int = 30
    feed_generation_latency_ms: int = 30
    work_ms: int = 2
    """Small per-request work every service does, so its own spans are not empty.

    The three side-effect latencies are similar on purpose: each varies by ±50 %, so
    each of the parallel side effects is sometimes the slowest, on the critical path."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name.endswith("_rate") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{item.name} must be between 0 and 1, not {value}")
            if item.name.endswith("_ms") and value < 0:
                raise ValueError(f"{item.name} must not be negative, not {value}")


@dataclass(frozen=True, slots=True)
class BankSettings:
    """Everything a bank process needs to know besides its own service name."""

    scenario: Scenario = "as-is"
    base_port: int = DEFAULT_BASE_PORT
    host: str = DEFAULT_HOST
    """Address the services bind to (``0.0.0.0`` in containers)."""
    url_template: str = DEFAULT_URL_TEMPLATE
    """How a service reaches another: ``{name}`` and ``{port}`` are filled in."""
    data_dir: Path = DEFAULT_DATA_DIR
    accounts: int = 20
    """How many customers (each with one account and one card) the seed data creates."""
    queue_poll_ms: int = 50
    queue_url: str = ""
    """The work queue's backend: empty for the SQLite file in ``data_dir``, or a Redis URL
    (``redis://host:6379/0``) for Redis Streams."""
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(
                f"scenario must be one of {', '.join(SCENARIOS)}, not {self.scenario!r}"
            )
        if self.queue_url and not self.queue_url.startswith(QUEUE_URL_SCHEMES):
            raise ValueError(
                f"BANK_QUEUE_URL={self.queue_url!r} is not a Redis URL "
                f"({', '.join(QUEUE_URL_SCHEMES)}); leave it empty for the SQLite queue"
            )
        last = self.base_port + len(SERVICE_NAMES) - 1
        if not 1 <= self.base_port or last > 65535:
            raise ValueError(
                f"base port {self.base_port} leaves no room for {len(SERVICE_NAMES)} services "
                "(ports base .. base+14 must lie in 1..65535)"
            )

    def port_of(self, service: str) -> int:
        """The port ``service`` listens on."""
        try:
            return self.base_port + SERVICE_NAMES.index(service)
        except ValueError:
            raise KeyError(f"no such bank service: {service!r}") from None

    def url_of(self, service: str) -> str:
        """The base URL other services use to reach ``service``."""
        return self.url_template.format(name=service, port=self.port_of(service))

    def with_faults(self, **changes: float | int) -> BankSettings:
        """A copy with some fault settings changed."""
        return replace(self, faults=replace(self.faults, **changes))

    def to_env(self) -> dict[str, str]:
        """These settings as ``BANK_*`` environment variables (see :meth:`from_env`)."""
        env = {
            "BANK_SCENARIO": self.scenario,
            "BANK_BASE_PORT": str(self.base_port),
            "BANK_HOST": self.host,
            "BANK_URL_TEMPLATE": self.url_template,
            "BANK_DATA_DIR": str(self.data_dir),
            "BANK_ACCOUNTS": str(self.accounts),
            "BANK_QUEUE_POLL_MS": str(self.queue_poll_ms),
            "BANK_QUEUE_URL": self.queue_url,
        }
        for item in fields(self.faults):
            env[f"BANK_FAULT_{item.name.upper()}"] = str(getattr(self.faults, item.name))
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BankSettings:
        """Settings from ``BANK_*`` variables; anything unset keeps its default."""
        env = os.environ if environ is None else environ
        defaults = cls()
        fault_values: dict[str, float | int] = {}
        for item in fields(Faults):
            raw = env.get(f"BANK_FAULT_{item.name.upper()}")
            if raw is not None:
                convert = float if item.name.endswith("_rate") else int
                fault_values[item.name] = _parse(f"BANK_FAULT_{item.name.upper()}", raw, convert)
        return cls(
            scenario=env.get("BANK_SCENARIO", defaults.scenario),  # type: ignore[arg-type]
            base_port=_parse("BANK_BASE_PORT", env.get("BANK_BASE_PORT"), int, defaults.base_port),
            host=env.get("BANK_HOST", defaults.host),
            url_template=env.get("BANK_URL_TEMPLATE", defaults.url_template),
            data_dir=Path(env.get("BANK_DATA_DIR", str(defaults.data_dir))),
            accounts=_parse("BANK_ACCOUNTS", env.get("BANK_ACCOUNTS"), int, defaults.accounts),
            queue_poll_ms=_parse(
                "BANK_QUEUE_POLL_MS", env.get("BANK_QUEUE_POLL_MS"), int, defaults.queue_poll_ms
            ),
            queue_url=env.get("BANK_QUEUE_URL", defaults.queue_url),
            faults=Faults(**fault_values),
        )


def _parse(name, raw, convert, default=None):
    """``convert(raw)``, or ``default`` when unset; a bad value names its variable."""
    if raw is None:
        return default
    try:
        return convert(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a valid {convert.__name__}") from None
