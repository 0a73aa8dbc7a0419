"""The 12 DeathStarBench traces and the OTLP specification's example, end to end.

Facts are recomputed here straight from the raw Jaeger JSON (root durations, service
hops between parent and child spans), independently of the decoder and the analyzer.
DeathStarBench's tracer records no span kinds, so its graph comes from the kind-less
rules of docs/report.md (service changes become edges, the root is the user's).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from analyzer.aggregate import Aggregate
from analyzer.assemble import assemble
from analyzer.decode import decode
from analyzer.report import build_report, paths_document

DATA = Path(__file__).resolve().parents[1] / "data"
JAEGER = sorted((DATA / "jaeger").glob("deathstarbench-*.json"))
OTLP_EXAMPLE = DATA / "otlp" / "opentelemetry-proto-example-trace.json"


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def raw_jaeger_facts() -> dict:
    """Root durations per endpoint and parent→child service hops, from the raw JSON."""
    durations: dict[tuple[str, str], list[float]] = {}
    hops: Counter = Counter()
    spans_total = 0
    for path in JAEGER:
        for trace in json.loads(path.read_text())["data"]:
            services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
            by_id = {s["spanID"]: s for s in trace["spans"]}
            spans_total += len(by_id)
            for span in by_id.values():
                parents = [r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"]
                service = services[span["processID"]]
                if not parents:
                    key = (service, span["operationName"])
                    durations.setdefault(key, []).append(span["duration"] / 1000)
                    hops[("user", service)] += 1
                elif parents[0] in by_id:
                    parent_service = services[by_id[parents[0]]["processID"]]
                    if parent_service != service:
                        hops[(parent_service, service)] += 1
    return {"durations": durations, "hops": hops, "spans": spans_total}


@pytest.fixture(scope="module")
def report() -> dict:
    aggregate = Aggregate()
    for path in [*JAEGER, OTLP_EXAMPLE]:
        aggregate.add_traces(assemble(decode(path.read_bytes(), source=str(path)).spans))
    return build_report(aggregate, generated_at="2026-12-03T17:00:00Z")


def test_all_twelve_jaeger_files_are_there():
    assert len(JAEGER) == 12


def test_counts(report):
    facts = raw_jaeger_facts()
    assert report["traces"] == 12 + 1
    assert report["spans"] == facts["spans"] + 1 == 233


def test_endpoint_latencies_match_the_raw_root_durations(report):
    facts = raw_jaeger_facts()
    rows = {(e["service"], e["name"]): e for e in report["endpoints"]}
    assert set(rows) == set(facts["durations"]) | {("my.service", "I'm a server span")}
    for key, durations in facts["durations"].items():
        row = rows[key]
        assert row["traces"] == len(durations) == 6
        assert row["p50_ms"] == pytest.approx(nearest_rank(durations, 0.5), abs=1e-3)
        assert row["p99_ms"] == pytest.approx(max(durations), abs=1e-3)
    assert rows[("my.service", "I'm a server span")]["p50_ms"] == 1000.0


def test_edges_are_the_raw_service_hops(report):
    facts = raw_jaeger_facts()
    edges = {(e["client"], e["server"]): e["requests"] for e in report["edges"]}
    assert edges == dict(facts["hops"])
    assert edges[("user", "nginx-web-server")] == 12
    assert all(e["failed"] == 0 and e["timeout_ms"] is None for e in report["edges"])


def test_services_and_kinds(report):
    kinds = {s["name"]: s["kind"] for s in report["services"]}
    assert kinds.pop("user") == "virtual"
    assert set(kinds.values()) == {"service"}
    assert len(kinds) == 13  # 12 DeathStarBench services and my.service
    # call depth 0 (nobody calls them) by name, then nginx, the only service user calls
    assert [s["name"] for s in report["services"][:3]] == ["my.service", "user",
                                                           "nginx-web-server"]


def test_critical_path_profiles(report):
    rows = {e["name"]: e for e in report["endpoints"]}
    compose = rows["/wrk2-api/post/compose"]["critical_path"]
    timeline = rows["/wrk2-api/home-timeline/read"]["critical_path"]
    assert (compose["depth_p50"], compose["depth_max"]) == (4, 4)
    assert (timeline["depth_p50"], timeline["depth_max"]) == (3, 3)
    for row in report["endpoints"]:
        shares = [s["share"] for s in row["critical_path"]["services"]]
        assert sum(shares) == pytest.approx(1.0, abs=1e-5)
        assert shares == sorted(shares, reverse=True)
    assert compose["services"][0]["name"] == "compose-post-service"
    assert timeline["services"][0]["name"] == "nginx-web-server"


def test_the_otlp_example_is_an_orphan_server_span(report):
    # Its only span names a parent the file does not hold: no user edge, one unpaired span.
    assert not any(e["server"] == "my.service" for e in report["edges"])
    aggregate = Aggregate()
    aggregate.add_traces(assemble(decode(OTLP_EXAMPLE.read_bytes()).spans))
    assert {tuple(k.to_list()): n for k, n in aggregate.graph.unpaired.items()} == {
        ("", "my.service", ""): 1}


def test_paths_of_every_trace_tile_their_root(report):
    for path in JAEGER:
        [trace] = assemble(decode(path.read_bytes()).spans)
        [entry] = paths_document([trace])["traces"]
        segments = entry["segments"]
        assert segments[0]["start_ns"] == trace.root.start_ns
        assert segments[-1]["end_ns"] == trace.root.end_ns
        assert all(a["end_ns"] == b["start_ns"] for a, b in zip(segments, segments[1:]))
