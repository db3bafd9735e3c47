"""Repeat a probe until its result is stable, through :func:`meshconform.wait.waiters.consecutive`.

Istio's integration framework requires N consecutive successes for traffic
checks (STYLE.md); here "success" is either "the same classification as the
previous attempt" (:func:`stable`: judge a behaviour once it stops changing) or
"accepted by a predicate" (:func:`until`: wait for a route to appear).

Honest flakiness: a loop that converged after its observations disagreed (for
:func:`stable`: two attempts classified differently; for :func:`until`: an
accepted result followed by a rejected one) records a :class:`Flap` with the
sequence it saw. The pytest plugin collects them per check (:func:`recording`)
and reports such a check ``flaky``, never ``pass``.
"""

from __future__ import annotations

import contextvars
import itertools
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from meshconform.traffic.result import ProbeResult
from meshconform.wait.waiters import Timeouts, consecutive

#: pause between attempts; small, as local probes take milliseconds
PROBE_INTERVAL = 0.02


@dataclass(frozen=True)
class Flap:
    """A convergence loop whose observations disagreed before it converged."""

    what: str
    #: what each attempt saw, in order, runs compressed ("HTTP 404, HTTP 200 x3")
    sequence: str

    def __str__(self) -> str:
        return f"flaky: {self.what}: observations disagreed before converging: {self.sequence}"


def disagreed(signatures: Sequence[Hashable]) -> bool:
    """:func:`stable`'s rule: attempts that should all agree did not."""
    return len(set(signatures)) > 1


def relapsed(accepted: Sequence[bool]) -> bool:
    """:func:`until`'s rule: an accepted result was followed by a rejected one.

    Rejections before the first acceptance are the wait itself (a route being
    programmed), not flakiness.
    """
    return any(a and not b for a, b in itertools.pairwise(accepted))


def compress(labels: Sequence[str]) -> str:
    """``["a", "b", "b"]`` -> ``"a, b x2"``: a sequence of observations, readable."""
    runs = [(label, len(list(group))) for label, group in itertools.groupby(labels)]
    return ", ".join(label if n == 1 else f"{label} x{n}" for label, n in runs)


_FLAPS: contextvars.ContextVar[list[Flap] | None] = contextvars.ContextVar(
    "meshconform_flaps", default=None
)


@contextmanager
def recording() -> Iterator[list[Flap]]:
    """Collect the :class:`Flap` of every convergence loop run inside the block."""
    flaps: list[Flap] = []
    token = _FLAPS.set(flaps)
    try:
        yield flaps
    finally:
        _FLAPS.reset(token)


def record(flap: Flap) -> None:
    """Hand a flap to the enclosing :func:`recording` (none outside a check: dropped)."""
    flaps = _FLAPS.get()
    if flaps is not None:
        flaps.append(flap)


def _repeat(
    what: str,
    attempt: Callable[[], ProbeResult],
    judge: Callable[[ProbeResult, ProbeResult | None], bool],
    timeouts: Timeouts,
    interval: float,
    *,
    flaky: Callable[[Sequence[ProbeResult], Sequence[bool]], bool],
) -> ProbeResult:
    """Attempt until ``judge(result, previous)`` held for enough consecutive attempts."""
    seen: list[ProbeResult] = []
    verdicts: list[bool] = []

    def once() -> tuple[bool, str]:
        result = attempt()
        ok = judge(result, seen[-1] if seen else None)
        seen.append(result)
        verdicts.append(ok)
        return ok, f"{result.short}: {result.explanation}"

    consecutive(
        what,
        once,
        required=timeouts.consecutive_successes,
        timeout=timeouts.traffic_consistency,
        interval=interval,
    )
    if flaky(seen, verdicts):
        record(Flap(what, compress([r.short for r in seen])))
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
        flaky=lambda seen, _verdicts: disagreed([r.signature for r in seen]),
    )


def until(
    what: str,
    attempt: Callable[[], ProbeResult],
    accept: Callable[[ProbeResult], bool],
    timeouts: Timeouts,
    interval: float = PROBE_INTERVAL,
) -> ProbeResult:
    """The result once ``accept`` held for enough consecutive attempts; raises WaitTimeout."""
    return _repeat(
        what,
        attempt,
        lambda result, _previous: accept(result),
        timeouts,
        interval,
        flaky=lambda _seen, verdicts: relapsed(verdicts),
    )
