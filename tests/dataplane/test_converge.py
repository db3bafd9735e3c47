"""Convergence over probe results, through waiters.consecutive."""

from __future__ import annotations

import itertools

import pytest

from meshconform.traffic.converge import stable, until
from meshconform.traffic.result import Kind, ProbeResult
from meshconform.wait import Timeouts, WaitTimeout

FAST = Timeouts(traffic_consistency=0.3, consecutive_successes=3)


def _status(code: int) -> ProbeResult:
    return ProbeResult(Kind.HTTP_STATUS, "GET x", f"answered {code}", status=code)


def test_stable_waits_out_a_change() -> None:
    codes = iter([404, 200, 200, 200, 200])
    result = stable("x", lambda: _status(next(codes)), FAST, interval=0.001)
    assert result.status == 200


def test_stable_reports_flapping() -> None:
    codes = itertools.cycle([200, 404])
    with pytest.raises(WaitTimeout, match="no 3 consecutive") as error:
        stable("GET x", lambda: _status(next(codes)), FAST, interval=0.01)
    assert "HTTP 404" in str(error.value)
    assert "HTTP 200" in str(error.value)


def test_until_accepts_only_the_wanted_result() -> None:
    codes = iter([503, 503, 200, 200, 200])
    result = until("x", lambda: _status(next(codes)), lambda r: r.is_status(200), FAST,
                   interval=0.001)
    assert result.status == 200
