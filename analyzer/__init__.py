"""critpath's pure analysis core: span model, decoders, assembly, critical path,
service graph, rules and report. It performs no I/O: decoders take bytes.

Public names are imported lazily so ``import analyzer`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Span": "analyzer.model",
    "SpanKind": "analyzer.model",
    "StatusCode": "analyzer.model",
    "Link": "analyzer.model",
    "Event": "analyzer.model",
    "Segment": "analyzer.model",
    "Trace": "analyzer.model",
    "Endpoint": "analyzer.model",
    "decode": "analyzer.decode",
    "DecodeError": "analyzer.decode",
    "assemble": "analyzer.assemble",
    "critical_path": "analyzer.critical_path",
    "critical_paths": "analyzer.critical_path",
    "critical_path_depth": "analyzer.critical_path",
    "LatencySketch": "analyzer.stats",
    "GraphAggregate": "analyzer.graph",
    "Aggregate": "analyzer.aggregate",
    "TraceContext": "analyzer.aggregate",
    "trace_context": "analyzer.aggregate",
    "analyze_spans": "analyzer.report",
    "build_report": "analyzer.report",
    "trace_document": "analyzer.report",
    "paths_document": "analyzer.report",
    "AnalysisConfig": "analyzer.config",
    "CallAggregate": "analyzer.rules",
    "Finding": "analyzer.rules",
    "evaluate": "analyzer.rules",
    "judge": "analyzer.gate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'analyzer' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
