"""The one wait loop: every wait in meshconform is :func:`until` judging a stream.

A stream is anything that yields observations: the object as a watch sees it
(:meth:`meshconform.live.kube.Kube.observe` lists, watches, re-lists after 410 Gone),
or a tick every ``interval`` seconds for conditions no watch can express (traffic, an
exec result, a webhook that starts answering): :func:`ticks`. A condition turns each
observation into a :data:`Decision`:

- :class:`Done` ends the wait with its value;
- :class:`Failed` ends it at once with :class:`WaitFailed` (the target can no longer be
  reached without someone fixing something, e.g. CrashLoopBackOff): waits fail fast;
- :class:`Pending` keeps waiting; its state is what a timeout reports, so a timeout is
  never a bare "timed out" (:class:`WaitTimeout` says what was last seen).

:func:`wait_until` (poll a function) and :func:`consecutive` (N successes in a row) are
that loop over :func:`ticks`. Nothing here sleeps except :func:`ticks` between polls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
X = TypeVar("X")


@dataclass(frozen=True)
class Done(Generic[T]):
    value: T
    state: str = ""


@dataclass(frozen=True)
class Failed:
    state: str


@dataclass(frozen=True)
class Pending:
    state: str


Decision = Done[T] | Failed | Pending


class WaitError(Exception):
    """A wait did not end in its condition. Not an AssertionError on purpose: a pod that
    cannot pull its image or an exec that hangs means the suite could not decide, so the
    check ends ``error``. Only an observation that contradicts a claim is a ``fail``
    (:class:`meshconform.claimcheck.ClaimMismatch`)."""


class WaitFailed(WaitError):
    """The awaited condition can no longer be reached; says what was seen."""


class WaitTimeout(WaitError):
    """The condition was not reached in time; says what was last seen."""


#: what a timeout reports when the stream ended before anything was judged
NOTHING_SEEN = "nothing observed yet"


def until(
    what: str,
    observations: Iterable[X],
    condition: Callable[[X], Decision[T]],
    timeout: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    explain_timeout: Callable[[str], str] | None = None,
) -> T:
    """Judge each observation with ``condition`` until Done (its value is returned),
    Failed (:class:`WaitFailed` at once) or ``timeout`` seconds pass (:class:`WaitTimeout`
    with the last Pending state; also when the stream ends by itself, which a watch
    stream does at its own deadline).

    ``explain_timeout`` words the timeout from the last state, after ``what:`` (default:
    "not reached within Ns; last seen: ..."). The stream is closed when the wait ends.
    """
    deadline = clock() + timeout
    last = NOTHING_SEEN
    stream = iter(observations)
    try:
        for observed in stream:
            decision = condition(observed)
            if isinstance(decision, Done):
                return decision.value
            if isinstance(decision, Failed):
                raise WaitFailed(f"{what}: cannot succeed any more: {decision.state}")
            last = decision.state
            if clock() >= deadline:
                break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    if explain_timeout is not None:
        raise WaitTimeout(f"{what}: {explain_timeout(last)}")
    raise WaitTimeout(f"{what}: not reached within {timeout:.0f}s; last seen: {last}")


def ticks(interval: float, pause: Callable[[float], None] = time.sleep) -> Iterator[None]:
    """An endless stream for polling: one tick now, then one every ``interval`` seconds."""
    while True:
        yield None
        pause(interval)


def wait_until(
    what: str,
    poll: Callable[[], Decision[T]],
    timeout: float,
    *,
    interval: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> T:
    """Poll until ``poll`` says Done or Failed, or ``timeout`` elapses.

    Prefer a watch (``Kube.watch_until``) where one can express the condition.
    """
    return until(what, ticks(interval, pause), lambda _: poll(), timeout, clock=clock)


def consecutive(
    what: str,
    attempt: Callable[[], tuple[bool, str]],
    required: int,
    timeout: float,
    *,
    interval: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Require ``required`` consecutive successful attempts within ``timeout``.

    ``attempt`` returns (success, description). Returns the descriptions of the
    successful streak; on timeout raises with the last six attempts, so a flapping
    result shows as flapping. This is the stable API for "repeat until N in a row
    agree" (traffic convergence uses it).
    """
    streak: list[str] = []
    history: list[str] = []

    def judge(_: None) -> Decision[list[str]]:
        nonlocal streak
        ok, description = attempt()
        history.append(("ok: " if ok else "no: ") + description)
        streak = [*streak, description] if ok else []
        if len(streak) >= required:
            return Done(streak)
        return Pending("\n  ".join(history[-HISTORY_SHOWN:]))

    return until(
        what,
        ticks(interval, pause),
        judge,
        timeout,
        clock=clock,
        explain_timeout=lambda last: (
            f"no {required} consecutive successes within {timeout:.0f}s; last attempts:\n  {last}"
        ),
    )


#: attempts a :func:`consecutive` timeout lists
HISTORY_SHOWN = 6
