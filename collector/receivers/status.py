"""Error and success bodies exactly as the OTLP specification wants them.

Failures carry a ``google.rpc.Status``; successes an ``ExportTraceServiceResponse``
whose ``partial_success`` says how many spans were rejected and why. Both are encoded
in the request's own content type (protobuf or OTLP/JSON).
"""

from __future__ import annotations

import json

from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

#: The gRPC code each HTTP failure status is reported with inside ``google.rpc.Status``.
HTTP_TO_RPC_CODE = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    404: code_pb2.NOT_FOUND,
    405: code_pb2.UNIMPLEMENTED,
    413: code_pb2.INVALID_ARGUMENT,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}


def retry_info(seconds: int) -> error_details_pb2.RetryInfo:
    """A ``RetryInfo`` detail telling the client how long to back off."""
    return error_details_pb2.RetryInfo(retry_delay=Duration(seconds=seconds))


def status_message(code: int, message: str, retry_after: int | None = None) -> status_pb2.Status:
    """A ``google.rpc.Status`` (with ``RetryInfo`` when the client should retry later)."""
    status = status_pb2.Status(code=code, message=message)
    if retry_after is not None:
        status.details.add().Pack(retry_info(retry_after))
    return status


def encode_status(http_status: int, message: str, content_type: str,
                  retry_after: int | None = None) -> bytes:
    """The body of a failed OTLP/HTTP response, in ``content_type`` (JSON unless protobuf)."""
    status = status_message(HTTP_TO_RPC_CODE[http_status], message, retry_after)
    if content_type == PROTOBUF:
        return status.SerializeToString()
    document: dict = {"code": status.code, "message": status.message}
    if retry_after is not None:
        # The JSON mapping of an Any holding RetryInfo: its type URL plus the message's fields.
        document["details"] = [{
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": f"{retry_after}s",
        }]
    return json.dumps(document).encode()


def encode_success(rejected: int, message: str, content_type: str) -> bytes:
    """An ``ExportTraceServiceResponse``; ``partial_success`` only when something was rejected.

    The specification asks servers to leave ``partial_success`` unset on full success.
    """
    if content_type == PROTOBUF:
        response = ExportTraceServiceResponse()
        if rejected or message:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message
        return response.SerializeToString()
    if not (rejected or message):
        return b"{}"
    return json.dumps(
        {"partialSuccess": {"rejectedSpans": rejected, "errorMessage": message}}
    ).encode()
