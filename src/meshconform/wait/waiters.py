"""Every timeout in one documented object, and the one wait loop the suite uses.

Waiters fail fast: a condition function returns :class:`Done`, :class:`Failed`
(the target can no longer be reached, e.g. CrashLoopBackOff) or :class:`Pending`,
each with a description of the state, and a timeout raises with the last state
seen, never a bare "timed out".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Timeouts:
    """Upper bounds, in seconds. A healthy run finishes far below them.

    Values follow the anchors: Istio CI waits 180 s for kind, ``istioctl install``
    300 s for readiness, Gateway API 30 s for consistency with 3 consecutive
    successes (shared/research/anchors.md section 3).
    """

    cluster_create: float = 300.0
    #: controlplane cluster: API server /readyz, fake nodes Ready, default ServiceAccount
    #: (research/controlplane.md: /readyz about 7 s after start on 2 cores)
    controlplane_ready: float = 90.0
    #: controlplane cluster: the istiod process answers /ready (about 2 s measured)
    istiod_ready: float = 60.0
    istio_install: float = 300.0
    crd_established: float = 60.0
    webhook_ready: float = 120.0
    daemonset_ready: float = 180.0
    deployment_ready: float = 180.0
    product_install: float = 600.0
    namespace_delete: float = 120.0
    pod_ready: float = 120.0
    job_complete: float = 120.0
    #: kubelet allowance of the Job hang window: after the app container exits, a
    #: sidecar may keep running max(the pod's terminationGracePeriodSeconds, the
    #: injected proxy drain) plus this long before the pod counts as hung (the
    #: documented classic-sidecar failure); see observe.jobs.linger_window
    proxy_linger: float = 10.0
    traffic_consistency: float = 30.0
    consecutive_successes: int = 3
    exec_command: float = 30.0
    probe_request: float = 5.0

    def scaled(self, factor: float) -> Timeouts:
        """Every time bound multiplied by ``factor`` (slow machines, ``--timeout-scale``)."""
        changes = {
            f.name: getattr(self, f.name) * factor
            for f in fields(self)
            if f.name != "consecutive_successes"
        }
        return replace(self, **changes)


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

    Use watch-backed polls where possible (kube.Kube.watch_until); this loop is
    for conditions no watch can express (traffic, exec results).
    """
    deadline = clock() + timeout
    while True:
        decision = poll()
        if isinstance(decision, Done):
            return decision.value
        if isinstance(decision, Failed):
            raise WaitFailed(f"{what}: cannot succeed any more: {decision.state}")
        if clock() >= deadline:
            raise WaitTimeout(
                f"{what}: not reached within {timeout:.0f}s; last seen: {decision.state}"
            )
        pause(interval)


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

    Returns the descriptions of the successful streak; on timeout raises with the
    recent history, so a flapping result is visible as flapping.
    """
    deadline = clock() + timeout
    streak: list[str] = []
    history: list[str] = []
    while True:
        ok, description = attempt()
        history.append(("ok: " if ok else "no: ") + description)
        streak = [*streak, description] if ok else []
        if len(streak) >= required:
            return streak
        if clock() >= deadline:
            raise WaitTimeout(
                f"{what}: no {required} consecutive successes within {timeout:.0f}s; "
                "last attempts:\n  " + "\n  ".join(_tail(history, 6))
            )
        pause(interval)


def _tail(items: Iterable[str], n: int) -> list[str]:
    return list(items)[-n:]
