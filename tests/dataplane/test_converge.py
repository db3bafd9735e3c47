"""The one convergence loop (traffic.converge.converge), through waiters.consecutive."""

from __future__ import annotations

import itertools

import pytest

from meshconform.traffic import converge as convergence
from meshconform.traffic.converge import converge
from meshconform.traffic.curl import curl_result
from meshconform.traffic.expect import Expect
from meshconform.traffic.result import Kind, TrafficResult
from meshconform.wait import Timeouts, WaitTimeout
from tests.clock import FakeClock

FAST = Timeouts(traffic_consistency=0.3, consecutive_successes=3)


def _status(code: int) -> TrafficResult:
    return TrafficResult(Kind.HTTP_STATUS, "GET x", f"answered {code}", status=code)


def test_without_an_expectation_it_waits_out_a_change() -> None:
    codes = iter([404, 200, 200, 200, 200])
    result = converge("x", lambda: _status(next(codes)), FAST, interval=0.001)
    assert result.status == 200


def test_it_reports_flapping() -> None:
    codes = itertools.cycle([200, 404])
    with pytest.raises(WaitTimeout, match="no 3 consecutive") as error:
        converge("GET x", lambda: _status(next(codes)), FAST, interval=0.01)
    assert "HTTP 404" in str(error.value)
    assert "HTTP 200" in str(error.value)


def test_until_accepts_only_the_expected_result() -> None:
    codes = iter([503, 503, 200, 200, 200])
    result = converge("x", lambda: _status(next(codes)), FAST, until=Expect.ok(200),
                      interval=0.001)
    assert result.status == 200


def test_until_returns_a_stable_other_result_for_the_evaluator_to_judge() -> None:
    """A policy that never applies: the pod keeps getting through (curl exit 0, 200)."""
    clock = FakeClock()
    through = curl_result(0, 200, body="{}", target="ns/client: GET http://echo/get")
    result = converge("deny", lambda: through, Timeouts(traffic_consistency=2), pause=clock.pause,
                      clock=clock, until=Expect.denied_by_policy())
    assert result == through
    assert Expect.denied_by_policy().judge(result) == (
        "expected denied-by-policy, got HTTP 200 from ns/client: GET http://echo/get")


def test_until_without_agreement_raises_with_the_history() -> None:
    clock = FakeClock()
    rows = itertools.cycle([
        curl_result(56, None, error="curl: (56) Recv failure", target="ns/c: GET x"),
        curl_result(7, None, error="curl: (7) Failed to connect", target="ns/c: GET x")])
    with pytest.raises(WaitTimeout, match="no 3 consecutive") as error:
        converge("x", lambda: next(rows), Timeouts(traffic_consistency=2), pause=clock.pause,
                 clock=clock, until=Expect.ok())
    assert "tcp-reset (curl 56)" in str(error.value)
    assert "[expected ok, got tcp-refused (curl 7) from ns/c: GET x]" in str(error.value)


def test_pod_rows_that_wait_then_relapse_are_recorded_as_flaps() -> None:
    """The in-pod loop follows the same flakiness rules as the host loop."""
    clock = FakeClock()
    denied = curl_result(0, 403, body="RBAC: access denied")
    through = curl_result(0, 200, body="{}")
    waiting = iter([through, denied, denied, denied])
    with convergence.recording() as flaps:
        converge("deny", lambda: next(waiting), Timeouts(), until=Expect.denied_by_policy(),
                 pause=clock.pause, clock=clock)
    assert flaps == []
    relapsing = iter([denied, through, denied, denied, denied])
    with convergence.recording() as flaps:
        got = converge("deny", lambda: next(relapsing), Timeouts(),
                       until=Expect.denied_by_policy(), pause=clock.pause, clock=clock)
    assert got == denied
    assert [f.sequence for f in flaps] == ["HTTP 403, HTTP 200, HTTP 403 x3"]
