"""OpenTelemetry set-up for one bank process: a tracer provider exporting OTLP/HTTP.

The exporter reads the standard ``OTEL_EXPORTER_OTLP_*`` variables, so any OTLP backend
works. Each process owns its provider (no global state is touched), which keeps tests
that build several services in one interpreter honest.
"""

from __future__ import annotations

import os

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

#: Spans leave the process this often, so a live view of the bank feels live.
DEFAULT_SCHEDULE_DELAY_MS = 200


def create_tracer_provider(
    service_name: str, exporter: SpanExporter | None = None
) -> TracerProvider:
    """A provider whose spans carry ``service.name`` and are batched to ``exporter``.

    ``exporter`` defaults to OTLP/HTTP protobuf at ``OTEL_EXPORTER_OTLP_ENDPOINT``.
    ``OTEL_BSP_SCHEDULE_DELAY`` still wins over the short default delay when set.
    """
    resource = Resource.create({SERVICE_NAME: service_name, "service.namespace": "bank"})
    provider = TracerProvider(resource=resource)
    delay = None if "OTEL_BSP_SCHEDULE_DELAY" in os.environ else DEFAULT_SCHEDULE_DELAY_MS
    provider.add_span_processor(
        BatchSpanProcessor(exporter or OTLPSpanExporter(), schedule_delay_millis=delay)
    )
    return provider
