"""The one traffic convergence loop, for both transports: :func:`converge`.

Istio's integration framework requires N consecutive successes for traffic
checks (STYLE.md). :func:`converge` repeats a request, through
:func:`meshconform.wait.consecutive`, until ``timeouts.consecutive_successes``
results in a row either agree with each other (no ``until``: judge a behaviour
once it stops changing, for configuration that is already in place) or meet a
named expectation (``until``: wait for configuration that is still reaching the
proxies, a route or a policy). If the expectation never holds but the last
results agree, that stable result is returned for the evaluator to judge; results
that never agree raise :class:`~meshconform.wait.WaitTimeout` with the
history (the suite could not decide).

Honest flakiness: a loop that converged after its observations disagreed (without
``until``: two attempts classified differently; with it: a result that met the
expectation followed by one that did not) records a :class:`Flap` with the
sequence it saw. The pytest plugin collects them per check (:func:`recording`)
and reports such a check ``flaky``, never ``pass``.
"""

from __future__ import annotations

import contextvars
import itertools
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from meshconform.traffic.expect import Expectation
from meshconform.traffic.result import TrafficResult
from meshconform.wait import Timeouts, WaitTimeout, consecutive

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


def converge(
    what: str,
    attempt: Callable[[], TrafficResult],
    timeouts: Timeouts,
    *,
    until: Expectation | None = None,
    interval: float = PROBE_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> TrafficResult:
    """The result once ``timeouts.consecutive_successes`` attempts in a row agree (no
    ``until``) or meet ``until``, within ``timeouts.traffic_consistency``.

    With ``until``, a stable result that never met it is returned after the timeout
    (the evaluator judges it); without agreement at the end, WaitTimeout.
    """
    seen: list[TrafficResult] = []
    verdicts: list[bool] = []
    required = timeouts.consecutive_successes

    def once() -> tuple[bool, str]:
        result = attempt()
        if until is not None:
            ok = until.met(result)
        else:
            ok = not seen or seen[-1].signature == result.signature
        seen.append(result)
        verdicts.append(ok)
        label = f" [{until.judge(result)}]" if until is not None and not ok else ""
        return ok, f"{result.short}: {result.explanation}{label}"

    try:
        consecutive(
            what,
            once,
            required=required,
            timeout=timeouts.traffic_consistency,
            interval=interval,
            clock=clock,
            pause=pause,
        )
    except WaitTimeout:
        tail = seen[-required:]
        if until is None or len(tail) < required or disagreed([r.signature for r in tail]):
            raise
    flaky = relapsed(verdicts) if until is not None else disagreed([r.signature for r in seen])
    if flaky:
        record(Flap(what, compress([r.short for r in seen])))
    return seen[-1]
