"""What both receivers do with a request body once transport details are dealt with:
decode it as the format its content type promised, then hand the spans to the pipeline."""

from __future__ import annotations

from analyzer.decode import ANALYSIS_ATTRIBUTES, DecodeError, decode
from collector.counters import IngestCounters
from collector.pipeline import Admission, Pipeline, Throttled

#: The decoder's format name each OTLP encoding must decode as (a JSON body that parses
#: as Jaeger or Zipkin is still a malformed OTLP request).
EXPECTED_FORMATS = {"protobuf": ("otlp-protobuf",), "json": ("otlp-json",)}


class Malformed(ValueError):
    """The body cannot be used at all (400); resending it will not help."""


class Ingest:
    """Decode-and-submit, shared by OTLP/HTTP and OTLP/gRPC."""

    def __init__(self, pipeline: Pipeline, counters: IngestCounters,
                 timeout_keys: tuple[str, ...] = ()) -> None:
        self.pipeline = pipeline
        self.counters = counters
        # The rules read the configured timeout keys ([rules] timeout_keys /
        # extra_timeout_keys): the decoder must keep them, as critpath analyze does.
        self.keep_attributes = ANALYSIS_ATTRIBUTES | frozenset(timeout_keys)

    def export(self, body: bytes, encoding: str, source: str) -> Admission:
        """Decode ``body`` (``encoding`` is ``"protobuf"`` or ``"json"``) and submit its spans.

        Raises :class:`Malformed` for undecodable bodies and
        :class:`collector.pipeline.Throttled` when the pipeline is full or stopped.
        """
        self.check_capacity()
        if not body or (encoding == "json" and body.strip() == b"{}"):
            # An empty message (no bytes in protobuf, {} in JSON) is a valid request with
            # no data; the specification asks for success.
            return Admission(0, 0)
        try:
            decoded = decode(body, source=source, keep_attributes=self.keep_attributes)
        except DecodeError as exc:
            self.counters.malformed("undecodable")
            raise Malformed(str(exc)) from exc
        if decoded.format not in EXPECTED_FORMATS[encoding]:
            self.counters.malformed("wrong_format")
            raise Malformed(
                f"{source}: body is {decoded.format}, not an OTLP {encoding} "
                "ExportTraceServiceRequest"
            )
        try:
            return self.pipeline.submit(decoded.spans, len(body), decoded.invalid_spans)
        except Throttled as exc:
            self.counters.throttled(exc.reason)
            raise

    def check_capacity(self) -> None:
        """Raise (and count) :class:`Throttled` when a request would be refused now."""
        try:
            self.pipeline.check_capacity()
        except Throttled as exc:
            self.counters.throttled(exc.reason)
            raise
