"""The trace assertions the bank tests rely on can fail: a broken tree is caught."""

from __future__ import annotations

import pytest

from tests.bank.harness import assert_one_tree
from tests.bank.otlp_receiver import ReceivedSpan

EDGE = ("gateway", "GET /accounts/{account_id}/feed")


def span(trace, span_id, parent, service, name, kind, start, end, peer=None) -> ReceivedSpan:
    return ReceivedSpan(
        trace_id=trace,
        span_id=span_id,
        parent_id=parent,
        service=service,
        name=name,
        kind=kind,
        start_ns=start,
        end_ns=end,
        status="unset",
        attributes={"peer.service": peer} if peer else {},
        links=(),
    )


def good_trace(trace="t1", start=100):
    return [
        span(trace, "a", None, "gateway", EDGE[1], "server", start, start + 100),
        span(trace, "b", "a", "gateway", "GET", "client", start + 10, start + 90, peer="feed"),
        span(trace, "c", "b", "feed", "GET /accounts/{id}/items", "server", start + 20, start + 80),
    ]


def test_a_whole_tree_passes():
    spans = good_trace()
    other_request = good_trace("t2", start=150)  # the next request: an edge root, allowed
    root = assert_one_tree(spans + other_request, spans, *EDGE)
    assert root.span_id == "a"


def test_a_hop_that_lost_the_context_is_a_stray_trace():
    spans = good_trace()
    # feed called merchant without traceparent: merchant's span roots a new trace.
    stray = span("t9", "x", None, "merchant", "GET /merchants", "server", 150, 160)
    with pytest.raises(AssertionError, match="merchant"):
        assert_one_tree([*spans, stray], spans, *EDGE)
    # The same root outside the request's window belongs to some other request.
    late = span("t9", "x", None, "merchant", "GET /merchants", "server", 300, 310)
    assert_one_tree([*spans, late], spans, *EDGE)


def test_a_missing_parent_a_second_root_or_a_wrong_edge_fails():
    a, b, c = good_trace()
    orphan = span("t1", "c", "zz", "feed", c.name, "server", 120, 130)
    with pytest.raises(AssertionError, match="parent missing"):
        assert_one_tree([a, b, orphan], [a, b, orphan], *EDGE)
    second_root = span("t1", "c", None, "feed", c.name, "server", 120, 130)
    with pytest.raises(AssertionError):
        assert_one_tree([a, b, second_root], [a, b, second_root], *EDGE)
    with pytest.raises(AssertionError):
        assert_one_tree([a, b, c], [a, b, c], "gateway", "POST /payments")
    # A SERVER span whose parent is not a CLIENT span calling it.
    wrong_peer = span("t1", "b", "a", "gateway", "GET", "client", 110, 190, peer="merchant")
    with pytest.raises(AssertionError):
        assert_one_tree([a, wrong_peer, c], [a, wrong_peer, c], *EDGE)
