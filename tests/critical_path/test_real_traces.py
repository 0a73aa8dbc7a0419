"""Critical paths of real traces: the 12 DeathStarBench Jaeger traces and SDK-made OTLP.

The Jaeger traces come from a real deployment (tests/data/SOURCES.md). Every fact asserted
here was checked by hand against the raw JSON (the trees are small enough to read).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.assemble import assemble
from analyzer.critical_path import critical_path, critical_path_depth, summarize_path
from analyzer.decode import decode
from analyzer.model import Segment, Trace
from tests.critical_path.reference import reference_path
from tests.support.sdk import TraceBuilder

JAEGER = sorted((Path(__file__).resolve().parents[1] / "data" / "jaeger").glob("*.json"))


def load(path: Path) -> Trace:
    [trace] = assemble(decode(path.read_bytes(), source=str(path)).spans)
    return trace


def test_all_twelve_traces_are_here():
    assert len(JAEGER) == 12


@pytest.mark.parametrize(
    "path", JAEGER, ids=[p.stem.removeprefix("deathstarbench-") for p in JAEGER]
)
def test_jaeger_trace_path_tiles_the_root_and_agrees_with_the_literal_walk(path):
    trace = load(path)
    assert len(trace.roots) == 1 and not trace.orphans and trace.duplicates == 0
    root = trace.root
    assert root.service == "nginx-web-server"

    path_ = critical_path(trace)
    assert path_[0].start_ns == root.start_ns and path_[-1].end_ns == root.end_ns
    assert sum(s.end_ns - s.start_ns for s in path_) == root.duration_ns
    assert all(a.end_ns == b.start_ns and a.span_id != b.span_id for a, b in zip(path_, path_[1:]))
    # nginx works alone before it makes its first call, so the root opens the path.
    assert path_[0].span_id == root.span_id
    assert path_ == reference_path(trace)
    # No back-to-back ties in these traces: Jaeger UI's stricter rule gives the same path.
    assert path_ == reference_path(trace, jaeger_ui_ties=True)

    expected_depth = 4 if "compose-post" in path.name else 3
    assert critical_path_depth(trace, path_) == expected_depth


def test_read_home_timeline_median_path_exactly():
    # nginx /read (root) 0..75546 µs
    #   nginx /read 25380..75548 (outlives the root by 2 µs: clamped)
    #     read_home_timeline_client 25409..75459 (waits 46 ms after the server answered)
    #       home-timeline read_home_timeline_server 27065..29168
    #         read_home_timeline_redis_find_client 27078..27268
    #         post-storage post_storage_read_posts_server 27394..28884
    #           post_storage_mmc_mget_client 27622..28386
    trace = load(next(p for p in JAEGER if "read-home-timeline_R600-trace_02" in p.name))
    origin = trace.root.start_ns
    rows = [
        ("1f7a2e4ada8b3184", 0, 25380),
        ("c1987206b51dd521", 25380, 25409),
        ("c67bf7bbe75a38e2", 25409, 27065),
        ("53d23562803db427", 27065, 27078),
        ("987db79d436f1dcb", 27078, 27268),
        ("53d23562803db427", 27268, 27394),
        ("cd325a06ef8b68c0", 27394, 27622),
        ("66acfac6575cd975", 27622, 28386),
        ("cd325a06ef8b68c0", 28386, 28884),
        ("53d23562803db427", 28884, 29168),
        ("c67bf7bbe75a38e2", 29168, 75459),
        ("c1987206b51dd521", 75459, 75546),
    ]
    expected = [Segment(s, origin + a * 1000, origin + b * 1000) for s, a, b in rows]
    assert critical_path(trace) == expected
    summary = summarize_path(trace)
    assert dict(summary.service_ns) == {
        "nginx-web-server": 73_443_000,
        "home-timeline-service": 613_000,
        "post-storage-service": 1_490_000,
    }


def test_compose_post_path_runs_through_the_sequential_writes_not_the_parallel_lookups():
    # compose_post_server fires creator, media and unique-id lookups while compose_text is
    # running; compose_text ends last, so they are off the path. Then store_post,
    # write_user_timeline and write_home_timeline run one after another: all on the path.
    # Inside text-service, user mentions (ending 3380 µs) outlast URL shortening (2898 µs).
    trace = load(next(p for p in JAEGER if "compose-post_R1000-trace_01" in p.name))
    on_path = {trace.spans[s.span_id].name for s in critical_path(trace)}
    assert {
        "compose_text_client", "compose_user_mentions_server", "store_post_client",
        "write_user_timeline_client", "write_home_timeline_client", "social_graph_redis_get_client",
    } <= on_path
    assert not on_path & {
        "compose_creator_client", "compose_media_client", "compose_unique_id_client",
        "compose_urls_client", "compose_urls_server",
    }


T0 = 1_700_000_000_000_000_000


def test_an_sdk_made_otlp_trace_with_messaging_and_links():
    """
    time        0    10   20   30   40   50   60   70   80   90   100
    transfer    |================================================|  gateway server
      debit          |==============|                              gateway client
        debit          |=========|                                 accounts server
      publish                          |==|                        gateway producer
        consume                            |=================|     notifier consumer
      ledger                                  |==============|     gateway client
    audit (another trace, linked to transfer)
    """
    builder = TraceBuilder()
    with builder.span("gateway", "POST /transfer", T0, T0 + 100, kind="server") as root:
        with builder.span("gateway", "accounts.debit", T0 + 10, T0 + 40, kind="client"):
            with builder.span("accounts", "debit", T0 + 15, T0 + 35, kind="server"):
                pass
        with builder.span(
            "gateway", "publish transfer", T0 + 45, T0 + 50, kind="producer"
        ) as producer:
            pass
        with builder.span(
            "notifier", "consume transfer", T0 + 55, T0 + 95, kind="consumer", parent=producer
        ):
            pass
        with builder.span("gateway", "ledger.write", T0 + 60, T0 + 90, kind="client"):
            pass
    with builder.span("audit", "audit transfer", T0 + 70, T0 + 80, links=[root]):
        pass

    traces = assemble(decode(builder.otlp_protobuf()).spans)
    assert len(traces) == 2  # a link makes no parent: the audit span is its own trace
    trace = next(t for t in traces if t.root.name == "POST /transfer")
    by_name = {span.name: span.span_id for span in trace.spans.values()}
    expected = [
        ("POST /transfer", 0, 10), ("accounts.debit", 10, 15), ("debit", 15, 35),
        ("accounts.debit", 35, 40), ("POST /transfer", 40, 45), ("publish transfer", 45, 50),
        ("POST /transfer", 50, 60), ("ledger.write", 60, 90), ("POST /transfer", 90, 100),
    ]
    assert critical_path(trace) == [Segment(by_name[n], T0 + a, T0 + b) for n, a, b in expected]
    summary = summarize_path(trace)
    assert summary.depth == 2  # notifier is depth 2 too, but asynchronous: off the path
    assert summary.depths[by_name["consume transfer"]] == 2
    assert dict(summary.service_ns) == {"gateway": 80, "accounts": 20}
