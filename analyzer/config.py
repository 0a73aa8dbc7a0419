"""Settings of the analysis: which attributes declare timeouts, rule thresholds, budgets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_TIMEOUT_KEYS: tuple[str, ...] = (
    "http.request.header.x-envoy-expected-rq-timeout-ms",
    "http.request.header.grpc-timeout",
    "rpc.grpc.request.metadata.grpc-timeout",
    "http.request.header.x-bank-timeout-ms",
)


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    """What the rules look for and how sure they must be before they speak.

    ``depth_budgets`` maps ``"service name"`` endpoint keys (``str(Endpoint)``) to the
    largest critical-path depth allowed; endpoints not listed get ``default_depth_budget``
    (``None``: no budget).
    """

    timeout_keys: tuple[str, ...] = DEFAULT_TIMEOUT_KEYS
    min_observations: int = 5
    default_depth_budget: int | None = None
    depth_budgets: Mapping[str, int] = field(default_factory=dict)
