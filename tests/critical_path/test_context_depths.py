"""``trace_context`` finds the path owners' depths without the full depth map, and
computes ``depths`` only when read: both must agree with ``summarize_path``."""

from __future__ import annotations

from hypothesis import given, settings

from analyzer.aggregate import trace_context
from analyzer.critical_path import service_depths, summarize_path
from tests.critical_path.test_properties import traces


@settings(max_examples=300, deadline=None)
@given(traces())
def test_context_matches_the_summary_and_depths_are_the_full_map(trace):
    ctx = trace_context(trace)
    summary = summarize_path(trace)
    assert ctx.path == summary.path
    assert ctx.depth == summary.depth
    assert ctx.critical_ids == summary.critical_ids
    assert dict(ctx.service_ns) == dict(summary.service_ns)
    assert dict(ctx.depths) == service_depths(trace) == dict(summary.depths)
    assert ctx.depths is ctx.depths  # computed once, then kept
