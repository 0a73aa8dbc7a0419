"""The collector's settings: one frozen value built from flags, environment and file.

Precedence is flags over environment over the ``[collect]`` table of the config file
(ARCHITECTURE.md §8). This module owns the names: a setting ``max_live_traces`` is
``max_live_traces`` in the file, ``CRITPATH_MAX_LIVE_TRACES`` in the environment and
``max_live_traces`` in the overrides the CLI passes (from ``--max-live-traces`` style flags).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.config import AnalysisConfig

ENV_PREFIX = "CRITPATH_"


class SettingsError(ValueError):
    """A setting has a value the collector cannot use; the message names it and says why."""


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    """Everything ``critpath collect`` can be told. Sizes are bytes, durations seconds.

    Limits exist so that no input can make the collector grow without bound: each one,
    when reached, either throttles the sender (retryable, nothing lost) or drops and
    counts (visible in ``/metrics`` as ``critpath_spans_dropped_total{reason}``).
    """

    host: str = "127.0.0.1"
    otlp_http_port: int = 4318
    otlp_grpc_port: int = 4317
    port: int = 8686
    receivers: bool = True
    """Start the OTLP receivers with the app (tests of the API alone turn this off)."""
    dashboard: bool = True
    """Serve the dashboard pages under ``/`` (off: API and /metrics only)."""
    data_dir: Path | None = None
    """Where the SQLite store lives; ``None`` keeps everything in memory only."""

    max_body_bytes: int = 16 * 1024 * 1024
    """Largest request body accepted, measured after decompression (413 above it)."""
    max_live_traces: int = 50_000
    """Traces buffered while waiting to go quiet; at the limit senders are throttled."""
    max_spans_per_trace: int = 10_000
    """Spans kept for one trace; more are rejected (``trace_too_large``)."""
    max_pending_bytes: int = 256 * 1024 * 1024
    """Encoded size of all buffered spans; at the limit senders are throttled."""
    trace_wait_seconds: float = 5.0
    """A trace is analyzed once no span of it has arrived for this long."""
    max_trace_age_seconds: float = 120.0
    """A trace still receiving spans after this long is analyzed anyway."""
    late_trace_memory: int = 200_000
    """How many analyzed trace ids are remembered so that late spans are not counted twice."""
    max_concurrent_requests: int = 16
    """Export requests read and decoded at once per receiver; more are throttled."""
    retry_after_seconds: int = 1
    """The ``Retry-After`` sent with 429/503."""

    windows: tuple[int, ...] = (60, 300, 900)
    """Sliding windows offered besides ``all``, in seconds (named ``1m``, ``5m``, ``15m``)."""
    bucket_seconds: int = 15
    """Width of the time buckets the windows are made of."""

    retention_seconds: float = 7 * 24 * 3600.0
    """How long stored exemplar traces and snapshots are kept."""
    snapshot_interval_seconds: float = 30.0
    """How often the live aggregates are written to the store."""

    bearer_token: str | None = None
    """When set, receivers require ``Authorization: Bearer <token>`` (401 otherwise)."""
    label_cardinality_limit: int = 1_000
    """Distinct label sets per metric family before new ones fold into ``__overflow__``."""
    exemplars_slowest: int = 5
    """Slowest traces kept whole per endpoint."""
    exemplars_recent: int = 5
    """Most recent traces kept whole per endpoint."""
    exemplar_recent_interval_seconds: float = 1.0
    """At most one new 'recent' exemplar per endpoint per interval (bounds the work)."""
    max_exemplar_endpoints: int = 1_000
    """Endpoints that keep exemplars; traces of further endpoints keep none."""

    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def __post_init__(self) -> None:
        for name in ("otlp_http_port", "otlp_grpc_port", "port"):
            value = getattr(self, name)
            if not 0 <= value <= 65535:
                raise SettingsError(f"{name}: {value} is not a TCP port (0-65535)")
        positive = (
            "max_body_bytes", "max_live_traces", "max_spans_per_trace", "max_pending_bytes",
            "late_trace_memory", "bucket_seconds", "label_cardinality_limit",
            "max_concurrent_requests",
            "max_exemplar_endpoints",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name}: must be positive, got {getattr(self, name)}")
        for name in ("trace_wait_seconds", "max_trace_age_seconds", "retention_seconds", "snapshot_interval_seconds",
                     "exemplar_recent_interval_seconds", "retry_after_seconds",
                     "exemplars_slowest", "exemplars_recent"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name}: must not be negative, got {getattr(self, name)}")
        if not self.windows or any(w <= 0 or w % self.bucket_seconds for w in self.windows):
            raise SettingsError(
                f"windows: each must be a positive multiple of bucket_seconds "
                f"({self.bucket_seconds}), got {list(self.windows)}"
            )

    @property
    def window_names(self) -> dict[str, int]:
        """Window name (``"5m"``) to length in seconds, shortest first."""
        return {window_name(w): w for w in sorted(self.windows)}

    @classmethod
    def from_sources(
        cls,
        table: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        analysis: AnalysisConfig | None = None,
    ) -> CollectorSettings:
        """Settings from the ``[collect]`` table, then ``CRITPATH_*`` variables, then overrides.

        Unknown keys in the table are an error (a typo should not be silently ignored);
        unrelated ``CRITPATH_*`` variables are ignored, since other commands own them.
        ``None`` values in ``overrides`` mean "flag not given".
        """
        fields = _settable_fields()
        values: dict[str, Any] = {}
        for key, raw in (table or {}).items():
            if key not in fields:
                known = ", ".join(sorted(fields))
                raise SettingsError(f"[collect] {key}: unknown setting (known: {known})")
            values[key] = _coerce(f"[collect] {key}", raw, fields[key])
        for key, kind in fields.items():
            env_name = ENV_PREFIX + key.upper()
            if environ is not None and env_name in environ:
                values[key] = _coerce(env_name, environ[env_name], kind)
        for key, raw in (overrides or {}).items():
            if raw is not None:
                values[key] = _coerce(key, raw, fields[key])
        if analysis is not None:
            values["analysis"] = analysis
        return cls(**values)


def window_name(seconds: int) -> str:
    """``60`` → ``"1m"``, ``90`` → ``"90s"``, ``3600`` → ``"1h"``."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _settable_fields() -> dict[str, Any]:
    hints = typing.get_type_hints(CollectorSettings)
    return {f.name: hints[f.name] for f in dataclasses.fields(CollectorSettings)
            if f.name != "analysis"}


def _coerce(where: str, raw: Any, kind: Any) -> Any:
    """Turn a TOML value or an environment string into the field's type, or say why not."""
    optional = False
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        optional, kind = True, args[0]
    if optional and (raw is None or raw == ""):
        return None
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError("expected true or false")
        if kind is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError("expected an integer")
            return int(raw)
        if kind is float:
            if isinstance(raw, bool):
                raise ValueError("expected a number")
            return float(raw)
        if kind is Path:
            return Path(raw).expanduser()
        if kind is str:
            if not isinstance(raw, str):
                raise ValueError("expected a string")
            return raw
        if typing.get_origin(kind) is tuple:
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(int(str(item).strip()) for item in items if str(item).strip())
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{where}: cannot use {raw!r} ({exc})") from exc
    raise SettingsError(f"{where}: unsupported setting type {kind}")
