"""What a kubelet does when a container exits, as pure functions on API-shaped status.

The process kubelet (``kubelet.py``) notices that a container's process has exited and
asks here what follows, as the kubelet decides it (``pkg/kubelet/kuberuntime`` and
``pkg/kubelet/kubelet_pods.go``, Kubernetes 1.31):

- restart or not: the container's own ``restartPolicy`` (a native sidecar: ``Always``),
  else the pod's: ``Always`` restarts after any exit, ``OnFailure`` after a non-zero
  exit, ``Never`` never (:func:`should_restart`);
- when: the first restart at once, then after a back-off of 10 s doubling up to 300 s
  (the kubelet's ``backOffPeriod`` and ``MaxContainerBackOff``); a container that ran for
  more than twice the cap before it exited starts the back-off anew (:func:`backoff_delay`);
- the container's status meanwhile: ``lastState.terminated`` with the exit code and
  reason ``Completed`` (0) or ``Error``, ``state.waiting.reason: CrashLoopBackOff`` while
  backing off, ``restartCount`` counting restarts, ``ready: false`` while not running;
- the pod's phase from its containers' statuses (:func:`pod_phase`, the kubelet's
  ``getPhase``): ``Succeeded`` when every container exited 0 and none restarts,
  ``Failed`` when one exited non-zero under ``Never``, ``Running`` while one runs or
  restarts, ``Pending`` while one waits to start for the first time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: the kubelet's first back-off before restarting a crashed container (seconds)
BACKOFF_BASE = 10.0
#: the kubelet's longest back-off (``MaxContainerBackOff``, 5 minutes)
BACKOFF_CAP = 300.0

ALWAYS, ON_FAILURE, NEVER = "Always", "OnFailure", "Never"


def exit_code(returncode: int) -> int:
    """A process's exit as a container runtime reports it: a signal N is ``128 + N``."""
    return 128 - returncode if returncode < 0 else returncode


def exit_reason(code: int) -> str:
    return "Completed" if code == 0 else "Error"


def terminated(code: int, started_at: str, finished_at: str, message: str = "") -> dict[str, Any]:
    """``state.terminated`` (or ``lastState.terminated``) of a container that exited."""
    state: dict[str, Any] = {
        "exitCode": code,
        "reason": exit_reason(code),
        "startedAt": started_at,
        "finishedAt": finished_at,
    }
    if message:
        state["message"] = message[-400:]
    return {"terminated": state}


def should_restart(policy: str, code: int) -> bool:
    """Does a container that exited with ``code`` start again under ``policy``?"""
    if policy == NEVER:
        return False
    if policy == ON_FAILURE:
        return code != 0
    return True  # Always, and the API's default


def backoff_delay(steps: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Seconds before the restart that follows ``steps`` earlier restarts in this back-off:
    0 (at once), then ``base``, doubling, at most ``cap``."""
    if steps <= 0:
        return 0.0
    return float(min(base * 2 ** (steps - 1), cap))


def backoff_expired(ran_for: float, *, cap: float = BACKOFF_CAP) -> bool:
    """A container that ran this long before exiting starts its back-off anew."""
    return ran_for > 2 * cap


def crash_loop_backoff(delay: float, container: str, namespace: str, pod: str,
                       uid: str) -> dict[str, Any]:  # fmt: skip
    """``state.waiting`` while the kubelet waits to restart the container, in its words."""
    return {
        "waiting": {
            "reason": "CrashLoopBackOff",
            "message": f"back-off {delay:g}s restarting failed container={container} "
            f"pod={pod}_{namespace}({uid})",
        }
    }


def container_status(
    name: str,
    image: str,
    state: Mapping[str, Any],
    *,
    ready: bool,
    started: bool,
    restart_count: int,
    last_state: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One entry of ``containerStatuses`` / ``initContainerStatuses``."""
    return {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": ready and "running" in state,
        "started": started and "running" in state,
        "restartCount": restart_count,
        "state": dict(state),
        "lastState": dict(last_state or {}),
    }


def pod_phase(restart_policy: str, statuses: Sequence[Mapping[str, Any]], expected: int) -> str:
    """The pod's phase from the ``containerStatuses`` of its ``expected`` regular containers
    (the kubelet's ``getPhase``; a missing status counts as unknown)."""
    running = waiting = stopped = succeeded = 0
    for status in statuses:
        state = status.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode") == 0
        elif "waiting" in state and "terminated" in (status.get("lastState") or {}):
            stopped += 1  # restarting (CrashLoopBackOff): it ran before
        elif "waiting" in state:
            waiting += 1
    unknown = expected - len(statuses)
    if waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if restart_policy not in {NEVER, ON_FAILURE}:
            return "Running"  # every container is restarting
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if restart_policy == NEVER else "Running"
    return "Pending"


def terminal(phase: str) -> bool:
    return phase in {"Succeeded", "Failed"}
