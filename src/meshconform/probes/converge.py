"""Repeat a probe until its result is stable, through :func:`meshconform.waiters.consecutive`.

Istio's integration framework requires N consecutive successes for traffic
checks (STYLE.md); here "success" is either "the same classification as the
previous attempt" (:func:`stable`: judge a behaviour once it stops changing) or
"accepted by a predicate" (:func:`until`: wait for a route to appear).
"""

from __future__ import annotations

from collections.abc import Callable

from meshconform.probes.result import ProbeResult
from meshconform.waiters import Timeouts, consecutive

#: pause between attempts; small, as local probes take milliseconds
PROBE_INTERVAL = 0.02


def _repeat(
    what: str,
    attempt: Callable[[], ProbeResult],
    judge: Callable[[ProbeResult, ProbeResult | None], bool],
    timeouts: Timeouts,
    interval: float,
) -> ProbeResult:
    """Attempt until ``judge(result, previous)`` held for enough consecutive attempts."""
    seen: list[ProbeResult] = []

    def once() -> tuple[bool, str]:
        result = attempt()
        ok = judge(result, seen[-1] if seen else None)
        seen.append(result)
        return ok, f"{result.short}: {result.explanation}"

    consecutive(
        what,
        once,
        required=timeouts.consecutive_successes,
        timeout=timeouts.traffic_consistency,
        interval=interval,
    )
    return seen[-1]


def stable(
    what: str,
    attempt: Callable[[], ProbeResult],
    timeouts: Timeouts,
    interval: float = PROBE_INTERVAL,
) -> ProbeResult:
    """The result once ``timeouts.consecutive_successes`` attempts in a row agree."""
    return _repeat(
        what,
        attempt,
        lambda result, previous: previous is None or previous.signature == result.signature,
        timeouts,
        interval,
    )


def until(
    what: str,
    attempt: Callable[[], ProbeResult],
    accept: Callable[[ProbeResult], bool],
    timeouts: Timeouts,
    interval: float = PROBE_INTERVAL,
) -> ProbeResult:
    """The result once ``accept`` held for enough consecutive attempts; raises WaitTimeout."""
    return _repeat(what, attempt, lambda result, _previous: accept(result), timeouts, interval)
