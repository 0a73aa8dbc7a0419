"""Real traces nobody on this project produced decode completely and faithfully."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer.decode import decode
from analyzer.model import Span, SpanKind, StatusCode

DATA = Path(__file__).resolve().parents[1] / "data"

COMPOSE_SERVICES = {
    "compose-post-service", "home-timeline-service", "media-service", "nginx-web-server",
    "post-storage-service", "social-graph-service", "text-service", "unique-id-service",
    "url-shorten-service", "user-mention-service", "user-service", "user-timeline-service",
}
TIMELINE_SERVICES = {"home-timeline-service", "nginx-web-server", "post-storage-service"}

# file stem, trace id, spans, services, root span id, root name, root start µs, duration µs
DEATHSTARBENCH = [
    ("compose-post_R1000-trace_01_shortest", "268aaad8442de4c2", 32, COMPOSE_SERVICES,
     "/wrk2-api/post/compose", 1782331693981000, 6101),
    ("compose-post_R1000-trace_02_median", "082eca87d4103aa3", 32, COMPOSE_SERVICES,
     "/wrk2-api/post/compose", 1782331693564000, 19790),
    ("compose-post_R1000-trace_03_longest", "174d3a708f62ad84", 32, COMPOSE_SERVICES,
     "/wrk2-api/post/compose", 1782331693108000, 49934),
    ("compose-post_R500-trace_01_shortest", "292f9a45c1f9821a", 32, COMPOSE_SERVICES,
     "/wrk2-api/post/compose", 1782331594616000, 5224),
    ("compose-post_R500-trace_02_median", "2b4c83d3fc000dd5", 32, COMPOSE_SERVICES,
     "/wrk2-api/post/compose", 1782331594452000, 10438),
    ("compose-post_R500-trace_03_longest", "1b7ef6ffcb865481", 30,
     COMPOSE_SERVICES - {"media-service", "user-service"},
     "/wrk2-api/post/compose", 1782331595947000, 20502),
    ("read-home-timeline_R600-trace_01_shortest", "10c98d0710f7ebb2", 7, TIMELINE_SERVICES,
     "/wrk2-api/home-timeline/read", 1782332045334000, 11490),
    ("read-home-timeline_R600-trace_02_median", "1f7a2e4ada8b3184", 7, TIMELINE_SERVICES,
     "/wrk2-api/home-timeline/read", 1782332044381000, 75546),
    ("read-home-timeline_R600-trace_03_longest", "21cc7266e63b4f7c", 7, TIMELINE_SERVICES,
     "/wrk2-api/home-timeline/read", 1782332045659000, 188570),
    ("read-home-timeline_R700-trace_01_shortest", "131cfd5e0131d19d", 7, TIMELINE_SERVICES,
     "/wrk2-api/home-timeline/read", 1782332116188000, 18254),
    ("read-home-timeline_R700-trace_02_median", "1e01db5c7c5c2cd9", 7, TIMELINE_SERVICES,
     "/wrk2-api/home-timeline/read", 1782332115713000, 94990),
    ("read-home-timeline_R700-trace_03_longest", "02d02ca58ccc2c34", 7, TIMELINE_SERVICES,
     "/wrk2-api/home-timeline/read", 1782332116975000, 215638),
]


@pytest.mark.parametrize(("stem", "trace_id", "count", "services", "root_name", "start_us",
                          "duration_us"), DEATHSTARBENCH, ids=[row[0] for row in DEATHSTARBENCH])
def test_deathstarbench_trace(stem, trace_id, count, services, root_name, start_us, duration_us):
    path = DATA / "jaeger" / f"deathstarbench-{stem}.json"
    decoded = decode(path.read_bytes(), source=str(path))
    assert decoded.format == "jaeger-json"
    assert decoded.invalid_spans == 0
    assert len(decoded.spans) == count
    assert {s.service for s in decoded.spans} == services
    # 64-bit Jaeger trace ids are left-padded to 128 bits; every span shares the trace.
    assert {s.trace_id for s in decoded.spans} == {"0" * 16 + trace_id}
    roots = [s for s in decoded.spans if s.parent_id is None]
    assert [(r.span_id, r.name, r.service) for r in roots] == [
        (trace_id, root_name, "nginx-web-server")]
    assert (roots[0].start_ns, roots[0].end_ns) == (start_us * 1000,
                                                    (start_us + duration_us) * 1000)
    # Every parent is in the file (CHILD_OF references only), none asynchronous.
    ids = {s.span_id for s in decoded.spans}
    assert all(s.parent_id in ids for s in decoded.spans if s.parent_id is not None)
    assert not any(s.follows_from for s in decoded.spans)
    # The nginx root carries the HTTP tags the analysis reads (the URL names the operation
    # a retry repeats); everything else is dropped.
    attributes = dict(roots[0].attributes)
    url = attributes.pop("http.url")
    assert url.startswith("http://localhost:8080/wrk2-api/")
    assert attributes == {"http.method": "POST" if "compose" in stem else "GET",
                          "http.status_code": 200}


def test_deathstarbench_timeline_tree():
    """read-home-timeline R600 shortest, read off the file: nginx → home-timeline → storage."""
    path = DATA / "jaeger" / "deathstarbench-read-home-timeline_R600-trace_01_shortest.json"
    spans = {s.span_id: s for s in decode(path.read_bytes()).spans}
    assert {s.span_id: (s.parent_id, s.service, s.name) for s in spans.values()} == {
        "10c98d0710f7ebb2": (None, "nginx-web-server", "/wrk2-api/home-timeline/read"),
        "f33283dc91e30dd0": ("10c98d0710f7ebb2", "nginx-web-server",
                             "/wrk2-api/home-timeline/read"),
        "4f4c2b8ddf4f4278": ("f33283dc91e30dd0", "nginx-web-server", "read_home_timeline_client"),
        "a7f4eb6a31e1466f": ("4f4c2b8ddf4f4278", "home-timeline-service",
                             "read_home_timeline_server"),
        "57d95d12999ccf24": ("a7f4eb6a31e1466f", "home-timeline-service",
                             "read_home_timeline_redis_find_client"),
        "849f9fa7775b7c90": ("a7f4eb6a31e1466f", "post-storage-service",
                             "post_storage_read_posts_server"),
        "1350957dbed7e1c5": ("849f9fa7775b7c90", "post-storage-service",
                             "post_storage_mmc_mget_client"),
    }
    # DeathStarBench's tracer writes no span.kind tag: every span reads as INTERNAL.
    assert {s.kind for s in spans.values()} == {SpanKind.INTERNAL}
    assert spans["849f9fa7775b7c90"].start_ns == 1782332045335210 * 1000
    assert spans["849f9fa7775b7c90"].duration_ns == 1109 * 1000


def test_opentelemetry_proto_example():
    path = DATA / "otlp" / "opentelemetry-proto-example-trace.json"
    decoded = decode(path.read_bytes(), source=str(path))
    assert decoded.format == "otlp-json"
    assert decoded.spans == [Span(
        "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173",
        "my.service", "I'm a server span", SpanKind.SERVER,
        1544712660000000000, 1544712661000000000, StatusCode.UNSET)]
    kept = decode(path.read_bytes(), keep_attributes=None).spans[0].attributes
    assert kept == {"my.span.attr": "some value"}


def test_deathstarbench_traces_concatenated_as_one_jaeger_document():
    traces = [json.loads(p.read_bytes())["data"][0] for p in sorted((DATA / "jaeger").iterdir())]
    decoded = decode(json.dumps({"data": traces}).encode())
    assert len(decoded.spans) == 6 * 32 - 2 + 6 * 7
    assert len({s.trace_id for s in decoded.spans}) == 12
