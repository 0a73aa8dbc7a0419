"""The JSON API: report, graph, endpoints, findings, traces, health, OpenAPI, SSE."""

from __future__ import annotations

import json

import httpx

from analyzer.aggregate import Aggregate
from analyzer.report import build_report
from collector.app import create_app
from tests.collector.support import (
    comparable,
    expected_report,
    loopback_settings,
    protobuf_request,
    serve,
    wait_until,
)

PROTOBUF = {"content-type": "application/x-protobuf"}


def feed(collector, count: int = 10, **kwargs) -> None:
    body = protobuf_request(count, **kwargs)
    assert httpx.post(collector.otlp_http, content=body, headers=PROTOBUF).status_code == 200
    wait_until(lambda: collector.runtime.state.traces >= count)


def test_report_graph_endpoints_findings_agree(collector):
    feed(collector)
    api = collector.api
    report = api.get("/api/report", params={"window": "5m"}).json()
    assert report["window"] == "5m" and report["traces"] == 10
    graph = api.get("/api/graph").json()
    assert graph["services"] == report["services"] and graph["edges"] == report["edges"]
    assert {(e["client"], e["server"]) for e in graph["edges"]} >= {("user", "web"), ("web", "api")}
    endpoints = api.get("/api/endpoints").json()["endpoints"]
    assert endpoints == report["endpoints"]
    assert api.get("/api/findings").json()["findings"] == report["findings"]


def test_endpoint_detail_lists_exemplars_that_open(collector):
    feed(collector)
    detail = collector.api.get("/api/endpoints/web/POST /checkout").json()
    assert detail["traces"] == 10 and detail["critical_path"]["services"]
    findings = collector.api.get("/api/findings").json()["findings"]
    assert findings and detail["findings"] == [
        f for f in findings if f["endpoint"] == "web POST /checkout"]
    assert detail["exemplars"]
    trace_id = detail["exemplars"][0]["trace_id"]
    document = collector.api.get(f"/api/traces/{trace_id}").json()
    assert document["schema"] == "critpath.trace/v1" and document["trace_id"] == trace_id
    # Clients quote names whole (slashes included), as the TUI does.
    quoted = collector.api.get("/api/endpoints/web/POST%20%2Fcheckout").json()
    assert quoted["name"] == "POST /checkout" and quoted["traces"] == 10
    listed = collector.api.get("/api/traces", params={"endpoint_service": "web",
                                                     "endpoint_name": "POST /checkout"}).json()
    assert [t["trace_id"] for t in listed["traces"]] == \
        [t["trace_id"] for t in detail["exemplars"]]


def test_endpoint_detail_counts_the_windows_traces_by_critical_path_depth(collector):
    feed(collector)
    api = collector.api
    for window in ("5m", "all"):
        detail = api.get("/api/endpoints/web/POST /checkout", params={"window": window}).json()
        assert detail["window"] == window
        depths = {int(depth): count for depth, count in detail["depths"].items()}
        assert sum(depths.values()) == detail["traces"] == 10
        assert max(depths) == detail["critical_path"]["depth_max"]
        assert list(depths) == sorted(depths)
    # The same counts as the aggregate the metrics' depth histogram is drawn from.
    aggregate = Aggregate.from_dict(api.get("/api/aggregate").json()["aggregate"])
    (profile,) = aggregate.endpoints.profiles.values()
    assert depths == profile.depths


def test_aggregates_of_two_collectors_merge_into_the_report_of_both(start_collector):
    first, second = protobuf_request(4), protobuf_request(5, start_ms=70_000)
    parts = []
    for body, count in ((first, 4), (second, 5)):
        with start_collector() as collector:
            assert httpx.post(collector.otlp_http, content=body, headers=PROTOBUF).status_code == 200
            wait_until(lambda c=collector, n=count: c.runtime.state.traces >= n)
            document = collector.api.get("/api/aggregate").json()
            assert document["schema"] == "critpath.aggregate/v1"
            parts.append(Aggregate.from_dict(document["aggregate"]))
    parts[0].merge(parts[1])
    assert comparable(build_report(parts[0])) == expected_report(first, second)


def test_not_found_and_bad_window(collector):
    api = collector.api
    assert api.get("/api/traces/" + "a" * 32).status_code == 404
    assert api.get("/api/endpoints/web/GET nothing").status_code == 404
    response = api.get("/api/report", params={"window": "7m"})
    assert response.status_code == 400 and "unknown window" in response.json()["detail"]
    assert api.get("/api/traces").status_code == 422  # the endpoint is required


def test_health_and_readiness(collector):
    assert collector.api.get("/healthz").json() == {"status": "ok"}
    ready = collector.api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["receivers"]["otlp_http"]
    assert {"traces", "live_traces", "analyzing_traces", "pending_bytes"} <= set(ready.json())
    collector.runtime.shutdown()
    assert collector.api.get("/readyz").status_code == 503


def test_openapi_documents_every_route(collector):
    paths = collector.api.get("/openapi.json").json()["paths"]
    for path in ("/api/report", "/api/graph", "/api/aggregate", "/api/endpoints", "/api/endpoints/{service}/{name}",
                 "/api/findings", "/api/traces/{trace_id}", "/api/traces", "/api/stream",
                 "/healthz", "/readyz", "/metrics"):
        assert path in paths, path
    assert "window" in json.dumps(paths["/api/report"])


def test_sse_stream_emits_when_new_traces_arrive():
    app = create_app(loopback_settings())
    with serve(app) as base:
        runtime = app.state.runtime
        otlp = f"http://127.0.0.1:{runtime.http_receiver.port}/v1/traces"
        events = []
        with httpx.stream("GET", f"{base}/api/stream", timeout=60) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            for line in lines:
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                    if len(events) == 1:  # the state on connect, then push some traces
                        httpx.post(otlp, content=protobuf_request(3), headers=PROTOBUF)
                    elif events[-1]["traces"] >= 3:
                        break
        assert events[0]["traces"] == 0 and events[-1]["traces"] == 3
        assert events[-1]["version"] > events[0]["version"]
