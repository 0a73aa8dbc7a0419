"""OTLP/gRPC receiver: ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` (4317).

The method is registered with a generic handler that receives the request as raw bytes,
so the analyzer's decoder parses it once (the generated servicer would parse it into
protobuf objects first, and the decoder would have to re-serialize them).

Under backpressure the call fails with ``RESOURCE_EXHAUSTED`` (full) or ``UNAVAILABLE``
(stopping), both with a ``RetryInfo`` so exporters back off for the advised delay; a
malformed request fails with ``INVALID_ARGUMENT``; rejected spans come back as partial
success. gRPC itself enforces the body limit (``grpc.max_receive_message_length``).
"""

from __future__ import annotations

import hmac
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from collector.net import PortInUse
from collector.pipeline import Throttled
from collector.receivers.ingest import Ingest, Malformed
from collector.receivers.status import retry_info, status_message
from collector.settings import CollectorSettings

SERVICE = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
Response = trace_service_pb2.ExportTraceServiceResponse


class _Export:
    """The ``Export`` method: raw request bytes in, ``ExportTraceServiceResponse`` out."""

    def __init__(self, ingest: Ingest, settings: CollectorSettings) -> None:
        self._ingest = ingest
        self._retry_after = settings.retry_after_seconds

    def __call__(self, request: bytes, context: grpc.ServicerContext) -> Response:
        try:
            admission = self._ingest.export(request, "protobuf", source="otlp-grpc")
        except Malformed as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Throttled as exc:
            code = grpc.StatusCode.UNAVAILABLE if exc.unavailable else grpc.StatusCode.RESOURCE_EXHAUSTED
            status = status_message(code.value[0], str(exc), self._retry_after)
            # The OpenTelemetry exporters read the back-off from this trailer.
            context.set_trailing_metadata((
                ("google.rpc.retryinfo-bin", retry_info(self._retry_after).SerializeToString()),
                ("grpc-status-details-bin", status.SerializeToString()),
            ))
            context.abort(code, str(exc))
        response = Response()
        if admission.rejected:
            response.partial_success.rejected_spans = admission.rejected
            response.partial_success.error_message = admission.message
        return response


class _BearerAuth(grpc.ServerInterceptor):
    """Refuses calls without the configured bearer token before the message is handled."""

    def __init__(self, token: str, ingest: Ingest) -> None:
        self._expected = f"Bearer {token}".encode()
        self._ingest = ingest
        self._deny = grpc.unary_unary_rpc_method_handler(self._refuse)

    def _refuse(self, request: bytes, context: grpc.ServicerContext) -> None:
        self._ingest.counters.malformed("grpc_unauthenticated")
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

    def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        metadata = dict(details.invocation_metadata or ())
        given = metadata.get("authorization", "")
        given = given.encode() if isinstance(given, str) else given
        if hmac.compare_digest(given, self._expected):
            return continuation(details)
        return self._deny


class GrpcReceiver:
    """A grpcio server exposing ``TraceService/Export``; ``start``/``shutdown``."""

    def __init__(self, ingest: Ingest, settings: CollectorSettings, workers: int = 4) -> None:
        self._ingest = ingest
        self._settings = settings
        self._workers = workers
        self._server: grpc.Server | None = None
        self.port: int | None = None

    def start(self) -> None:
        """Bind and serve; :class:`PortInUse` if the port is taken."""
        settings = self._settings
        handler = grpc.method_handlers_generic_handler(SERVICE, {
            "Export": grpc.unary_unary_rpc_method_handler(
                _Export(self._ingest, settings),
                request_deserializer=None,  # raw bytes: the decoder parses them once
                response_serializer=Response.SerializeToString,
            ),
        })
        interceptors = ([_BearerAuth(settings.bearer_token, self._ingest)]
                        if settings.bearer_token else [])
        server = grpc.server(
            ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="critpath-otlp-grpc"),
            handlers=[handler],
            interceptors=interceptors,
            # Past this, grpc itself answers RESOURCE_EXHAUSTED (retryable) without queuing.
            maximum_concurrent_rpcs=settings.max_concurrent_requests,
            options=[
                # Without this, grpc would share a port another process already listens on.
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", settings.max_body_bytes),
            ],
        )
        address = f"{_bracket(settings.host)}:{settings.otlp_grpc_port}"
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as exc:
            port = 0
            cause: Exception | None = exc
        else:
            cause = None
        if not port:
            raise PortInUse(
                f"cannot listen for OTLP/gRPC on {address}; is another collector running? "
                "choose another port with --otlp-grpc-port"
            ) from cause
        server.start()
        self._server = server
        self.port = port

    def shutdown(self, grace: float = 2.0) -> None:
        """Stop accepting calls, let in-flight ones finish for ``grace`` seconds."""
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
