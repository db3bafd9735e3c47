"""The one wait loop: fails fast, times out with the last state, demands streaks."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from meshconform.wait import (
    Decision,
    Done,
    Failed,
    Pending,
    Timeouts,
    WaitFailed,
    WaitTimeout,
    consecutive,
    until,
    wait_until,
)
from tests.clock import FakeClock


def test_returns_the_value_when_done() -> None:
    clock = FakeClock()
    states: list[Decision[str]] = [Pending("creating"), Pending("pulling"), Done("ok")]
    it = iter(states)
    assert wait_until("pod", lambda: next(it), 10, clock=clock, pause=clock.pause) == "ok"
    assert clock.now == 1.0


def test_fails_fast_without_waiting_for_the_timeout() -> None:
    clock = FakeClock()
    it = iter([Pending("starting"), Failed("container app: CrashLoopBackOff")])
    with pytest.raises(WaitFailed, match="CrashLoopBackOff"):
        wait_until("pod", lambda: next(it), 300, clock=clock, pause=clock.pause)
    assert clock.now < 1


def test_timeout_reports_the_last_state_seen() -> None:
    clock = FakeClock()
    counter = itertools.count()
    with pytest.raises(WaitTimeout, match=r"within 5s; last seen: replicas 0/1 \(try \d+\)"):
        wait_until("deploy", lambda: Pending(f"replicas 0/1 (try {next(counter)})"), 5,
                   clock=clock, pause=clock.pause)


def test_consecutive_requires_an_unbroken_streak() -> None:
    clock = FakeClock()
    outcomes = iter([True, True, False, True, True, True])
    streak = consecutive("get /", lambda: (next(outcomes), "200"), 3, 30,
                         clock=clock, pause=clock.pause)
    assert streak == ["200", "200", "200"]
    assert clock.now == 2.5


def test_consecutive_times_out_showing_the_flapping() -> None:
    clock = FakeClock()
    flip = itertools.cycle([True, False])
    with pytest.raises(WaitTimeout, match="no 3 consecutive successes") as caught:
        consecutive("get /", lambda: (next(flip), "x"), 3, 3, clock=clock, pause=clock.pause)
    assert "ok: x" in str(caught.value)
    assert "no: x" in str(caught.value)


def test_timeouts_scale_every_bound_but_the_streak_length() -> None:
    scaled = Timeouts().scaled(2)
    assert scaled.job_complete == 2 * Timeouts().job_complete
    assert scaled.consecutive_successes == Timeouts().consecutive_successes


def test_the_deadline_itself_ends_the_wait() -> None:
    """Mutation survivors: ``>=`` against the deadline, and how much history is shown."""
    from meshconform.wait import Pending, WaitTimeout, consecutive, wait_until  # noqa: PLC0415
    from tests.clock import FakeClock  # noqa: PLC0415

    clock = FakeClock()
    polls: list[float] = []

    def poll() -> Pending:
        polls.append(clock.now)
        return Pending(f"poll {len(polls)}")

    with pytest.raises(WaitTimeout, match=r"last seen: poll 3$"):
        wait_until("x", poll, timeout=1.0, interval=0.5, clock=clock, pause=clock.pause)
    assert polls == [0.0, 0.5, 1.0]

    clock = FakeClock()
    tries: list[float] = []

    def attempt() -> tuple[bool, str]:
        tries.append(clock.now)
        return False, f"try {len(tries)}"

    with pytest.raises(WaitTimeout) as caught:
        consecutive("y", attempt, required=2, timeout=4.0, interval=0.5, clock=clock,
                    pause=clock.pause)
    assert tries[-1] == 4.0
    shown = str(caught.value).split("last attempts:\n  ", 1)[1].split("\n  ")
    assert shown == [f"no: try {n}" for n in range(4, 10)]


def test_a_stream_that_ends_unjudged_times_out_saying_nothing_was_seen() -> None:
    """A watch stream ends at its own deadline; with nothing judged the timeout says so."""
    with pytest.raises(WaitTimeout) as caught:
        until("pod x Ready", iter([]), Done, 5)
    assert str(caught.value) == (
        "pod x Ready: not reached within 5s; last seen: nothing observed yet")


def test_every_way_out_of_the_loop_closes_the_stream() -> None:
    closed: list[str] = []

    def stream(*decisions: Decision[str]) -> Iterator[Decision[str]]:
        try:
            yield from decisions
        finally:
            closed.append("closed")

    # each stream stays referenced here: it is the loop, not garbage collection, that
    # closes it (a watch left open holds a connection to the API server)
    done = stream(Pending("a"), Done("v"))
    assert until("x", done, lambda d: d, 5) == "v"
    assert closed == ["closed"]
    failed = stream(Failed("gone"))
    with pytest.raises(WaitFailed):
        until("x", failed, lambda d: d, 5)
    assert closed == ["closed", "closed"]
    clock = FakeClock()
    pending = stream(Pending("a"), Pending("b"))
    with pytest.raises(WaitTimeout):
        until("x", pending, lambda d: (clock.pause(9), d)[1], 5, clock=clock)
    assert closed == ["closed", "closed", "closed"]
    assert [done, failed, pending]  # still referenced
    # a stream without close() (a list's iterator) is fine too
    with pytest.raises(WaitTimeout, match=r"last seen: b$"):
        until("x", [Pending("a"), Pending("b")], lambda d: d, 5)


def test_failed_and_timeout_messages_name_the_wait() -> None:
    clock = FakeClock()
    with pytest.raises(WaitFailed) as failed:
        wait_until("pod mc/app", lambda: Failed("container app: CrashLoopBackOff"), 30,
                   clock=clock, pause=clock.pause)
    assert str(failed.value) == (
        "pod mc/app: cannot succeed any more: container app: CrashLoopBackOff")
    with pytest.raises(WaitTimeout) as caught:
        consecutive("get /", lambda: (False, "503"), 2, 1, clock=clock, pause=clock.pause)
    assert str(caught.value) == (
        "get /: no 2 consecutive successes within 1s; last attempts:\n  no: 503\n  no: 503\n"
        "  no: 503")
