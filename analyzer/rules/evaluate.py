"""The rules (ARCHITECTURE.md §5): pure judgements over a :class:`CallAggregate`.

Each rule looks at the statistics of one call (or one endpoint) and either says nothing
or returns one :class:`Finding`. No rule speaks before its minimum number of
observations (``AnalysisConfig.min_observations_for``). :func:`evaluate` runs them all
and sorts the findings worst first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from analyzer.config import AnalysisConfig
from analyzer.model import Endpoint
from analyzer.rules.calls import CallAggregate, CallKey, CallStats, EndpointDepths
from analyzer.rules.finding import Finding
from analyzer.stats import LatencySketch

__all__ = [
    "evaluate", "missing_timeout", "timeout_inversion", "retries_over_budget",
    "deferrable_work", "soft_dependency", "critical_path_depth",
]


def _ms(ns: int | float | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 3)


def _fmt(ms: float | None) -> str:
    """A duration for a message: ``"1200 ms"``, ``"3.5 ms"``, ``"?"`` when unknown
    (``"0.004 ms"`` rather than a misleading ``"0.0 ms"``)."""
    if ms is None:
        return "?"
    if 0 < ms < 0.05:
        return f"{ms:.3f} ms"
    return f"{ms:.0f} ms" if ms >= 10 or ms == int(ms) else f"{ms:.1f} ms"


def _call_subject(key: CallKey) -> dict:
    return {"client": key.client, "server": key.server, "endpoint": key.endpoint,
            "service": key.client}


def _latency_evidence(sketch: LatencySketch) -> dict:
    return {"p50_ms": sketch.quantile_ms(0.5), "p99_ms": sketch.quantile_ms(0.99),
            "max_ms": _ms(sketch.max)}


def _tolerance_evidence(key: CallKey, stats: CallStats) -> dict:
    """The evidence both failure-tolerance rules (deferrable-work, soft-dependency) open with:
    how often the call was seen, on the critical path, failing, and failing harmlessly."""
    return {
        "operation": key.operation,
        "observations": stats.calls,
        "on_critical_path": stats.on_critical,
        "errors": stats.errors,
        "error_tolerated": stats.tolerated,
    }


def observed_timeout_ms(stats: CallStats, config: AnalysisConfig) -> float | None:
    """The caller's own timeout as observed, when timed-out calls cluster near one duration.

    A client library's timeout makes every timed-out call last about the same time; if
    their durations spread widely, the errors came from somewhere else (the server's own
    deadline, a proxy) and say nothing about the caller.
    """
    if stats.timeouts < config.min_observed_timeouts:
        return None
    sketch = stats.timeout_latency
    low, mid, high = sketch.quantile(0.1), sketch.quantile(0.5), sketch.quantile(0.9)
    if low is None or mid is None or high is None or mid <= 0:
        return None
    tolerance = config.timeout_cluster_tolerance * mid
    if mid - low <= tolerance and high - mid <= tolerance:
        return _ms(mid)
    return None


def _on_critical_path(stats: CallStats, share: float) -> bool:
    """The call is *on* its endpoint's critical path: in at least ``share`` of its calls
    (and in one at least, so a share of 0 means "ever").

    Once is not enough: a call that owned a sliver of the path in one trace out of many
    only stalls the user when it stalls far beyond its usual time, and calling every such
    call critical buries the calls that hold up every request. Compared as ``k / n``
    (correctly rounded), so 3 of 6 meets 0.5 exactly.
    """
    return stats.on_critical > 0 and stats.on_critical / stats.calls >= share


def missing_timeout(key: CallKey, stats: CallStats, config: AnalysisConfig) -> Finding | None:
    """The caller sets no timeout on an HTTP/RPC call: neither declared nor observed."""
    if stats.calls < config.min_observations_for("missing-timeout") or stats.requests == 0:
        return None
    if stats.declared > 0 or observed_timeout_ms(stats, config) is not None:
        return None
    critical = _on_critical_path(stats, config.missing_timeout_critical_share)
    latency = _latency_evidence(stats.latency)
    share = f"{stats.on_critical} of {stats.calls} calls"
    where = (f" on the critical path of {key.endpoint} in {share}" if critical
             else f" (endpoint {key.endpoint}, on its critical path in {share})")
    message = (
        f"{key.client} calls {key.server} ({key.operation}) with no timeout (none declared, "
        f"none seen firing){where}: "
        f"if {key.server} stalls, every request waits with it (longest call seen "
        f"{_fmt(latency['max_ms'])}); set a client timeout below the caller's own budget "
        f"and send it as a deadline header."
    )
    return Finding(
        rule="missing-timeout",
        severity="critical" if critical else "warning",
        message=message,
        evidence={
            "operation": key.operation,
            "calls": stats.calls,
            "on_critical_path": stats.on_critical,
            "critical_path_share": round(stats.on_critical / stats.calls, 3),
            "errors": stats.errors,
            "observed_timeouts": stats.timeouts,
            **latency,
            "longest_stall_ms": latency["max_ms"],
            "longest_stall_trace_id": stats.longest_trace_id,
        },
        impact=latency["max_ms"] or 0.0,
        **_call_subject(key),
    )


def timeout_inversion(key: CallKey, stats: CallStats, config: AnalysisConfig) -> Finding | None:
    """The call's declared timeout is at least the timeout its caller was given."""
    if stats.calls < config.min_observations_for("timeout-inversion") or stats.inverted == 0:
        return None
    declared, budget = stats.inverted_declared_ms, stats.inverted_inbound_ms
    message = (
        f"{key.client} waits up to {_fmt(declared)} for {key.server} ({key.operation}), "
        f"but its own caller gives up after {_fmt(budget)}: past that the answer is thrown "
        f"away while {key.server} keeps working; set this timeout below {_fmt(budget)} "
        f"minus the time spent before the call."
    )
    return Finding(
        rule="timeout-inversion",
        severity="warning",
        message=message,
        evidence={
            "cause": "timeout",
            "operation": key.operation,
            "calls": stats.calls,
            "calls_with_both_timeouts": stats.inbound_known,
            "inverted": stats.inverted,
            "timeout_ms": declared,
            "caller_budget_ms": budget,
        },
        impact=declared or 0.0,
        **_call_subject(key),
    )


def retries_over_budget(key: CallKey, stats: CallStats, config: AnalysisConfig) -> Finding | None:
    """Visible retries (repeated sibling calls) run past the caller's own budget."""
    if stats.calls < config.min_observations_for("timeout-inversion") \
            or stats.retries_over_budget == 0:
        return None
    budget = stats.retry_budget_ms
    total_max = _ms(stats.retry_total.max)
    message = (
        f"{key.client} retries {key.server} ({key.operation}) up to {stats.max_attempts} times, "
        f"{_fmt(total_max)} in all, past its caller's {_fmt(budget)} budget: the late "
        f"attempts are wasted load on a struggling {key.server}; stop retrying when the "
        f"remaining deadline cannot cover another attempt."
    )
    return Finding(
        rule="timeout-inversion",
        severity="warning",
        message=message,
        evidence={
            "cause": "retries",
            "operation": key.operation,
            "calls": stats.calls,
            "retried": stats.retried,
            "max_attempts": stats.max_attempts,
            "over_budget": stats.retries_over_budget,
            "retry_total_p50_ms": stats.retry_total.quantile_ms(0.5),
            "retry_total_max_ms": total_max,
            "caller_budget_ms": budget,
        },
        impact=total_max or 0.0,
        **_call_subject(key),
    )


def _tolerated(stats: CallStats, config: AnalysisConfig) -> bool:
    """The caller survives this call's failures: often enough, and in most of them."""
    propagated = stats.errors - stats.tolerated
    return stats.tolerated >= config.min_tolerated_failures and stats.tolerated >= propagated


def deferrable_work(key: CallKey, stats: CallStats, config: AnalysisConfig) -> Finding | None:
    """A write on the critical path whose result the caller does not need: queue it.

    Silent unless queueing it would save the endpoint more than
    ``config.deferrable_min_saving_ms`` at p99 (0: any saving at all).
    """
    if stats.calls < config.min_observations_for("deferrable-work"):
        return None
    if stats.writes <= stats.reads or stats.on_critical == 0 or stats.followed > 0:
        return None
    if not _tolerated(stats, config):
        return None
    saved_p50 = stats.savings.quantile_ms(0.5)
    saved_p99 = stats.savings.quantile_ms(0.99)
    if saved_p99 is None or saved_p99 <= config.deferrable_min_saving_ms:
        # Queued, it would not answer any sooner (a concurrent call the caller also awaits
        # ends as late): advice to re-architect for no gain is noise.
        return None
    message = (
        f"{key.client} waits on a write to {key.server} ({key.operation}) on the critical "
        f"path of {key.endpoint}, yet ignores its failures ({stats.tolerated} of "
        f"{stats.errors} tolerated) and uses nothing it returns: queue it (outbox or message "
        f"queue) and answer without waiting, saving about {_fmt(saved_p50)} at p50 and "
        f"{_fmt(saved_p99)} at p99."
    )
    return Finding(
        rule="deferrable-work",
        severity="warning",
        message=message,
        evidence={
            **_tolerance_evidence(key, stats),
            "call_p50_ms": stats.latency.quantile_ms(0.5),
            "saved_p50_ms": saved_p50,
            "saved_p99_ms": saved_p99,
        },
        impact=saved_p99 or 0.0,
        **_call_subject(key),
    )


def soft_dependency(key: CallKey, stats: CallStats, config: AnalysisConfig) -> Finding | None:
    """A read whose failures the caller tolerates: its result is used, so it is not deferrable."""
    if stats.calls < config.min_observations_for("soft-dependency"):
        return None
    if stats.reads <= stats.writes or not _tolerated(stats, config):
        return None
    latency = _latency_evidence(stats.latency)
    message = (
        f"{key.client} carries on when {key.server} ({key.operation}) fails "
        f"({stats.tolerated} of {stats.calls} calls), so this read is a soft dependency "
        f"whose result is used when it arrives: keep it synchronous, but give it a short "
        f"timeout and a fallback (cache or default) so it never holds up {key.endpoint}."
    )
    return Finding(
        rule="soft-dependency",
        severity="info",
        message=message,
        evidence={
            **_tolerance_evidence(key, stats),
            **latency,
        },
        impact=latency["p99_ms"] or 0.0,
        **_call_subject(key),
    )


def critical_path_depth(
    endpoint: Endpoint, depths: EndpointDepths, config: AnalysisConfig
) -> Finding | None:
    """An endpoint whose critical path went deeper than its budget."""
    budget = config.depth_budget(str(endpoint))
    if budget is None or depths.traces < config.min_observations_for("critical-path-depth"):
        return None
    if depths.depth_max <= budget:
        return None
    message = (
        f"{endpoint}'s critical path goes {depths.depth_max} services deep (budget {budget}, "
        f"median {depths.depth_p50}): every hop adds latency and a way to fail; collapse "
        f"chatty hops, call in parallel, or cache above the deepest service."
    )
    return Finding(
        rule="critical-path-depth",
        severity="warning",
        message=message,
        endpoint=str(endpoint),
        service=endpoint.service,
        evidence={
            "traces": depths.traces,
            "budget": budget,
            "depth_p50": depths.depth_p50,
            "depth_max": depths.depth_max,
            "traces_over_budget": depths.over(budget),
        },
        impact=float(depths.depth_max - budget),
    )


CallRule = Callable[[CallKey, CallStats, AnalysisConfig], Finding | None]

_CALL_RULES: tuple[tuple[str, CallRule], ...] = (
    ("missing-timeout", missing_timeout),
    ("timeout-inversion", timeout_inversion),
    ("timeout-inversion", retries_over_budget),
    ("deferrable-work", deferrable_work),
    ("soft-dependency", soft_dependency),
)


def _findings(aggregate: CallAggregate, config: AnalysisConfig) -> Iterator[Finding]:
    for key, stats in aggregate.calls.items():
        for rule, check in _CALL_RULES:
            if config.enabled(rule):
                finding = check(key, stats, config)
                if finding is not None:
                    yield finding
    if config.enabled("critical-path-depth"):
        for endpoint, depths in aggregate.endpoints.items():
            finding = critical_path_depth(endpoint, depths, config)
            if finding is not None:
                yield finding


def evaluate(aggregate: CallAggregate, config: AnalysisConfig | None = None) -> list[Finding]:
    """Every finding over ``aggregate``, worst first (severity, then impact)."""
    return sorted(_findings(aggregate, config or AnalysisConfig()), key=lambda f: f.sort_key)
