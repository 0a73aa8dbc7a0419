"""critpath's pure analysis core: span model, decoders, assembly, critical path,
service graph, rules and report. It performs no I/O: decoders take bytes.

The public names are imported here eagerly, not lazily: several share their name with
the submodule that defines them (``decode``, ``assemble``, ``critical_path``), and importing
such a submodule later would otherwise replace the function with the module.
"""

from analyzer.aggregate import Aggregate, TraceContext, trace_context
from analyzer.assemble import assemble
from analyzer.config import AnalysisConfig
from analyzer.critical_path import critical_path, critical_path_depth, critical_paths
from analyzer.decode import DecodeError, decode
from analyzer.gate import judge
from analyzer.graph import GraphAggregate
from analyzer.model import Endpoint, Event, Link, Segment, Span, SpanKind, StatusCode, Trace
from analyzer.report import analyze_spans, build_report, paths_document, trace_document
from analyzer.rules import CallAggregate, Finding, evaluate
from analyzer.stats import LatencySketch

__all__ = [
    "Aggregate", "AnalysisConfig", "CallAggregate", "DecodeError", "Endpoint", "Event",
    "Finding", "GraphAggregate", "LatencySketch", "Link", "Segment", "Span", "SpanKind",
    "StatusCode", "Trace", "TraceContext", "analyze_spans", "assemble", "build_report",
    "critical_path", "critical_path_depth", "critical_paths", "decode", "evaluate", "judge",
    "paths_document", "trace_context", "trace_document",
]
