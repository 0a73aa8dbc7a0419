"""OTLP/JSON bytes from the SDK's protobuf request, as the OTLP specification encodes it.

protobuf's ``json_format`` gets most of it right (lowerCamelCase names, int64 as
strings) but writes ids as base64; OTLP/JSON wants them as hex. Enums are written as
integers, as the specification requires.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


def _hex_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: base64.b64decode(v).hex() if k in ID_FIELDS and isinstance(v, str)
                else _hex_ids(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_hex_ids(item) for item in node]
    return node


def otlp_json(protobuf: bytes) -> bytes:
    """One ``ExportTraceServiceRequest`` as OTLP/JSON."""
    request = ExportTraceServiceRequest.FromString(protobuf)
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    return json.dumps(_hex_ids(document), indent=1).encode()


def otlp_json_lines(protobuf_requests: list[bytes]) -> bytes:
    """Several requests as JSON lines (the OpenTelemetry Collector file exporter's format)."""
    lines = [json.dumps(json.loads(otlp_json(data))) for data in protobuf_requests]
    return ("\n".join(lines) + "\n").encode()
