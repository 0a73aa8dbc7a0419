"""The compiled OTLP protobuf decoder (``_otlpwire.c``) against the slim-schema decoder it
accelerates: the same spans for every well-formed request, and for anything unusual it
steps aside (returns None) so the slim path gives the result or the clear error.

Where the extension was not built (no C compiler or no Python headers when ``pip install``
ran, which pip does not treat as an error), ``test_the_compiled_decoder_is_built_and_used_here``
fails and says how to build it: that failure is the point, since a CI image that silently
lost the accelerator misses the speed targets. Every other test here compares the two
decoders, which cannot be done with one of them missing; they are skipped then rather
than failing each with the same cause, so the one actionable message is not buried under
a hundred identical ones.
"""

from __future__ import annotations

import gc
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from analyzer.decode import ANALYSIS_ATTRIBUTES, DecodeError, decode
from analyzer.decode import otlp_protobuf
from analyzer.decode.otlp_protobuf import compiled_decode, python_decode
from analyzer.model import Span, SpanKind, StatusCode
from bench.bench_decode import build_request
from tests.decode.test_protobuf import hand_built
from tests.support.sdk import TraceBuilder

KEEPS = {"analysis": ANALYSIS_ATTRIBUTES, "all": None, "none": frozenset()}
T, A, B = bytes.fromhex("5b8efff798038103d269b633813fc60c"), bytes.fromhex("eee19b7ec3c1b174"), \
    bytes.fromhex("eee19b7ec3c1b173")

BUILD_HINT = (
    "the compiled OTLP decoder analyzer/decode/_otlpwire.c is not built: pip leaves an "
    "optional extension out without an error when it cannot compile it. Install a C "
    "compiler and this Python's headers (Debian: apt-get install gcc python3-dev, or "
    "scripts/install-test-deps), then rebuild with '.venv/bin/python -m pip install -e .'")

#: The tests that compare both decoders: skipped (never passed) without the extension.
compiled_only = pytest.mark.skipif(
    otlp_protobuf._otlpwire is None,
    reason="compares the compiled decoder with the slim one, and the compiled one is not "
           "built (test_the_compiled_decoder_is_built_and_used_here fails saying how to build it)")


# -- the wire format by hand, for layouts the protobuf library never writes -----------

def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def ld(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def vi(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def f64(number: int, value: int) -> bytes:
    return varint(number << 3 | 1) + value.to_bytes(8, "little")


def attr(key: str, value: bytes) -> bytes:
    return ld(1, key.encode()) + ld(2, value)


def span(*fields: bytes, trace=T, span_id=A) -> bytes:
    return ld(1, trace) + ld(2, span_id) + ld(5, b"op") + b"".join(fields)


def request(*resource_spans: bytes) -> bytes:
    return b"".join(ld(1, rs) for rs in resource_spans)


def resource(service: str) -> bytes:
    return ld(1, ld(1, attr("service.name", ld(1, service.encode()))))


def scope(*spans: bytes) -> bytes:
    return ld(2, b"".join(ld(2, s) for s in spans))


def both(data: bytes, keep) -> tuple:
    """(compiled result, slim result) for bytes both must decode; the two results agree
    on the invalid-span count and the issue counts (callers compare the spans)."""
    compiled = compiled_decode(data, keep)
    assert compiled is not None, "the compiled decoder stepped aside from well-formed input"
    slim = python_decode(data, "<test>", keep)
    assert (compiled.invalid_spans, compiled.issues) == (slim.invalid_spans, slim.issues)
    return compiled, slim


def test_the_compiled_decoder_is_built_and_used_here():
    """`make install` compiles it; without it the speed targets are out of reach. This
    fails, never skips, when the extension is missing: see the module's docstring."""
    if otlp_protobuf._otlpwire is None:
        pytest.fail(BUILD_HINT, pytrace=False)
    assert otlp_protobuf.IMPLEMENTATION == "compiled"


@compiled_only
@pytest.mark.parametrize("keep", KEEPS.values(), ids=KEEPS.keys())
@pytest.mark.parametrize("name,data", [
    ("hand-built edge cases", hand_built(odd_kind=4)),
    ("realistic batch", build_request(32).SerializeToString()),
])
def test_same_spans_as_the_slim_decoder(name, data, keep):
    compiled, slim = both(data, keep)
    assert compiled.spans == slim.spans
    assert compiled.invalid_spans == slim.invalid_spans
    assert compiled.format == "otlp-protobuf"


@compiled_only
@pytest.mark.parametrize("keep", KEEPS.values(), ids=KEEPS.keys())
def test_same_spans_for_an_sdk_recorded_trace(keep):
    builder = TraceBuilder()
    with builder.span("gateway", "GET /accounts", 0, 100, kind="server"):
        with builder.span("gateway", "GET accounts", 10, 90, kind="client",
                          attributes={"http.request.method": "GET", "peer.service": "accounts",
                                      "http.request.header.x-bank-timeout-ms": ("500",)}):
            with builder.span("accounts", "GET /accounts", 20, 80, kind="server",
                              error=True) as inner:
                inner.record_exception(TimeoutError("slow"))
    compiled, slim = both(builder.otlp_protobuf(), keep)
    assert compiled.spans == slim.spans and len(compiled.spans) == 3


# Named layouts the protobuf library does not write but the wire format allows, each
# decoded by both decoders to the same spans.
LAYOUTS = {
    "resource after its spans": request(scope(span()) + resource("late")),
    "two resource fields, the later names the service":
        request(resource("first") + resource("second") + scope(span())),
    "service.name not a string": request(ld(1, ld(1, attr("service.name", vi(3, 7)))) + scope(span())),
    "service.name empty": request(resource("") + scope(span())),
    "status with a message and code": request(resource("s") + scope(
        span(ld(15, ld(2, b"boom") + vi(3, 2))))),
    "unknown status code, then a known one (the last wins)": request(resource("s") + scope(
        span(ld(15, vi(3, 7) + vi(3, 2))))),
    "unknown kind on a span skipped for its id": request(resource("s") + scope(
        span(vi(6, 99), span_id=bytes(8)), span())),
    "fields out of order and repeated (last wins)": request(resource("s") + scope(
        ld(5, b"first") + f64(8, 9) + ld(2, B) + ld(1, T) + ld(2, A) + ld(5, b"second") + f64(7, 3))),
    "all-zero parent is a root": request(resource("s") + scope(span(ld(4, bytes(8))))),
    "three-byte zero parent is invalid": request(resource("s") + scope(span(ld(4, bytes(3))))),
    "zero trace id is invalid": request(resource("s") + scope(span(trace=bytes(16)))),
    "value before key": request(resource("s") + scope(span(
        ld(9, ld(2, ld(1, b"GET")) + ld(1, b"http.request.method"))))),
    "same key twice (last wins)": request(resource("s") + scope(span(
        ld(9, attr("http.route", ld(1, b"/a"))), ld(9, attr("http.route", ld(1, b"/b")))))),
    "empty string and false values": request(resource("s") + scope(span(
        ld(9, attr("http.route", ld(1, b""))), ld(9, attr("server.address", vi(2, 0)))))),
    "array with an empty value, nested kvlist with none": request(resource("s") + scope(span(
        ld(9, attr("http.route", ld(5, ld(1, ld(1, b"a")) + ld(1, b"") + ld(1, vi(3, 2))))),
        ld(9, attr("error.type", ld(6, ld(1, ld(1, b"k")) + ld(1, attr("j", ld(1, b"v"))))))))),
    "oneof switched and back": request(resource("s") + scope(span(
        ld(9, attr("http.route", ld(5, ld(1, ld(1, b"a"))) + ld(1, b"x") + ld(5, ld(1, ld(1, b"b")))))))),
    "bytes value of every padding": request(resource("s") + scope(span(
        ld(9, attr("peer.service", ld(7, b"\x01"))), ld(9, attr("db.system", ld(7, b"\x01\x02"))),
        ld(9, attr("db.name", ld(7, b"\x01\x02\x03")))))),
    "unknown fields everywhere": request(vi(9, 1) + resource("s") + ld(3, b"schema") + ld(2, ld(
        1, b"scope") + ld(2, span(vi(16 << 0, 5), f64(12, 1), ld(3, b"state"))) + vi(4, 1)) + f64(7, 0)),
    "events and links, some invalid": request(resource("s") + scope(span(
        ld(11, f64(1, 50) + ld(2, b"exception") + ld(3, attr("exception.type", ld(1, b"E")))
           + ld(3, attr("exception.stacktrace", ld(1, b"...")))),
        ld(11, f64(1, 60) + ld(2, b"log")),
        ld(13, ld(1, T) + ld(2, B)), ld(13, ld(1, bytes(16)) + ld(2, B)), ld(13, ld(1, T))))),
    "a long key": request(resource("s") + scope(span(ld(9, attr("k" * 200, ld(1, b"v")))))),
    "a resource without spans": request(resource("s"), resource("t") + scope(span())),
}


@compiled_only
@pytest.mark.parametrize("keep", KEEPS.values(), ids=KEEPS.keys())
@pytest.mark.parametrize("layout", LAYOUTS)
def test_unusual_but_valid_layouts_decode_the_same(layout, keep):
    compiled, slim = both(LAYOUTS[layout], keep)
    assert compiled.spans == slim.spans
    assert compiled.invalid_spans == slim.invalid_spans


@compiled_only
def test_layouts_decode_as_protobuf_semantics_say():
    """Spot checks of what the shared result is, not only that the two agree."""
    def one(layout, keep=ANALYSIS_ATTRIBUTES):
        spans = compiled_decode(LAYOUTS[layout], keep).spans
        assert len(spans) == 1
        return spans[0]

    assert one("resource after its spans").service == "late"
    assert one("two resource fields, the later names the service").service == "second"
    assert one("service.name empty").service == "unknown_service"
    assert one("status with a message and code").is_error
    late = one("fields out of order and repeated (last wins)")
    assert (late.span_id, late.name, late.start_ns, late.end_ns) == (A.hex(), "second", 3, 9)
    assert one("value before key").attributes == {"http.request.method": "GET"}
    assert one("same key twice (last wins)").attributes == {"http.route": "/b"}
    assert one("array with an empty value, nested kvlist with none").attributes == {
        "http.route": ("a", 2), "error.type": (("k", None), ("j", "v"))}
    assert one("bytes value of every padding").attributes == {
        "peer.service": "AQ==", "db.system": "AQI=", "db.name": "AQID"}
    assert compiled_decode(LAYOUTS["three-byte zero parent is invalid"], None).invalid_spans == 1
    assert one("unknown status code, then a known one (the last wins)").is_error


# Kind and status numbers outside OTLP's enums: the compiled decoder steps aside, and the
# slim path reads them as the specification's defaults and counts them.
ODD_ENUMS = {
    "unknown kind": (request(resource("s") + scope(span(vi(6, 99)))),
                     {"unknown_kind": 1}),
    "negative kind": (request(resource("s") + scope(span(vi(6, -3)))),
                      {"unknown_kind": 1}),
    "unknown status code": (request(resource("s") + scope(span(ld(15, vi(3, 7))))),
                            {"unknown_status": 1}),
    "unknown status code with a message": (
        request(resource("s") + scope(span(ld(15, ld(2, b"?") + vi(3, -1))))),
        {"unknown_status": 1}),
    "both, among good spans": (
        request(resource("s") + scope(span(vi(6, 2)), span(vi(6, 7), ld(15, vi(3, 3))),
                                      span(ld(15, vi(3, 2))))),
        {"unknown_kind": 1, "unknown_status": 1}),
}


@compiled_only
@pytest.mark.parametrize("case", ODD_ENUMS)
def test_unknown_enums_step_aside_and_both_paths_agree(case):
    data, issues = ODD_ENUMS[case]
    assert compiled_decode(data, ANALYSIS_ATTRIBUTES) is None
    slim = python_decode(data, "f.pb", ANALYSIS_ATTRIBUTES)
    decoded = decode(data, source="f.pb")
    assert (decoded.spans, decoded.issues, decoded.invalid_spans) == (slim.spans, issues, 0)


def test_unknown_enums_read_as_the_specification_defaults():
    """OTLP: an unknown kind is treated as UNSPECIFIED (INTERNAL here); an unknown status
    code as UNSET."""
    spans = decode(ODD_ENUMS["both, among good spans"][0]).spans
    assert [(s.kind, s.status) for s in spans] == [
        (SpanKind.SERVER, StatusCode.UNSET), (SpanKind.INTERNAL, StatusCode.UNSET),
        (SpanKind.INTERNAL, StatusCode.ERROR)]


ARRAY_A, ARRAY_B = ld(5, ld(1, ld(1, b"a"))), ld(5, ld(1, ld(1, b"b")))
STEPS_ASIDE = {
    "truncated": hand_built()[:-3],
    "span name not UTF-8": request(resource("s") + scope(span(ld(5, b"\xff\xfe")))),
    "span name as a varint": request(resource("s") + scope(span(vi(5, 1)))),
    "a group": request(resource("s") + scope(span(varint(20 << 3 | 3) + varint(20 << 3 | 4)))),
    "field number zero": request(resource("s") + scope(span(varint(0 << 3) + b"\x00"))),
    "no resource spans": vi(9, 1),
    "an attribute with two values (protobuf would merge them)": request(resource("s") + scope(
        span(ld(9, ld(1, b"http.route") + ld(2, ARRAY_A) + ld(2, ARRAY_B))))),
    "a malformed kept attribute": request(resource("s") + scope(span(
        ld(9, ld(1, b"http.route") + b"\x12\x05ab")))),
}


@compiled_only
@pytest.mark.parametrize("case", STEPS_ASIDE)
def test_steps_aside_from_unusual_input_and_decode_gives_the_slim_answer(case):
    data = STEPS_ASIDE[case]
    assert compiled_decode(data, ANALYSIS_ATTRIBUTES) is None
    try:
        expected = python_decode(data, "f.pb", ANALYSIS_ATTRIBUTES)
    except DecodeError as exc:
        with pytest.raises(DecodeError) as raised:
            decode(data, source="f.pb")
        assert str(raised.value) == str(exc)
    else:
        assert decode(data, source="f.pb").spans == expected.spans


@compiled_only
def test_mutated_requests_give_the_same_result_or_the_same_error():
    """A deterministic fuzz: flipped, dropped and inserted bytes in a real request."""
    rng = random.Random(5)
    original = build_request(2).SerializeToString() + hand_built(odd_kind=4)
    for _ in range(400):
        data = bytearray(original)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(data))
            action = rng.choice(("flip", "drop", "insert"))
            if action == "flip":
                data[at] ^= 1 << rng.randrange(8)
            elif action == "drop":
                del data[at]
            else:
                data.insert(at, rng.randrange(256))
        data = bytes(data)
        try:
            expected = python_decode(data, "x", ANALYSIS_ATTRIBUTES)
        except DecodeError:
            expected = None
        compiled = compiled_decode(data, ANALYSIS_ATTRIBUTES)
        if compiled is not None:
            assert expected is not None, "compiled accepted what the slim path rejects"
            assert (compiled.spans, compiled.invalid_spans, compiled.issues) == (
                expected.spans, expected.invalid_spans, expected.issues)


values = st.one_of(
    st.builds(lambda s: AnyValue(string_value=s), st.text(max_size=8)),
    st.builds(lambda i: AnyValue(int_value=i), st.integers(-2**63, 2**63 - 1)),
    st.builds(lambda b: AnyValue(bool_value=b), st.booleans()),
    st.builds(lambda x: AnyValue(double_value=x), st.floats(allow_nan=False)),
    st.builds(lambda b: AnyValue(bytes_value=b), st.binary(max_size=5)),
    st.builds(lambda xs: AnyValue(array_value={"values": [AnyValue(string_value=x) for x in xs]}),
              st.lists(st.text(max_size=3), max_size=3)),
    st.just(AnyValue()),
)
keys = st.sampled_from(sorted(ANALYSIS_ATTRIBUTES)[:6] + ["custom.key", "service.name"])
ids = st.one_of(st.binary(min_size=8, max_size=8), st.just(bytes(8)), st.binary(max_size=9))


@st.composite
def requests(draw):
    message = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(1, 3))):
        rs = message.resource_spans.add()
        for key, value in draw(st.lists(st.tuples(keys, values), max_size=3)):
            rs.resource.attributes.add(key=key, value=value)
        for _ in range(draw(st.integers(0, 2))):
            spans = rs.scope_spans.add().spans
            for _ in range(draw(st.integers(0, 4))):
                s = spans.add(trace_id=draw(st.sampled_from([T, bytes(16), T[:5]])),
                              span_id=draw(ids), parent_span_id=draw(ids),
                              name=draw(st.text(max_size=6)), kind=draw(st.integers(-1, 7)),
                              start_time_unix_nano=draw(st.integers(0, 2**64 - 1)),
                              end_time_unix_nano=draw(st.integers(0, 2**64 - 1)))
                s.status.code = draw(st.integers(0, 3))
                for key, value in draw(st.lists(st.tuples(keys, values), max_size=4)):
                    s.attributes.add(key=key, value=value)
                if draw(st.booleans()):
                    event = s.events.add(name=draw(st.sampled_from(["exception", "log"])))
                    event.attributes.add(key="exception.type", value=draw(values))
                if draw(st.booleans()):
                    s.links.add(trace_id=T, span_id=draw(ids))
    return message.SerializeToString()


@compiled_only
@settings(max_examples=150, deadline=None)
@given(data=requests(), keep=st.sampled_from(list(KEEPS.values())))
def test_any_request_decodes_the_same(data, keep):
    """Kinds and status codes are drawn a little outside their enums too: the compiled
    decoder steps aside from exactly those requests, and decode() gives the slim answer."""
    slim = python_decode(data, "<test>", keep)
    compiled = compiled_decode(data, keep)
    if compiled is None:
        assert slim.issues.keys() & {"unknown_kind", "unknown_status"}
        assert decode(data, keep_attributes=keep) == slim
        return
    assert "unknown_kind" not in slim.issues and "unknown_status" not in slim.issues
    assert (compiled.spans, compiled.invalid_spans, compiled.issues) == (
        slim.spans, slim.invalid_spans, slim.issues)


@compiled_only
def test_spans_are_untracked_by_the_cyclic_gc_and_stay_intact():
    """Frozen spans of atoms cannot form cycles, so the GC is spared scanning them."""
    spans = compiled_decode(build_request(8).SerializeToString(), ANALYSIS_ATTRIBUTES).spans
    copies = [(s.trace_id, s.span_id, dict(s.attributes)) for s in spans]
    assert all(type(s) is Span and not gc.is_tracked(s) for s in spans)
    gc.collect()
    assert [(s.trace_id, s.span_id, dict(s.attributes)) for s in spans] == copies
    assert len({s.span_id for s in spans}) == len(spans)


@compiled_only
def test_spans_with_the_same_kept_attributes_share_one_mapping():
    spans = compiled_decode(build_request(64).SerializeToString(), ANALYSIS_ATTRIBUTES).spans
    database = [s for s in spans if s.attributes.get("db.system") == "sqlite"]
    assert len(database) > 10
    assert len({id(s.attributes) for s in database}) < len(database) / 5
