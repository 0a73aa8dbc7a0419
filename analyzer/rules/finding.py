"""A finding: what a rule says about one subject (ARCHITECTURE.md §5, report shape §6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from analyzer.config import SEVERITIES

__all__ = ["Finding", "severity_rank"]


def severity_rank(severity: str) -> int:
    """0 for critical, 1 for warning, 2 for info (worst first); unknown sorts last."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing to fix.

    ``rule`` is a stable rule id, ``severity`` one of ``critical|warning|info``. The
    subject fields (``client``, ``server``, ``endpoint`` as ``"service name"``,
    ``service``: the service that should change) are ``None`` where they do not apply.
    ``message`` is one line: what is wrong, why it matters, what to do. ``evidence`` holds
    the numbers behind it. ``impact`` orders findings of equal severity (larger first);
    it is the finding's main number in milliseconds (or depth over budget) and is also
    given in the report so consumers can sort the same way.
    """

    rule: str
    severity: str
    message: str
    client: str | None = None
    server: str | None = None
    endpoint: str | None = None
    service: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict, hash=False)
    impact: float = 0.0

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}"
            )
        object.__setattr__(self, "evidence", MappingProxyType(dict(self.evidence)))

    @property
    def sort_key(self) -> tuple:
        """Worst first: severity, then impact (descending), then the subject for stability."""
        return (severity_rank(self.severity), -self.impact, self.rule, self.endpoint or "",
                self.client or "", self.server or "", self.service or "", self.message)

    def to_dict(self) -> dict[str, Any]:
        """The report's finding object (``critpath.report/v1``)."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "client": self.client,
            "server": self.server,
            "endpoint": self.endpoint,
            "service": self.service,
            "message": self.message,
            "evidence": dict(self.evidence),
            "impact": self.impact,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Read a finding back from a report."""
        return cls(
            rule=str(data["rule"]),
            severity=str(data["severity"]),
            message=str(data.get("message", "")),
            client=data.get("client"),
            server=data.get("server"),
            endpoint=data.get("endpoint"),
            service=data.get("service"),
            evidence=dict(data.get("evidence") or {}),
            impact=float(data.get("impact", 0.0)),
        )
