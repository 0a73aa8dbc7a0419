"""The same SDK-recorded trace through OTLP protobuf, OTLP/JSON and JSON lines gives
identical analysis: the same report, the same trace and paths documents."""

from __future__ import annotations

import pytest

from analyzer.aggregate import Aggregate
from analyzer.assemble import assemble
from analyzer.decode import decode
from analyzer.report import build_report, paths_document, trace_document
from tests.report.otlp_json import otlp_json, otlp_json_lines
from tests.support.sdk import TraceBuilder

MS = 1_000_000
T0 = 1_760_000_000_000_000_000
TIMEOUT = "http.request.header.x-bank-timeout-ms"


def record(builder: TraceBuilder, offset_ms: int, fail: bool) -> None:
    r"""
      gateway  POST /transfers  |0==========================================60|
      gateway  POST accounts        |5==================40|        (timeout 2000)
      accounts POST /debit            |7==============38|  (error when ``fail``)
      accounts UPDATE                    |10====30|            (db.system sqlite)
      gateway  publish audit                            |42=45|
      audit    process audit                                   |50========90|
    """
    t = T0 + offset_ms * MS
    b = builder
    with b.span("gateway", "POST /transfers", t, t + 60 * MS, kind="server") as root:
        with b.span("gateway", "POST accounts", t + 5 * MS, t + 40 * MS, kind="client",
                    attributes={TIMEOUT: ("2000",), "peer.service": "accounts"}):
            with b.span("accounts", "POST /debit", t + 7 * MS, t + 38 * MS, kind="server",
                        error=fail):
                with b.span("accounts", "UPDATE", t + 10 * MS, t + 30 * MS, kind="client",
                            attributes={"db.system": "sqlite"}):
                    pass
        with b.span("gateway", "publish audit", t + 42 * MS, t + 45 * MS,
                    kind="producer") as producer:
            pass
    with b.span("audit", "process audit", t + 50 * MS, t + 90 * MS, kind="consumer",
                parent=producer):
        pass
    assert root is not None


@pytest.fixture(scope="module")
def encodings() -> dict[str, bytes]:
    builders = []
    for batch in range(2):
        builder = TraceBuilder()
        for i in range(4):
            record(builder, offset_ms=(batch * 4 + i) * 100, fail=i == 3)
        builders.append(builder)
    protobufs = [b.otlp_protobuf() for b in builders]
    return {
        "otlp-protobuf": protobufs,
        "otlp-json": [otlp_json(p) for p in protobufs],
        "otlp-jsonl": [otlp_json_lines(protobufs)],
    }


def analysed(chunks: list[bytes]):
    spans, formats = [], set()
    for data in chunks:
        decoded = decode(data, source="test")
        spans.extend(decoded.spans)
        formats.add(decoded.format)
    traces = assemble(spans)
    aggregate = Aggregate()
    aggregate.add_traces(traces)
    return formats, traces, build_report(aggregate, generated_at="2026-12-03T17:00:00Z")


def test_each_encoding_is_detected_as_itself(encodings):
    for name, chunks in encodings.items():
        formats, traces, _ = analysed(chunks)
        assert formats == {name}
        assert len(traces) == 8


def test_identical_reports_and_documents(encodings):
    results = {name: analysed(chunks) for name, chunks in encodings.items()}
    _, proto_traces, proto_report = results["otlp-protobuf"]
    for name in ("otlp-json", "otlp-jsonl"):
        _, traces, report = results[name]
        assert report == proto_report, name
        assert [trace_document(t) for t in traces] == [trace_document(t) for t in proto_traces]
        assert paths_document(traces) == paths_document(proto_traces)


def test_what_the_report_says_about_the_drawn_trace(encodings):
    _, _, report = analysed(encodings["otlp-protobuf"])
    edges = {(e["client"], e["server"], e["connection_type"]):
             (e["requests"], e["failed"], e["p50_ms"], e["timeout_ms"]) for e in report["edges"]}
    assert edges == {
        ("user", "gateway", "virtual_node"): (8, 0, 60.0, None),
        ("gateway", "accounts", ""): (8, 2, 35.0, 2000.0),
        ("gateway", "audit", "messaging_system"): (8, 0, 3.0, None),
        ("accounts", "sqlite", "database"): (8, 0, 20.0, None),
    }
    [endpoint] = report["endpoints"]
    assert (endpoint["service"], endpoint["name"], endpoint["traces"], endpoint["p50_ms"]) == (
        "gateway", "POST /transfers", 8, 60.0)
    # gateway owns 0–5, its client span's 5–7 and 38–40, and 40–60 (publish included):
    # 29 ms; accounts owns 7–38 (POST /debit around its UPDATE): 31 ms.
    shares = {s["name"]: s["share"] for s in endpoint["critical_path"]["services"]}
    assert shares == {"gateway": pytest.approx(29 / 60, abs=1e-6),
                      "accounts": pytest.approx(31 / 60, abs=1e-6)}
    assert endpoint["critical_path"]["depth_max"] == 2
