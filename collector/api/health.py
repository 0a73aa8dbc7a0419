"""``/healthz`` (the process answers), ``/readyz`` (receiving and analyzing), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from collector.api.deps import Runtime

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness", responses={503: {"description": "not ready"}})
async def readyz(runtime: Runtime) -> JSONResponse:
    """200 once the pipeline runs and the receivers listen; 503 while starting or stopping."""
    pipeline = runtime.pipeline
    body = {"status": "ready" if runtime.ready else "not ready",
            # live_traces is read before analyzing_traces: see Pipeline.analyzing_traces.
            "traces": runtime.state.traces, "live_traces": pipeline.live_traces,
            "analyzing_traces": pipeline.analyzing_traces, "pending_bytes": pipeline.pending_bytes,
            "receivers": {
                "otlp_http": runtime.http_receiver.port if runtime.http_receiver else None,
                "otlp_grpc": runtime.grpc_receiver.port if runtime.grpc_receiver else None}}
    return JSONResponse(body, status_code=200 if runtime.ready else 503)


@router.get("/metrics", summary="Prometheus metrics",
            response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(runtime: Runtime) -> Response:
    """The service graph (Tempo's names), critpath's series and the collector's own counts."""
    return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)
