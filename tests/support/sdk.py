"""Hand-built traces made by the real OpenTelemetry SDK, for tests.

A test draws a timeline with explicit nanosecond times; the SDK records the spans
into its in-memory exporter and the real OTLP encoder turns them into the
``ExportTraceServiceRequest`` bytes a collector would receive.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

KINDS = {
    "server": trace_api.SpanKind.SERVER,
    "client": trace_api.SpanKind.CLIENT,
    "producer": trace_api.SpanKind.PRODUCER,
    "consumer": trace_api.SpanKind.CONSUMER,
    "internal": trace_api.SpanKind.INTERNAL,
}


@dataclass
class TraceBuilder:
    """Records spans for several services (one SDK TracerProvider per service)."""

    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    _providers: dict[str, TracerProvider] = field(default_factory=dict)

    def tracer(self, service: str) -> trace_api.Tracer:
        provider = self._providers.get(service)
        if provider is None:
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            provider.add_span_processor(SimpleSpanProcessor(self.exporter))
            self._providers[service] = provider
        return provider.get_tracer("critpath-tests")

    @contextmanager
    def span(
        self,
        service: str,
        name: str,
        start_ns: int,
        end_ns: int,
        kind: str = "internal",
        attributes: Mapping[str, object] | None = None,
        error: bool = False,
        parent: trace_api.Span | None = None,
        links: list[trace_api.Span] | None = None,
    ) -> Iterator[trace_api.Span]:
        """Open a span from ``start_ns`` to ``end_ns``; nested ``with`` blocks become children.

        ``parent`` overrides the implicit parent (e.g. a consumer in another block);
        ``links`` links to other spans without making them parents.
        """
        ctx = trace_api.set_span_in_context(parent) if parent is not None else None
        sdk_links = [trace_api.Link(s.get_span_context()) for s in (links or [])]
        span = self.tracer(service).start_span(
            name, context=ctx, kind=KINDS[kind], attributes=dict(attributes or {}),
            links=sdk_links, start_time=start_ns,
        )
        token_ctx = trace_api.use_span(span, end_on_exit=False)
        with token_ctx:
            yield span
        if error:
            span.set_status(trace_api.Status(trace_api.StatusCode.ERROR))
        span.end(end_time=end_ns)

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def otlp_protobuf(self) -> bytes:
        """The recorded spans as OTLP ``ExportTraceServiceRequest`` protobuf bytes."""
        return encode_spans(self.finished()).SerializeToString()
