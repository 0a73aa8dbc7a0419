"""Hand-written documents for the TUI's tests: a small bank's report and traces
(card-processing, enrichment, feed, push, a sqlite peer, a RabbitMQ queue edge and a
finding of each rule), and a generated large report for the responsiveness test.
"""

from __future__ import annotations

from typing import Any

T0 = 1_733_240_000_000_000_000
"""Start of the fixture traces (ns since the epoch)."""

MS = 1_000_000

VIRTUAL = "virtual_node"
"""The connection type of the user's calls and of calls to uninstrumented peers."""

AUTHORIZE = "POST /cards/authorize"
AUTHORIZE_KEY = f"card-processing {AUTHORIZE}"
AUTHORIZE_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
AUTHORIZE_ERROR_TRACE = "0af7651916cd43dd8448eb211c80319c"
FEED_TRACE = "9f3c2a1b0d4e5f60718293a4b5c6d7e8"
EVICTED_TRACE = "00000000000000000000000000000bad"


def _share(name: str, share: float, p50: float, p99: float) -> dict[str, Any]:
    return {"name": name, "share": share, "p50_ms": p50, "p99_ms": p99}


def _endpoint(service, name, traces, errors, p50, p99, depth_p50, depth_max, shares):
    return {
        "service": service,
        "name": name,
        "traces": traces,
        "errors": errors,
        "p50_ms": p50,
        "p99_ms": p99,
        "critical_path": {"depth_p50": depth_p50, "depth_max": depth_max, "services": shares},
    }


def _edge(client, server, requests, failed, p50, p99, timeout=None, connection_type=""):
    return {
        "client": client,
        "server": server,
        "connection_type": connection_type,
        "requests": requests,
        "failed": failed,
        "p50_ms": p50,
        "p99_ms": p99,
        "timeout_ms": timeout,
    }


def _finding(
    rule, severity, message, evidence, client=None, server=None, endpoint=None, service=None
):
    return {
        "rule": rule,
        "severity": severity,
        "client": client,
        "server": server,
        "endpoint": endpoint,
        "service": service,
        "message": message,
        "evidence": evidence,
    }


def bank_report(generated_at: str = "2026-12-03T17:00:00+00:00") -> dict[str, Any]:
    """The bank's ``critpath.report/v1``; findings deliberately not in severity order."""
    return {
        "schema": "critpath.report/v1",
        "generated_at": generated_at,
        "traces": 2450,
        "spans": 31870,
        "services": [
            {"name": "user", "kind": "virtual"},
            {"name": "card-processing", "kind": "service"},
            {"name": "enrichment", "kind": "service"},
            {"name": "feed", "kind": "service"},
            {"name": "push", "kind": "service"},
            {"name": "sqlite", "kind": "database"},
            {"name": "apns.apple.com", "kind": "virtual"},
        ],
        "edges": [
            # Connection types as the analyzer labels them (ARCHITECTURE.md §4): the
            # user's calls and the uninstrumented peer's are "virtual_node", sqlite's
            # "database"; the graph draws them as calls and never spells them out.
            _edge("user", "card-processing", 1600, 18, 150.0, 1400.0, connection_type=VIRTUAL),
            _edge("user", "feed", 800, 2, 45.0, 240.0, connection_type=VIRTUAL),
            _edge("user", "push", 50, 5, 20.0, 90.0, connection_type=VIRTUAL),
            _edge("card-processing", "enrichment", 1200, 11, 95.0, 820.0),
            _edge("card-processing", "push", 1200, 34, 40.0, 410.0, timeout=2000.0),
            _edge("card-processing", "sqlite", 1600, 0, 3.1, 14.0, connection_type="database"),
            _edge("card-processing", "feed", 1200, 0, 1.2, 6.0, connection_type="messaging_system"),
            _edge("feed", "enrichment", 800, 1, 30.0, 160.0, timeout=2000.0),
            _edge("enrichment", "sqlite", 2000, 0, 2.4, 11.0, connection_type="database"),
            _edge("push", "apns.apple.com", 1250, 39, 35.0, 380.0, connection_type=VIRTUAL),
        ],
        "endpoints": [
            _endpoint(
                "card-processing",
                AUTHORIZE,
                1200,
                18,
                182.0,
                1450.0,
                2,
                3,
                [
                    _share("card-processing", 0.25, 40.0, 210.0),
                    _share("enrichment", 0.55, 95.0, 820.0),
                    _share("push", 0.20, 38.0, 410.0),
                ],
            ),
            _endpoint(
                "feed",
                "GET /feed",
                800,
                2,
                45.0,
                240.0,
                2,
                2,
                [
                    _share("feed", 0.7, 31.0, 120.0),
                    _share("enrichment", 0.3, 14.0, 130.0),
                ],
            ),
            _endpoint(
                "card-processing",
                "GET /cards/{id}",
                400,
                0,
                12.0,
                35.0,
                1,
                1,
                [
                    _share("card-processing", 1.0, 12.0, 35.0),
                ],
            ),
            _endpoint(
                "push",
                "POST /devices",
                50,
                5,
                20.0,
                90.0,
                1,
                1,
                [
                    _share("push", 1.0, 20.0, 90.0),
                ],
            ),
        ],
        "findings": [
            _finding(
                "critical-path-depth",
                "warning",
                "card-processing POST /cards/authorize reaches depth 3 on its critical path, "
                "over its "
                "budget of 2: each hop adds latency and a failure mode; flatten the chain.",
                {"depth_p50": 2, "depth_max": 3, "budget": 2, "traces": 1200},
                endpoint=AUTHORIZE_KEY,
            ),
            _finding(
                "missing-timeout",
                "info",
                "push calls apns.apple.com without a timeout; off the critical path today, "
                "but a hung "
                "peer would pile up push's workers; set one.",
                {"calls": 1250, "declared": 0, "timeouts_observed": 0, "p99_ms": 380.0},
                client="push",
                server="apns.apple.com",
            ),
            _finding(
                "missing-timeout",
                "critical",
                "card-processing calls enrichment without a timeout, on the critical path of "
                "POST /cards/authorize: a slow enrichment stalls every authorization; set one.",
                {
                    "calls": 1200,
                    "declared": 0,
                    "timeouts_observed": 0,
                    "p50_ms": 95.0,
                    "p99_ms": 820.0,
                },
                client="card-processing",
                server="enrichment",
            ),
            _finding(
                "deferrable-work",
                "warning",
                "card-processing waits for push's notification although nothing depends on it: "
                "queue it and save 38 ms at p50, 410 ms at p99.",
                {
                    "calls": 1200,
                    "failed_tolerated": 34,
                    "saving_p50_ms": 38.0,
                    "saving_p99_ms": 410.0,
                },
                client="card-processing",
                server="push",
            ),
            _finding(
                "timeout-inversion",
                "warning",
                "feed gives enrichment 2000 ms although feed's own caller gives up after 1000 ms: "
                "the work after 1000 ms is wasted; lower it.",
                {"call_timeout_ms": 2000, "caller_timeout_ms": 1000, "calls": 800},
                client="feed",
                server="enrichment",
            ),
        ],
    }


def _span(
    span_id, parent, service, name, kind, start_ms, end_ms, depth, status="unset", **attributes
):
    return {
        "span_id": span_id,
        "parent_id": parent,
        "service": service,
        "name": name,
        "kind": kind,
        "start_ns": T0 + int(start_ms * MS),
        "end_ns": T0 + int(end_ms * MS),
        "status": status,
        "attributes": attributes,
        "depth": depth,
    }


def _segments(
    spans: list[dict[str, Any]], pieces: list[tuple[str, float, float]]
) -> list[dict[str, Any]]:
    by_id = {s["span_id"]: s for s in spans}
    return [
        {
            "span_id": sid,
            "service": by_id[sid]["service"],
            "name": by_id[sid]["name"],
            "start_ns": T0 + int(a * MS),
            "end_ns": T0 + int(b * MS),
        }
        for sid, a, b in pieces
    ]


def authorize_trace() -> dict[str, Any]:
    """An authorization: enrichment reads sqlite, push calls APNs, a RabbitMQ event to feed.

    Critical path worked out by hand with the backward walk (ARCHITECTURE.md §3).
    """
    timeout = {"http.request.header.x-bank-timeout-ms": ["2000"]}
    spans = [
        _span(
            "a000000000000001",
            None,
            "card-processing",
            AUTHORIZE,
            "server",
            0,
            200,
            1,
            **{
                "http.request.method": "POST",
                "http.route": "/cards/authorize",
                "http.response.status_code": 200,
            },
        ),
        _span(
            "a000000000000002",
            "a000000000000001",
            "card-processing",
            "validate card",
            "internal",
            2,
            8,
            1,
        ),
        _span(
            "a000000000000003",
            "a000000000000001",
            "card-processing",
            "POST /enrich",
            "client",
            10,
            120,
            1,
            **{"server.address": "enrichment", "http.request.method": "POST"},
        ),
        _span(
            "a000000000000004",
            "a000000000000003",
            "enrichment",
            "POST /enrich",
            "server",
            12,
            118,
            2,
            **{"http.route": "/enrich"},
        ),
        _span(
            "a000000000000005",
            "a000000000000004",
            "enrichment",
            "SELECT merchants",
            "client",
            20,
            60,
            2,
            **{"db.system": "sqlite", "db.statement": "SELECT * FROM merchants WHERE id = ?"},
        ),
        _span(
            "a000000000000006",
            "a000000000000004",
            "enrichment",
            "score risk",
            "internal",
            62,
            110,
            2,
        ),
        _span(
            "a000000000000007",
            "a000000000000001",
            "card-processing",
            "INSERT ledger",
            "client",
            122,
            135,
            1,
            **{"db.system": "sqlite"},
        ),
        _span(
            "a000000000000008",
            "a000000000000001",
            "card-processing",
            "POST /notify",
            "client",
            136,
            195,
            1,
            **{"server.address": "push", **timeout},
        ),
        _span(
            "a000000000000009", "a000000000000008", "push", "POST /notify", "server", 138, 193, 2
        ),
        _span(
            "a00000000000000a",
            "a000000000000009",
            "push",
            "POST apns",
            "client",
            140,
            190,
            2,
            "error",
            **{"server.address": "apns.apple.com", "error.type": "503"},
        ),
        _span(
            "a00000000000000b",
            "a000000000000001",
            "card-processing",
            "transactions publish",
            "producer",
            196,
            198,
            1,
            **{"messaging.system": "rabbitmq"},
        ),
        _span(
            "a00000000000000c",
            "a00000000000000b",
            "feed",
            "transactions process",
            "consumer",
            199,
            230,
            2,
            **{"messaging.system": "rabbitmq"},
        ),
    ]
    (
        root,
        validate,
        enrich_c,
        enrich_s,
        select,
        score,
        insert,
        notify_c,
        notify_s,
        apns,
        publish,
        _,
    ) = (s["span_id"] for s in spans)
    pieces = [
        (root, 0, 2),
        (validate, 2, 8),
        (root, 8, 10),
        (enrich_c, 10, 12),
        (enrich_s, 12, 20),
        (select, 20, 60),
        (enrich_s, 60, 62),
        (score, 62, 110),
        (enrich_s, 110, 118),
        (enrich_c, 118, 120),
        (root, 120, 122),
        (insert, 122, 135),
        (root, 135, 136),
        (notify_c, 136, 138),
        (notify_s, 138, 140),
        (apns, 140, 190),
        (notify_s, 190, 193),
        (notify_c, 193, 195),
        (root, 195, 196),
        (publish, 196, 198),
        (root, 198, 200),
    ]
    return {
        "schema": "critpath.trace/v1",
        "trace_id": AUTHORIZE_TRACE,
        "endpoint": {"service": "card-processing", "name": AUTHORIZE},
        "duration_ms": 200.0,
        "depth": 2,
        "start_ns": T0,
        "spans": spans,
        "critical_path": _segments(spans, pieces),
    }


def feed_trace() -> dict[str, Any]:
    """A feed read whose enrichment call failed and was tolerated."""
    spans = [
        _span("f000000000000001", None, "feed", "GET /feed", "server", 0, 48, 1),
        _span(
            "f000000000000002",
            "f000000000000001",
            "feed",
            "POST /enrich",
            "client",
            5,
            40,
            1,
            **{"http.request.header.x-bank-timeout-ms": ["2000"]},
        ),
        _span(
            "f000000000000003",
            "f000000000000002",
            "enrichment",
            "POST /enrich",
            "server",
            6,
            39,
            2,
            "error",
            **{"error.type": "sqlite3.OperationalError"},
        ),
    ]
    a, b, c = (s["span_id"] for s in spans)
    return {
        "schema": "critpath.trace/v1",
        "trace_id": FEED_TRACE,
        "endpoint": {"service": "feed", "name": "GET /feed"},
        "duration_ms": 48.0,
        "depth": 2,
        "start_ns": T0,
        "spans": spans,
        "critical_path": _segments(
            spans, [(a, 0, 5), (b, 5, 6), (c, 6, 39), (b, 39, 40), (a, 40, 48)]
        ),
    }


def bank_traces() -> dict[str, dict[str, Any]]:
    """The fixture trace documents by trace id."""
    return {doc["trace_id"]: doc for doc in (authorize_trace(), feed_trace())}


def bank_endpoints() -> dict[tuple[str, str], dict[str, Any]]:
    """Endpoint details (depth counts, exemplars); one exemplar the source no longer holds."""
    return {
        ("card-processing", AUTHORIZE): {
            "depths": {"2": 1100, "3": 100},
            "exemplars": [
                {
                    "trace_id": AUTHORIZE_ERROR_TRACE,
                    "duration_ms": 1450.0,
                    "error": True,
                    "start_ns": T0,
                },
                {"trace_id": AUTHORIZE_TRACE, "duration_ms": 200.0, "error": False, "start_ns": T0},
                {"trace_id": EVICTED_TRACE, "duration_ms": 150.0, "error": False, "start_ns": T0},
            ],
        },
        ("feed", "GET /feed"): {
            "depths": {"2": 800},
            "exemplars": [
                {"trace_id": FEED_TRACE, "duration_ms": 48.0, "error": True, "start_ns": T0}
            ],
        },
    }


def empty_report() -> dict[str, Any]:
    """A report of nothing at all."""
    return {
        "schema": "critpath.report/v1",
        "generated_at": "2026-12-03T17:00:00+00:00",
        "traces": 0,
        "spans": 0,
        "services": [],
        "edges": [],
        "endpoints": [],
        "findings": [],
    }


def big_report(
    services: int = 200,
    endpoints: int = 1000,
    generation: int = 0,
    findings: int = 300,
    first_endpoint: int = 0,
) -> dict[str, Any]:
    """A report of a large estate; ``generation`` varies the numbers as a live refresh would.

    The endpoints are ``GET /api/{first_endpoint:04d}`` onwards, so two reports with
    different ``first_endpoint`` differ by endpoints that entered or left the window.
    """
    names = [f"svc-{i:03d}" for i in range(services)]
    edges = [_edge("user", names[i], 1000 + i, i % 7, 10.0, 90.0) for i in range(10)]
    for i in range(10, services):
        # Each service is called by two in the layer above: a graph ~20 layers deep.
        for parent in (i - 10, (i * 7) % i):
            edges.append(
                _edge(
                    names[parent],
                    names[i],
                    500 + i,
                    (i + generation) % 5,
                    4.0,
                    40.0 + i,
                    connection_type="messaging_system" if i % 13 == 0 else "",
                )
            )
    docs = []
    for e in range(first_endpoint, first_endpoint + endpoints):
        service = names[e % 10]
        chain = [names[(e + k * 10) % services] for k in range(4)]
        docs.append(
            _endpoint(
                service,
                f"GET /api/{e:04d}",
                100 + e + generation,
                e % 11,
                10.0 + e % 50,
                100.0 + (e * 37 + generation) % 900,
                3,
                4,
                [_share(n, 0.25, 5.0, 50.0) for n in chain],
            )
        )
    finding_docs = [
        _finding(
            "missing-timeout",
            ("critical", "warning", "info")[i % 3],
            f"call {i} has no timeout",
            {"calls": 100 + i},
            client=names[i % services],
            server=names[(i + 10) % services],
        )
        for i in range(findings)
    ]
    return {
        "schema": "critpath.report/v1",
        "generated_at": "2026-12-03T17:00:00+00:00",
        "traces": 10**6 + generation,
        "spans": 10**7,
        "services": [{"name": n, "kind": "service"} for n in names],
        "edges": edges,
        "endpoints": docs,
        "findings": finding_docs,
    }


def big_trace(spans: int = 10_000) -> dict[str, Any]:
    """A 10,000-span trace: a fan-out tree (each span has up to four children)."""
    docs = []
    for i in range(spans):
        parent = None if i == 0 else f"{(i - 1) // 4:016x}"
        start = i * 10
        docs.append(
            {
                "span_id": f"{i:016x}",
                "parent_id": parent,
                "service": f"svc-{i % 200:03d}",
                "name": f"op {i}",
                "kind": "server" if i % 2 else "client",
                "start_ns": T0 + start * 1000,
                "end_ns": T0 + (start + 5 + (spans - i)) * 1000,
                "status": "error" if i % 97 == 0 else "unset",
                "attributes": {"i": i},
                "depth": 1 + i % 5,
            }
        )
    return {
        "schema": "critpath.trace/v1",
        "trace_id": "b" * 32,
        "endpoint": {"service": "svc-000", "name": "GET /big"},
        "duration_ms": (spans * 10 + 5) / 1000,
        "depth": 5,
        "start_ns": T0,
        "spans": docs,
        "critical_path": [
            {
                "span_id": f"{i:016x}",
                "service": "s",
                "name": "n",
                "start_ns": T0 + i * 10_000,
                "end_ns": T0 + (i + 1) * 10_000,
            }
            for i in range(0, spans, 4)
        ],
    }
