"""The report and its parts: ``/api/report``, ``/api/graph``, ``/api/endpoints``, ``/api/findings``.

Handlers are plain functions (FastAPI runs them in its thread pool) because building a
report merges aggregates: CPU work that must not hold up the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from analyzer.model import Endpoint
from collector.api.deps import State, Window

router = APIRouter(prefix="/api", tags=["report"])


@router.get("/report", summary="The critpath.report/v1 document over a window")
def report(state: State, window: Window = "all") -> dict[str, Any]:
    """Services, edges, endpoints and findings, exactly as ``critpath analyze --format json``."""
    return state.report(window)


@router.get("/graph", summary="The service graph (services and edges)")
def graph(state: State, window: Window = "all") -> dict[str, Any]:
    """``{"services": [...], "edges": [...]}`` as in the report."""
    document = state.report(window)
    return {"window": window, "generated_at": document["generated_at"],
            "services": document["services"], "edges": document["edges"]}


@router.get("/endpoints", summary="Endpoints with their critical-path profiles")
def endpoints(state: State, window: Window = "all") -> dict[str, Any]:
    """Every endpoint's traces, errors, latency and critical-path breakdown, worst first."""
    document = state.report(window)
    return {"window": window, "generated_at": document["generated_at"],
            "endpoints": document["endpoints"]}


@router.get("/endpoints/{service}/{name:path}",
            summary="One endpoint's profile, depth distribution, findings and exemplar traces")
def endpoint(service: str, name: str, state: State, window: Window = "all") -> dict[str, Any]:
    """The endpoint's row of the report over ``window``, plus:

    - ``depths``: the window's traces counted by critical-path depth (services deep),
      ``{"<depth>": traces}`` in increasing depth (JSON keys are strings);
    - ``findings``: the findings that name this endpoint;
    - ``exemplars``: kept traces (ids to open with ``/api/traces/{trace_id}``), which are
      the collector's latest whatever the window.
    """
    document = state.report(window)
    for row in document["endpoints"]:
        if row["service"] == service and row["name"] == name:
            # Findings name their endpoint as the config does: "service name".
            findings = [f for f in document["findings"]
                        if f.get("endpoint") == f"{service} {name}"]
            return {"window": window, "generated_at": document["generated_at"], **row,
                    "depths": _depths(state, window, service, name),
                    "findings": findings, "exemplars": state.exemplars(service, name)}
    raise HTTPException(404, f"no endpoint {service!r} {name!r} in window {window}")


def _depths(state: State, window: str, service: str, name: str) -> dict[str, int]:
    """The endpoint's traces over ``window`` by critical-path depth (the depth histogram the
    metrics export, unbucketed). Read from a fresh aggregate of the window, so traces folded
    in since the report was built may already count here."""
    profile = state.aggregate(window).endpoints.profiles.get(Endpoint(service, name))
    if profile is None:
        return {}
    return {str(depth): count for depth, count in sorted(profile.depths.items())}


@router.get("/findings", summary="Open findings, worst first")
def findings(state: State, window: Window = "all") -> dict[str, Any]:
    """What the rules found: missing timeouts, timeout inversions, deferrable work, depth."""
    document = state.report(window)
    return {"window": window, "generated_at": document["generated_at"],
            "findings": document["findings"]}


@router.get("/aggregate", summary="The raw mergeable aggregate (for merging several collectors)")
def aggregate(state: State, window: Window = "all") -> dict[str, Any]:
    """``Aggregate.to_dict()`` over the window: readers merge these from several collectors
    (scale-out by trace id, ARCHITECTURE.md §9) and build one report from the sum."""
    return {"schema": "critpath.aggregate/v1", "window": window,
            "aggregate": state.aggregate(window).to_dict()}
