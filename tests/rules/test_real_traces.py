"""The rules on real traces: DeathStarBench's Jaeger exports (tests/data/SOURCES.md).

Their OpenTracing-era spans carry no kinds, so calls are found as spans with a child in
another service; no span declares a timeout, so every call is a missing-timeout:
critical where it was on the endpoint's critical path in at least half of its calls
(``missing_timeout_critical_share``), else a warning.
"""

from __future__ import annotations

from pathlib import Path

from analyzer.aggregate import Aggregate
from analyzer.assemble import assemble
from analyzer.config import AnalysisConfig
from analyzer.decode import decode
from analyzer.rules import evaluate

JAEGER = Path(__file__).resolve().parents[1] / "data" / "jaeger"


def _aggregate(config: AnalysisConfig) -> Aggregate:
    spans = []
    for path in sorted(JAEGER.glob("*.json")):
        spans.extend(decode(path.read_bytes(), source=str(path)).spans)
    aggregate = Aggregate(config)
    aggregate.add_traces(assemble(spans))
    return aggregate


def test_deathstarbench_calls_without_timeouts():
    config = AnalysisConfig(default_depth_budget=3)
    found = evaluate(_aggregate(config).calls, config)
    assert [(f.rule, f.severity, f.client, f.server, f.evidence.get("calls"),
             f.evidence.get("on_critical_path")) for f in found] == [
        ("missing-timeout", "critical", "nginx-web-server", "home-timeline-service", 6, 6),
        ("missing-timeout", "critical", "nginx-web-server", "compose-post-service", 6, 6),
        ("missing-timeout", "critical", "compose-post-service", "text-service", 6, 6),
        ("missing-timeout", "critical", "home-timeline-service", "post-storage-service", 6, 6),
        ("missing-timeout", "critical", "compose-post-service", "home-timeline-service", 6, 6),
        ("missing-timeout", "critical", "compose-post-service", "user-timeline-service", 6, 6),
        ("missing-timeout", "critical", "text-service", "user-mention-service", 6, 5),
        ("missing-timeout", "critical", "compose-post-service", "post-storage-service", 6, 6),
        ("missing-timeout", "critical", "home-timeline-service", "social-graph-service", 6, 6),
        # On the path in 1 of 6 calls: not "on the critical path" (both were critical
        # before missing_timeout_critical_share). Warnings by impact: 3.6 ms longest call,
        # then one level over budget, then calls whose longest stall was 0.3 ms.
        ("missing-timeout", "warning", "text-service", "url-shorten-service", 6, 1),
        ("critical-path-depth", "warning", None, None, None, None),
        ("missing-timeout", "warning", "compose-post-service", "unique-id-service", 6, 1),
        ("missing-timeout", "warning", "compose-post-service", "user-service", 5, 0),
        ("missing-timeout", "warning", "compose-post-service", "media-service", 5, 0),
    ]
    depth = found[10]
    assert depth.endpoint == "nginx-web-server /wrk2-api/post/compose"
    assert dict(depth.evidence) == {"traces": 6, "budget": 3, "depth_p50": 4, "depth_max": 4,
                                    "traces_over_budget": 6}


def test_the_old_any_call_rule_is_a_share_of_zero():
    config = AnalysisConfig(missing_timeout_critical_share=0.0)
    found = evaluate(_aggregate(config).calls, config)
    assert [(f.severity, f.server) for f in found if f.client == "compose-post-service"
            and f.server in {"unique-id-service", "user-service"}] == [
        ("critical", "unique-id-service"), ("warning", "user-service")]
