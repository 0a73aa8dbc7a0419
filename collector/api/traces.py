"""Exemplar traces: ``/api/traces/{trace_id}`` (critpath.trace/v1) and ``/api/traces``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from collector.api.deps import State

router = APIRouter(prefix="/api", tags=["traces"])


@router.get("/traces/{trace_id}", summary="One kept trace with its critical path")
def trace(trace_id: str, state: State) -> dict[str, Any]:
    """The ``critpath.trace/v1`` document of an exemplar trace (from memory or the store)."""
    document = state.trace(trace_id.lower())
    if document is None:
        raise HTTPException(404, f"trace {trace_id} is not kept (only exemplars are)")
    return document


@router.get("/traces", summary="An endpoint's exemplar traces")
def traces(
    state: State,
    endpoint_service: Annotated[str, Query(description="the endpoint's root service")],
    endpoint_name: Annotated[str, Query(description="the endpoint's root span name")],
) -> dict[str, Any]:
    """``{"traces": [{"trace_id", "duration_ms", "error", "start_ns", "kind"}]}``, slowest first."""
    return {"endpoint": {"service": endpoint_service, "name": endpoint_name},
            "traces": state.exemplars(endpoint_service, endpoint_name)}
