"""Each rule on hand-built bank traces recorded by the real OpenTelemetry SDK.

Every test draws its requests with ``tests/rules/scenarios.py``, reads them back through
OTLP protobuf → decode → assemble → trace_context, and compares the findings with the
exact expected values.
"""

from __future__ import annotations

import pytest

from analyzer.config import AnalysisConfig
from analyzer.rules import Finding
from tests.rules.scenarios import (
    MS,
    account_read,
    at,
    call,
    fan_out,
    findings,
    http,
    traces,
    transfer,
)
from tests.support.sdk import TraceBuilder

FIVE = range(5)  # AnalysisConfig's default minimum number of observations


def rules_of(found: list[Finding]) -> list[tuple[str, str, str | None, str | None]]:
    return [(f.rule, f.severity, f.client, f.server) for f in found]


# -- deferrable-work and soft-dependency ------------------------------------------------


def test_tolerated_write_on_the_critical_path_is_deferrable_with_exact_savings():
    b = TraceBuilder()
    for i in FIVE:
        transfer(b, i, audit_fails=i in (1, 3))
    [finding] = findings(b)
    assert finding.rule == "deferrable-work"
    assert finding.severity == "warning"
    assert (finding.client, finding.server, finding.service) == ("gateway", "audit", "gateway")
    assert finding.endpoint == "gateway POST /transfers"
    assert dict(finding.evidence) == {
        "operation": "POST /audit",
        "observations": 5,
        "on_critical_path": 5,
        "errors": 2,
        "error_tolerated": 2,
        "call_p50_ms": 50.0,
        "saved_p50_ms": 50.0,
        "saved_p99_ms": 50.0,
    }
    assert finding.message == (
        "gateway waits on a write to audit (POST /audit) on the critical path of gateway "
        "POST /transfers, yet ignores its failures (2 of 2 tolerated) and uses nothing it "
        "returns: queue it (outbox or message queue) and answer without waiting, saving "
        "about 50 ms at p50 and 50 ms at p99."
    )


def test_savings_count_only_the_wait_not_a_concurrent_read_the_caller_still_needs():
    # The cache read runs 50..70 during the audit: queued, the audit frees 70..90 only.
    b = TraceBuilder()
    for i in FIVE:
        transfer(b, i, audit_fails=i == 2, cache_during_audit=True)
    [finding] = findings(b)
    assert finding.rule == "deferrable-work"
    assert finding.evidence["saved_p50_ms"] == 20.0
    assert finding.evidence["saved_p99_ms"] == 20.0


@pytest.mark.parametrize(
    ("prices_ms", "saved_ms"),
    [
        # orders answers at 60 instead of 100, but prices holds the gateway until 80.
        pytest.param(80, 20.0, id="a-concurrent-call-holds-the-endpoint"),
        # prices is done at 40: nothing else holds the gateway, orders' 40 ms reach it.
        pytest.param(40, 40.0, id="nothing-else-holds-the-endpoint"),
        # prices ends at 60, exactly when orders would now answer.
        pytest.param(60, 40.0, id="concurrent-call-done-just-in-time"),
        # prices ends at 99, 1 ms before the gateway: that is all queuing saves it.
        pytest.param(99, 1.0, id="a-concurrent-call-almost-as-long-as-the-endpoint"),
    ],
)
def test_savings_are_the_endpoints_not_the_callers(prices_ms, saved_ms):
    b = TraceBuilder()
    for i in FIVE:
        fan_out(b, i, prices_ms, audit_fails=i in (1, 3))
    [finding] = findings(b)
    assert (finding.client, finding.server, finding.endpoint) == (
        "orders", "audit", "gateway POST /checkout")
    assert finding.evidence["call_p50_ms"] == 40.0
    assert finding.evidence["saved_p50_ms"] == saved_ms
    assert finding.evidence["saved_p99_ms"] == saved_ms


def test_a_write_that_would_save_the_endpoint_nothing_is_not_worth_queueing():
    # prices ends exactly with the gateway (0..100): orders (and its audit) is on the
    # critical path in 4 of 5 traces, yet queued, the gateway still waits for prices.
    b = TraceBuilder()
    for i in FIVE:
        fan_out(b, i, 100, audit_fails=i in (1, 3))
    assert findings(b) == []


@pytest.mark.parametrize(
    ("prices_ms", "min_saving_ms", "speaks"),
    [
        # The minimum is exclusive: the p99 saving must exceed it.
        pytest.param(99, 0.0, True, id="1ms-saved-default-minimum"),
        pytest.param(99, 0.5, True, id="1ms-saved-over-0.5"),
        pytest.param(99, 1.0, False, id="1ms-saved-not-over-1"),
        pytest.param(80, 19.9, True, id="20ms-saved-over-19.9"),
        pytest.param(80, 20.0, False, id="20ms-saved-not-over-20"),
        pytest.param(100, 0.0, False, id="nothing-saved"),
    ],
)
def test_deferrable_work_needs_a_p99_saving_over_the_minimum(prices_ms, min_saving_ms, speaks):
    b = TraceBuilder()
    for i in FIVE:
        fan_out(b, i, prices_ms, audit_fails=i in (1, 3))
    found = findings(b, AnalysisConfig(deferrable_min_saving_ms=min_saving_ms))
    assert rules_of(found) == ([("deferrable-work", "warning", "orders", "audit")] if speaks
                               else [])


def test_tolerated_read_is_a_soft_dependency_never_deferrable():
    b = TraceBuilder()
    for i in FIVE:
        transfer(b, i, audit_fails=i in (0, 4), audit_method="GET")
    [finding] = findings(b)
    assert finding.rule == "soft-dependency"
    assert finding.severity == "info"
    assert (finding.client, finding.server, finding.endpoint) == (
        "gateway", "audit", "gateway POST /transfers")
    assert dict(finding.evidence) == {
        "operation": "GET /audit",
        "observations": 5,
        "on_critical_path": 5,
        "errors": 2,
        "error_tolerated": 2,
        "p50_ms": 50.0,
        "p99_ms": 50.0,
        "max_ms": 50.0,
    }


def test_a_write_whose_result_the_caller_reads_afterwards_is_not_deferrable():
    b = TraceBuilder()
    for i in FIVE:
        transfer(b, i, audit_fails=i in (1, 3), read_after=True)
    assert findings(b) == []


def test_a_write_whose_4xx_answer_the_caller_handles_is_not_deferrable():
    # "not found" is the server's answer, not a failure the caller shrugs off.
    b = TraceBuilder()
    for i in FIVE:
        with b.span("gateway", "POST /transfers", at(i, 0), at(i, 100), kind="server"):
            call(b, i, "gateway", "audit", "POST /audit", 40, 90,
                 http("POST", 2000, **({"http.response.status_code": 404} if i in (1, 3) else {})),
                 error=i in (1, 3), server_error=False)
    assert findings(b) == []


def test_a_write_whose_failure_fails_the_caller_is_not_deferrable():
    b = TraceBuilder()
    for i in FIVE:
        transfer(b, i, audit_fails=i in (1, 3), gateway_fails=i in (1, 3))
    assert findings(b) == []


def test_a_write_that_never_failed_gives_no_evidence_it_is_optional():
    b = TraceBuilder()
    for i in FIVE:
        transfer(b, i)
    assert findings(b) == []


@pytest.mark.parametrize(
    ("requests", "min_observations", "expected"),
    [
        pytest.param(4, 5, [], id="four-of-five-says-nothing"),
        pytest.param(4, 4, ["deferrable-work"], id="four-of-four-speaks"),
        pytest.param(5, 5, ["deferrable-work"], id="five-of-five-speaks"),
    ],
)
def test_too_few_observations_say_nothing(requests, min_observations, expected):
    b = TraceBuilder()
    for i in range(requests):
        transfer(b, i, audit_fails=i == 1)
    config = AnalysisConfig(min_observations=min_observations)
    assert [f.rule for f in findings(b, config)] == expected


def test_per_rule_minimum_overrides_the_default():
    b = TraceBuilder()
    for i in FIVE:
        transfer(b, i, audit_fails=i == 1)
    config = AnalysisConfig(rule_min_observations={"deferrable-work": 6})
    assert findings(b, config) == []


def test_disabled_rule_says_nothing():
    b = TraceBuilder()
    for i in FIVE:
        transfer(b, i, audit_fails=i == 1)
    assert findings(b, AnalysisConfig(disabled_rules=frozenset({"deferrable-work"}))) == []


# -- missing-timeout ------------------------------------------------------------------------


def test_call_without_timeout_on_the_critical_path_is_critical():
    b = TraceBuilder()
    for i, ms in enumerate((10, 20, 30, 40, 50)):
        account_read(b, i, ms)
    slowest = next(t.trace_id for t in traces(b)
                   if t.root is not None and t.root.duration_ns == 65 * MS)
    [finding] = findings(b)
    assert (finding.rule, finding.severity, finding.client, finding.server) == (
        "missing-timeout", "critical", "gateway", "accounts")
    assert finding.endpoint == "gateway GET /accounts/{id}"
    assert dict(finding.evidence) == {
        "operation": "GET /accounts/{id}",
        "calls": 5,
        "on_critical_path": 5,
        "critical_path_share": 1.0,
        "errors": 0,
        "observed_timeouts": 0,
        "p50_ms": 30.0,
        "p99_ms": 50.0,  # nearest rank: the p99 of five calls is the slowest
        "max_ms": 50.0,
        "longest_stall_ms": 50.0,
        "longest_stall_trace_id": slowest,
    }
    assert finding.message == (
        "gateway calls accounts (GET /accounts/{id}) with no timeout (none declared, none seen "
        "firing) on the critical path of "
        "gateway GET /accounts/{id} in 5 of 5 calls: if accounts stalls, every request waits with it "
        "(longest call seen 50 ms); set a client timeout below the caller's own budget and "
        "send it as a deadline header."
    )


@pytest.mark.parametrize(
    "attrs",
    [
        pytest.param(http("GET", 2000), id="bank-header-ms"),
        pytest.param(http("GET", "2S"), id="bank-header-grpc-seconds"),
        pytest.param({"http.request.method": "GET",
                      "http.request.header.x-envoy-expected-rq-timeout-ms": ("1500",)},
                     id="envoy-header"),
        pytest.param({"rpc.system": "grpc", "rpc.method": "GetAccount",
                      "rpc.grpc.request.metadata.grpc-timeout": ("500m",)}, id="grpc-metadata"),
    ],
)
def test_declared_timeout_silences_missing_timeout(attrs):
    b = TraceBuilder()
    for i in FIVE:
        account_read(b, i, 20, attrs=attrs)
    assert findings(b) == []


@pytest.mark.parametrize(
    ("error_type", "durations", "silenced"),
    [
        pytest.param("httpx.ReadTimeout", (20, 20, 20, 1000, 1005), True,
                     id="timeouts-clustered-near-1s"),
        pytest.param("TimeoutError", (20, 20, 20, 300, 1000), False,
                     id="timeouts-spread-say-nothing-about-the-caller"),
        pytest.param("ConnectionRefused", (20, 20, 20, 1000, 1005), False,
                     id="errors-that-are-not-timeouts"),
    ],
)
def test_observed_timeouts_clustered_near_one_duration_count_as_a_timeout(error_type, durations, silenced):
    b = TraceBuilder()
    for i, ms in enumerate(durations):
        account_read(b, i, ms, error_type=error_type if ms >= 300 else None)
    found = findings(b)
    if silenced:
        assert found == []
    else:
        assert [(f.rule, f.severity) for f in found] == [("missing-timeout", "critical")]
        expected_timeouts = 2 if "Timeout" in error_type else 0
        assert found[0].evidence["observed_timeouts"] == expected_timeouts


def test_grpc_deadline_exceeded_and_exception_events_are_observed_timeouts():
    b = TraceBuilder()
    for i in FIVE:
        failed = i >= 3
        with b.span("gateway", "GET /accounts/{id}", at(i, 0), at(i, 520), kind="server",
                    error=failed):
            attrs = {"rpc.system": "grpc", "rpc.method": "GetAccount"}
            if failed and i == 3:
                attrs["rpc.grpc.status_code"] = 4
            with b.span("gateway", "accounts.Accounts/GetAccount", at(i, 5), at(i, 505),
                        kind="client", attributes=attrs, error=failed) as span:
                if failed and i == 4:
                    span.add_event("exception", {"exception.type": "grpc.DeadlineExceeded"},
                                   timestamp=at(i, 505))
    assert findings(b) == []


def test_call_hidden_behind_a_slower_sibling_is_only_a_warning():
    b = TraceBuilder()
    for i in FIVE:
        with b.span("gateway", "GET /dashboard", at(i, 0), at(i, 100), kind="server"):
            call(b, i, "gateway", "ledger", "GET /history", 5, 95, http("GET", 2000))
            call(b, i, "gateway", "accounts", "GET /profile", 10, 20, http("GET"))
    [finding] = findings(b)
    assert (finding.rule, finding.severity, finding.server) == ("missing-timeout", "warning", "accounts")
    assert finding.evidence["on_critical_path"] == 0
    assert finding.evidence["critical_path_share"] == 0.0
    assert finding.message.startswith(
        "gateway calls accounts (GET /profile) with no timeout (none declared, none seen firing) "
        "(endpoint gateway GET /dashboard, on its critical path in 0 of 5 calls):")


def dashboard(b: TraceBuilder, i: int, accounts_ms: float) -> None:
    """``GET /dashboard``: ledger (with a timeout) 5..95 and, alongside, accounts (none)
    10..(10 + accounts_ms). Past 85 ms accounts outlasts ledger and owns the path's end."""
    with b.span("gateway", "GET /dashboard", at(i, 0), at(i, 100), kind="server"):
        call(b, i, "gateway", "ledger", "GET /history", 5, 95, http("GET", 2000))
        call(b, i, "gateway", "accounts", "GET /profile", 10, 10 + accounts_ms, http("GET"))


@pytest.mark.parametrize(
    ("slow", "config", "severity"),
    [
        # Default share 0.5: on the path in 3 of 6 calls is "on the path", 2 of 6 is not.
        pytest.param(3, AnalysisConfig(), "critical", id="half-the-calls"),
        pytest.param(2, AnalysisConfig(), "warning", id="just-under-half"),
        # One call of six, as compose-post -> unique-id in the DeathStarBench traces.
        pytest.param(1, AnalysisConfig(), "warning", id="once-is-not-on-the-path"),
        pytest.param(1, AnalysisConfig(missing_timeout_critical_share=1 / 6), "critical",
                     id="share-lowered-to-one-in-six"),
        # A share of 0 is the old rule: on the path in any call at all, but at least one.
        pytest.param(1, AnalysisConfig(missing_timeout_critical_share=0.0), "critical",
                     id="share-0-means-ever"),
        pytest.param(0, AnalysisConfig(missing_timeout_critical_share=0.0), "warning",
                     id="share-0-never-on-the-path"),
        pytest.param(5, AnalysisConfig(missing_timeout_critical_share=1.0), "warning",
                     id="share-1-needs-every-call"),
        pytest.param(6, AnalysisConfig(missing_timeout_critical_share=1.0), "critical",
                     id="share-1-every-call"),
    ],
)
def test_missing_timeout_is_critical_when_on_the_path_in_enough_of_its_calls(
        slow, config, severity):
    b = TraceBuilder()
    for i in range(6):
        dashboard(b, i, 88 if i < slow else 10)  # ends at 98 (on the path) or 20 (hidden)
    [finding] = findings(b, config)
    assert (finding.rule, finding.severity, finding.client, finding.server) == (
        "missing-timeout", severity, "gateway", "accounts")
    assert finding.evidence["calls"] == 6
    assert finding.evidence["on_critical_path"] == slow
    assert finding.evidence["critical_path_share"] == round(slow / 6, 3)
    head = ("gateway calls accounts (GET /profile) with no timeout (none declared, none seen "
            "firing)")
    if severity == "critical":
        where = f" on the critical path of gateway GET /dashboard in {slow} of 6 calls: "
    else:
        where = f" (endpoint gateway GET /dashboard, on its critical path in {slow} of 6 calls): "
    longest = "88 ms" if slow else "10 ms"
    assert finding.message == (
        f"{head}{where}if accounts stalls, every request waits with it (longest call seen "
        f"{longest}); set a client timeout below the caller's own budget and send it as a "
        f"deadline header.")


def test_database_driver_calls_are_not_asked_for_a_timeout():
    b = TraceBuilder()
    for i in FIVE:
        with b.span("accounts", "GET /accounts/{id}", at(i, 0), at(i, 30), kind="server"):
            with b.span("accounts", "SELECT accounts", at(i, 5), at(i, 25), kind="client",
                        attributes={"db.system": "sqlite", "db.operation": "SELECT"}):
                pass
    assert findings(b) == []


# -- timeout-inversion --------------------------------------------------------------------


def chain(b: TraceBuilder, i: int, inbound: int | str, outbound: int | str | None,
          ledger_attempts: tuple[tuple[float, float], ...] = ((20, 60),), *,
          attempts_fail: bool = True) -> None:
    """gateway → accounts (declares ``inbound``) → ledger (declares ``outbound``)::

        gateway   |0================================================|
        accounts     |5=========================================|  (gateway waits `inbound`)
        ledger            |attempt 1|  |attempt 2| …                (accounts waits `outbound`)

    Every attempt but the last fails (a visible retry) unless ``attempts_fail`` is false.
    """
    last_end = ledger_attempts[-1][1]
    with b.span("gateway", "POST /payments", at(i, 0), at(i, last_end + 20), kind="server"):
        with b.span("gateway", "POST", at(i, 5), at(i, last_end + 15), kind="client",
                    attributes=http("POST", inbound)):
            with b.span("accounts", "POST /debit", at(i, 6), at(i, last_end + 14), kind="server"):
                for n, (start, end) in enumerate(ledger_attempts):
                    call(b, i, "accounts", "ledger", "POST /entries", start, end,
                         http("POST", outbound),
                         error=attempts_fail and n < len(ledger_attempts) - 1)


@pytest.mark.parametrize(
    ("inbound", "outbound", "expected"),
    [
        pytest.param(1000, 1500, (1500.0, 1000.0), id="longer-than-the-callers-budget"),
        pytest.param(1000, 1000, (1000.0, 1000.0), id="equal-to-the-callers-budget"),
        pytest.param("1S", "1500ms", (1500.0, 1000.0), id="grpc-and-ms-forms"),
        pytest.param(1000, 800, None, id="shorter-than-the-callers-budget"),
    ],
)
def test_timeout_inversion(inbound, outbound, expected):
    b = TraceBuilder()
    for i in FIVE:
        chain(b, i, inbound, outbound)
    found = findings(b)
    if expected is None:
        assert found == []
        return
    [finding] = found
    assert (finding.rule, finding.severity, finding.client, finding.server) == (
        "timeout-inversion", "warning", "accounts", "ledger")
    assert finding.endpoint == "gateway POST /payments"
    declared, budget = expected
    assert dict(finding.evidence) == {
        "cause": "timeout",
        "operation": "POST /entries",
        "calls": 5,
        "calls_with_both_timeouts": 5,
        "inverted": 5,
        "timeout_ms": declared,
        "caller_budget_ms": budget,
    }
    assert finding.message.startswith(
        f"accounts waits up to {declared:.0f} ms for ledger (POST /entries), but its own "
        f"caller gives up after {budget:.0f} ms:")


def test_retries_past_the_callers_budget_are_an_inversion():
    b = TraceBuilder()
    attempts = ((20, 370), (380, 730), (740, 1090))  # 3 × 350 ms, 1070 ms in all
    for i in FIVE:
        chain(b, i, 1000, 400, attempts)
    [finding] = findings(b)
    assert (finding.rule, finding.client, finding.server) == ("timeout-inversion", "accounts", "ledger")
    assert dict(finding.evidence) == {
        "cause": "retries",
        "operation": "POST /entries",
        "calls": 15,
        "retried": 5,
        "max_attempts": 3,
        "over_budget": 5,
        "retry_total_p50_ms": 1070.0,
        "retry_total_max_ms": 1070.0,
        "caller_budget_ms": 1000.0,
    }
    assert finding.message == (
        "accounts retries ledger (POST /entries) up to 3 times, 1070 ms in all, past its "
        "caller's 1000 ms budget: the late attempts are wasted load on a struggling ledger; "
        "stop retrying when the remaining deadline cannot cover another attempt."
    )


def two_ledger_calls(b: TraceBuilder, i: int, first: str, second: str, *,
                     instrumented: bool = True) -> None:
    """accounts (1000 ms budget) calls ledger twice with ``POST`` client spans; the first
    call fails::

        gateway   |0===============================================750|
        accounts     |6=========================================744|  (budget 1000 ms)
        ledger            |20 first 370|  |380 second 730|           (400 ms timeouts)

    The second call starts after the first failed, 710 ms from the first start to the
    second end (over a 500 ms budget if they were attempts of one operation). With
    ``instrumented`` ledger records ``first`` / ``second`` as its SERVER span names;
    without, the client spans carry the path as ``url.path`` and ``peer.service`` names
    ledger.
    """
    with b.span("gateway", "POST /payments", at(i, 0), at(i, 750), kind="server"):
        with b.span("gateway", "POST", at(i, 5), at(i, 745), kind="client",
                    attributes=http("POST", 500)):
            with b.span("accounts", "POST /debit", at(i, 6), at(i, 744), kind="server"):
                for n, (op, start, end) in enumerate(((first, 20, 370), (second, 380, 730))):
                    if instrumented:
                        call(b, i, "accounts", "ledger", op, start, end, http("POST", 400),
                             error=n == 0)
                    else:
                        method, route = op.split(" ", 1)
                        with b.span("accounts", method, at(i, start), at(i, end), kind="client",
                                    attributes=http(method, 400, **{"peer.service": "ledger",
                                                                    "url.path": route}),
                                    error=n == 0):
                            pass


@pytest.mark.parametrize(
    ("first", "second", "instrumented", "retried"),
    [
        pytest.param("POST /entries", "POST /entries", True, True,
                     id="same-server-operation-retried"),
        pytest.param("POST /entries", "POST /holds", True, False,
                     id="different-server-operations-same-method-are-not-retries"),
        pytest.param("POST /entries", "POST /entries", False, True,
                     id="uninstrumented-server-same-url-path-retried"),
        pytest.param("POST /entries", "POST /holds", False, False,
                     id="uninstrumented-server-different-url-paths-are-not-retries"),
    ],
)
def test_retries_are_repeated_calls_to_one_server_operation_not_one_method(
        first, second, instrumented, retried):
    b = TraceBuilder()
    for i in FIVE:
        two_ledger_calls(b, i, first, second, instrumented=instrumented)
    found = findings(b)
    if not retried:
        assert found == []
        return
    [finding] = found
    assert (finding.rule, finding.client, finding.server) == ("timeout-inversion", "accounts", "ledger")
    assert dict(finding.evidence) == {
        "cause": "retries",
        # the CallKey's operation: an uninstrumented server's calls are known by the client span
        "operation": "POST /entries" if instrumented else "POST",
        "calls": 10,
        "retried": 5,
        "max_attempts": 2,
        "over_budget": 5,
        "retry_total_p50_ms": 710.0,
        "retry_total_max_ms": 710.0,
        "caller_budget_ms": 500.0,
    }


def test_a_loop_of_successful_calls_is_not_a_retry():
    b = TraceBuilder()
    for i in FIVE:
        chain(b, i, 1000, 400, ((20, 370), (380, 730), (740, 1090)), attempts_fail=False)
    assert findings(b) == []


def test_retries_within_the_callers_budget_are_fine():
    b = TraceBuilder()
    for i in FIVE:
        chain(b, i, 1000, 400, ((20, 320), (330, 630)))
    assert findings(b) == []


# -- critical-path-depth ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(AnalysisConfig(default_depth_budget=2), 2, id="default-budget-broken"),
        pytest.param(AnalysisConfig(default_depth_budget=5,
                                    depth_budgets={"gateway POST /payments": 2}), 2,
                     id="endpoint-budget-broken"),
        pytest.param(AnalysisConfig(default_depth_budget=3), None, id="budget-held"),
        pytest.param(AnalysisConfig(), None, id="no-budget"),
    ],
)
def test_critical_path_depth(config, expected):
    b = TraceBuilder()
    for i in FIVE:
        chain(b, i, 1000, 500)
    found = findings(b, config)
    if expected is None:
        assert found == []
        return
    [finding] = found
    assert (finding.rule, finding.severity, finding.endpoint, finding.service) == (
        "critical-path-depth", "warning", "gateway POST /payments", "gateway")
    assert (finding.client, finding.server) == (None, None)
    assert dict(finding.evidence) == {
        "traces": 5, "budget": expected, "depth_p50": 3, "depth_max": 3, "traces_over_budget": 5,
    }
    assert finding.message == (
        "gateway POST /payments's critical path goes 3 services deep (budget 2, median 3): "
        "every hop adds latency and a way to fail; collapse chatty hops, call in parallel, "
        "or cache above the deepest service."
    )


# -- too few observations say nothing, for every rule -------------------------------------


def inverted_timeouts(b: TraceBuilder, requests: int) -> None:
    """One ledger call a request, its 1500 ms timeout over accounts' 1000 ms budget."""
    for i in range(requests):
        chain(b, i, 1000, 1500)


def retries_over_budget(b: TraceBuilder, requests: int) -> None:
    """Three ledger calls a request (two failed attempts and a third), 1070 ms in all."""
    for i in range(requests):
        chain(b, i, 1000, 400, ((20, 370), (380, 730), (740, 1090)))


def tolerated_reads(b: TraceBuilder, requests: int) -> None:
    """One audit read a request, failing harmlessly in the second request."""
    for i in range(requests):
        transfer(b, i, audit_fails=i == 1, audit_method="GET")


def three_deep(b: TraceBuilder, requests: int) -> None:
    """gateway → accounts → ledger on every critical path: depth 3."""
    for i in range(requests):
        chain(b, i, 1000, 500)


# (name, how a request is drawn, requests, config, expected (rule, evidence cause) findings)
THRESHOLD_CASES = [
    ("inverted timeout: 4 calls under 5 say nothing",
     inverted_timeouts, 4, AnalysisConfig(min_observations=5), []),
    ("inverted timeout: 5 calls at 5 speak",
     inverted_timeouts, 5, AnalysisConfig(min_observations=5),
     [("timeout-inversion", "timeout")]),
    ("retries: 6 calls (2 requests) under the rule's own 7 say nothing",
     retries_over_budget, 2, AnalysisConfig(rule_min_observations={"timeout-inversion": 7}), []),
    ("retries: 6 calls (2 requests) at the rule's own 6 speak",
     retries_over_budget, 2, AnalysisConfig(rule_min_observations={"timeout-inversion": 6}),
     [("timeout-inversion", "retries")]),
    ("depth: 4 traces under 5 say nothing",
     three_deep, 4, AnalysisConfig(default_depth_budget=2, min_observations=5), []),
    ("depth: 5 traces at 5 speak",
     three_deep, 5, AnalysisConfig(default_depth_budget=2, min_observations=5),
     [("critical-path-depth", None)]),
    ("depth: the rule's own threshold, 5 traces under 6 say nothing",
     three_deep, 5, AnalysisConfig(default_depth_budget=2,
                                   rule_min_observations={"critical-path-depth": 6}), []),
    ("soft dependency: 4 reads under 5 say nothing",
     tolerated_reads, 4, AnalysisConfig(min_observations=5), []),
    ("soft dependency: 5 reads at 5 speak",
     tolerated_reads, 5, AnalysisConfig(min_observations=5), [("soft-dependency", None)]),
    ("soft dependency: the rule's own threshold, 5 reads under 6 say nothing",
     tolerated_reads, 5, AnalysisConfig(rule_min_observations={"soft-dependency": 6}), []),
]


@pytest.mark.parametrize(
    ("draw", "requests", "config", "expected"),
    [c[1:] for c in THRESHOLD_CASES],
    ids=[c[0] for c in THRESHOLD_CASES],
)
def test_every_rule_needs_its_minimum_of_observations(draw, requests, config, expected):
    b = TraceBuilder()
    draw(b, requests)
    assert [(f.rule, f.evidence.get("cause")) for f in findings(b, config)] == expected


# -- ordering and the report shape --------------------------------------------------------


def test_findings_are_sorted_worst_first_and_serialise_as_the_report_says():
    b = TraceBuilder()
    for i in FIVE:
        transfer(b, i, audit_fails=i == 1)  # deferrable-work, warning
        account_read(b, 10 + i, 20)  # missing-timeout, critical
        chain(b, 20 + i, 1000, 1500)  # timeout-inversion, warning
    config = AnalysisConfig(default_depth_budget=2)  # critical-path-depth, warning (impact 1)
    found = findings(b, config)
    assert [(f.rule, f.severity, f.impact) for f in found] == [
        ("missing-timeout", "critical", 20.0),
        ("timeout-inversion", "warning", 1500.0),
        ("deferrable-work", "warning", 50.0),
        ("critical-path-depth", "warning", 1.0),
    ]
    document = found[0].to_dict()
    assert list(document) == ["rule", "severity", "client", "server", "endpoint", "service",
                              "message", "evidence", "impact"]
    assert Finding.from_dict(document) == found[0]
