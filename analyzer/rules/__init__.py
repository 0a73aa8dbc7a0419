"""The rules of ARCHITECTURE.md §5: what to fix, with the numbers behind it.

Two steps, so the live collector can fold traces one at a time and merge windows:

1. :class:`CallAggregate` folds each analysed trace (a ``TraceContext``) into per-call
   statistics (:func:`observe_calls` does the per-trace part);
2. :func:`evaluate` judges the statistics against an ``AnalysisConfig`` and returns
   :class:`Finding` s, worst first.

Rule ids are stable: ``missing-timeout``, ``timeout-inversion``, ``deferrable-work``,
``soft-dependency``, ``critical-path-depth``.
"""

from analyzer.config import RULE_IDS
from analyzer.rules.calls import (
    CallAggregate,
    CallKey,
    CallObservation,
    CallStats,
    EndpointDepths,
    TraceView,
    observe_calls,
    what_if_saved_ns,
)
from analyzer.rules.evaluate import evaluate
from analyzer.rules.finding import Finding, severity_rank

__all__ = [
    "RULE_IDS", "CallAggregate", "CallKey", "CallObservation", "CallStats", "EndpointDepths",
    "Finding", "TraceView", "evaluate", "observe_calls", "severity_rank", "what_if_saved_ns",
]
