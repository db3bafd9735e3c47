"""What the process kubelet does when a container exits: pure status functions.

Inputs and outputs are shaped like the API server's ``containerStatuses``; KIND_CRASH is
a kind (Kubernetes 1.31) pod's status, trimmed to the fields the kubelet writes for a
container in CrashLoopBackOff. The processes themselves are tested for real in
test_process_pods.py (``test_exiting_app_restarts_with_backoff``,
``test_exited_app_never_restarts``).
"""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.live.controlplane.pods import restarts
from meshconform.observe.pods import describe_pod, pod_failure

KIND_CRASH: dict[str, Any] = {
    "containerID": "containerd://5f1c0a3e9d2b",
    "image": "docker.io/curlimages/curl:8.11.1",
    "imageID": "docker.io/curlimages/curl@sha256:c1fe1679c34d",
    "lastState": {
        "terminated": {
            "containerID": "containerd://5f1c0a3e9d2b",
            "exitCode": 3,
            "finishedAt": "2026-12-01T10:00:12Z",
            "reason": "Error",
            "startedAt": "2026-12-01T10:00:12Z",
        }
    },
    "name": "app",
    "ready": False,
    "restartCount": 2,
    "started": False,
    "state": {
        "waiting": {
            "message": "back-off 20s restarting failed container=app "
            "pod=mc-exits_ns(0b7f6c1e-52aa-4c39-9d0e-1f1f2a3b4c5d)",
            "reason": "CrashLoopBackOff",
        }
    },
}

T0, T1 = "2026-12-01T10:00:00Z", "2026-12-01T10:00:01Z"


def running(name: str = "app", restart_count: int = 0, **last: Any) -> dict[str, Any]:
    return restarts.container_status(name, "img", {"running": {"startedAt": T0}}, ready=True,
                                     started=True, restart_count=restart_count,
                                     last_state=last or None)  # fmt: skip


def ended(code: int, name: str = "app") -> dict[str, Any]:
    return restarts.container_status(name, "img", restarts.terminated(code, T0, T1), ready=False,
                                     started=True, restart_count=0)  # fmt: skip


def crash_looping(code: int = 3, restart_count: int = 1) -> dict[str, Any]:
    return restarts.container_status(
        "app", "img", restarts.crash_loop_backoff(10, "app", "ns", "mc-exits", "u1"),
        ready=False, started=True, restart_count=restart_count,
        last_state=restarts.terminated(code, T0, T1),
    )  # fmt: skip


def pod(phase: str, *statuses: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "mc-exits", "namespace": "ns"},
        "status": {"phase": phase, "containerStatuses": list(statuses)},
    }


@pytest.mark.parametrize(
    ("policy", "code", "restarted"),
    [("Always", 0, True), ("Always", 3, True), ("OnFailure", 0, False),
     ("OnFailure", 3, True), ("Never", 0, False), ("Never", 3, False), ("", 3, True)],
)  # fmt: skip
def test_restart_follows_the_policy(policy: str, code: int, restarted: bool) -> None:
    assert restarts.should_restart(policy, code) is restarted


def test_backoff_is_the_kubelets() -> None:
    """First restart at once, then 10 s doubling to the 300 s cap; a long run resets it."""
    delays = [restarts.backoff_delay(n) for n in range(9)]
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300, 300]
    assert [restarts.backoff_delay(n, base=0.5, cap=2) for n in range(5)] == [0, 0.5, 1, 2, 2]
    assert restarts.backoff_expired(601)
    assert not restarts.backoff_expired(599)


def test_exit_codes_as_a_runtime_reports_them() -> None:
    assert restarts.exit_code(3) == 3
    assert restarts.exit_code(-9) == 137  # SIGKILL
    assert restarts.terminated(0, T0, T1)["terminated"]["reason"] == "Completed"
    assert restarts.terminated(3, T0, T1)["terminated"] == {
        "exitCode": 3, "reason": "Error", "startedAt": T0, "finishedAt": T1}  # fmt: skip


def test_crash_loop_status_is_shaped_like_kinds() -> None:
    built = crash_looping(restart_count=2)
    # every field the process kubelet writes is one the kubelet writes, with the same shape
    assert set(built) <= set(KIND_CRASH)
    assert set(built["state"]["waiting"]) == set(KIND_CRASH["state"]["waiting"])
    assert set(built["lastState"]["terminated"]) <= set(KIND_CRASH["lastState"]["terminated"])
    for key in ("ready", "started", "restartCount"):
        assert built[key] == KIND_CRASH[key], key
    assert built["state"]["waiting"]["message"].startswith(
        "back-off 10s restarting failed container=app pod=mc-exits_ns(u1)"
    )
    # a running container that is not running is never ready or started
    assert running()["ready"] is True
    assert ended(0)["ready"] is False
    assert ended(0)["started"] is False


@pytest.mark.parametrize(
    ("policy", "statuses", "expected", "phase"),
    [
        ("Always", [KIND_CRASH], 1, "Running"),  # kind's own status
        ("Always", [crash_looping()], 1, "Running"),
        ("OnFailure", [crash_looping()], 1, "Running"),
        ("OnFailure", [ended(0)], 1, "Succeeded"),
        ("Never", [ended(0)], 1, "Succeeded"),
        ("Never", [ended(3)], 1, "Failed"),
        ("Never", [ended(0), ended(3, "b")], 2, "Failed"),
        # the classic sidecar: the app is done, istio-proxy runs on (the Job problem)
        ("Never", [running("istio-proxy"), ended(3)], 2, "Running"),
        ("Always", [running(), running("istio-proxy", 1)], 2, "Running"),
        # a container that never started (NotRunnableHere, a pull) keeps the pod Pending
        ("Always", [running(), {"name": "b", "state": {"waiting": {"reason": "X"}}}], 2,
         "Pending"),
        ("Never", [ended(3)], 2, "Pending"),  # one container has no status yet
    ],
)  # fmt: skip
def test_pod_phase_is_the_kubelets(
    policy: str, statuses: list[dict[str, Any]], expected: int, phase: str
) -> None:
    assert restarts.pod_phase(policy, statuses, expected) == phase


def test_the_waiters_see_a_pod_that_cannot_start() -> None:
    """observe.pods' judgement on these statuses: CrashLoopBackOff and Failed cannot start
    (as on kind); a restarted container that runs again, or a Succeeded pod, can."""
    looping = pod("Running", crash_looping(3))
    failure = pod_failure(looping)
    assert failure is not None
    assert "container app: CrashLoopBackOff: back-off 10s" in failure
    assert failure.endswith("(last exit 3: Error)")
    assert "(last exit 3: Error)" in str(pod_failure(pod("Running", KIND_CRASH)))
    failed = pod_failure(pod("Failed", ended(3)))
    assert failed == "pod ns/mc-exits phase Failed"
    assert "app=terminated:Error(exit 3)" in describe_pod(pod("Failed", ended(3)))
    again = running(restart_count=1, **restarts.terminated(3, T0, T1))
    assert pod_failure(pod("Running", again)) is None
    assert pod_failure(pod("Succeeded", ended(0))) is None
