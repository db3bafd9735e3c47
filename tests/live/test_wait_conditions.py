"""Readiness conditions on objects shaped exactly like the API server's JSON."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from meshconform.observe import pods
from meshconform.wait import Done, Failed, Pending, conditions

DEPLOYMENT_READY: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "istiod", "namespace": "istio-system", "generation": 2},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "istiod", "istio": "pilot"}}},
    "status": {
        "observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
        "availableReplicas": 1,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
             "message": "Deployment has minimum availability."},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "message": 'ReplicaSet "istiod-5b7d8c9f4" has successfully progressed.'},
        ],
    },
}

DAEMONSET_READY: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "DaemonSet",
    "metadata": {"name": "ztunnel", "namespace": "istio-system", "generation": 1},
    "spec": {"selector": {"matchLabels": {"app": "ztunnel"}}},
    "status": {"currentNumberScheduled": 2, "desiredNumberScheduled": 2, "numberAvailable": 2,
               "numberMisscheduled": 0, "numberReady": 2, "observedGeneration": 1,
               "updatedNumberScheduled": 2},
}

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "virtualservices.networking.istio.io", "generation": 1},
    "status": {"conditions": [
        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
         "message": "no conflicts found"},
        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
         "message": "the initial names have been accepted"},
    ]},
}


def pod(*, phase: str = "Running", ready: bool = True,
        waiting: tuple[str, str, str] | None = None) -> dict[str, Any]:
    """A pod with istio-init and app + istio-proxy; ``waiting`` = (container, reason, message)."""
    def status(name: str) -> dict[str, Any]:
        state: dict[str, Any] = {"running": {"startedAt": "2026-11-23T10:00:05Z"}}
        restart = 0
        last: dict[str, Any] = {}
        if waiting and waiting[0] == name:
            state = {"waiting": {"reason": waiting[1], "message": waiting[2]}}
            restart = 4
            last = {"terminated": {"exitCode": 1, "reason": "Error",
                                   "startedAt": "2026-11-23T10:01:00Z",
                                   "finishedAt": "2026-11-23T10:01:01Z"}}
        return {"name": name, "image": "docker.io/istio/proxyv2:1.30.3", "imageID": "",
                "ready": ready and not waiting, "restartCount": restart, "started": True,
                "state": state, "lastState": last}

    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "app-7c9f8d-abcde", "namespace": "mc-x-12345"},
        "spec": {"initContainers": [{"name": "istio-init"}],
                 "containers": [{"name": "app"}, {"name": "istio-proxy"}]},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"},
                           {"type": "PodScheduled", "status": "True"}],
            "initContainerStatuses": [{
                "name": "istio-init", "ready": True, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
            "containerStatuses": [status("app"), status("istio-proxy")],
        },
    }


def test_deployment_ready() -> None:
    decision = conditions.deployment_ready(DEPLOYMENT_READY)
    assert isinstance(decision, Done)
    assert "1/1 ready" in decision.state


def test_deployment_rolling_is_pending_until_the_generation_is_observed() -> None:
    rolling = copy.deepcopy(DEPLOYMENT_READY)
    rolling["metadata"]["generation"] = 3
    assert isinstance(conditions.deployment_ready(rolling), Pending)
    assert isinstance(conditions.deployment_ready(None), Pending)
    unavailable = copy.deepcopy(DEPLOYMENT_READY)
    unavailable["status"].update(readyReplicas=0, availableReplicas=0)
    unavailable["status"]["conditions"][0].update(status="False",
                                                  reason="MinimumReplicasUnavailable")
    assert isinstance(conditions.deployment_ready(unavailable), Pending)


def test_deployment_fails_fast_on_progress_deadline_and_replica_failure() -> None:
    stuck = copy.deepcopy(DEPLOYMENT_READY)
    stuck["status"]["conditions"][1] = {
        "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "istiod-5b7d8c9f4" has timed out progressing.'}
    assert conditions.deployment_ready(stuck) == Failed(
        'Deployment istio-system/istiod: ReplicaSet "istiod-5b7d8c9f4" has timed out progressing.')
    quota = copy.deepcopy(DEPLOYMENT_READY)
    quota["status"]["conditions"].append({
        "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
        "message": 'pods "istiod-x" is forbidden: exceeded quota'})
    decision = conditions.deployment_ready(quota)
    assert isinstance(decision, Failed)
    assert "exceeded quota" in decision.state


def test_daemonset_ready_and_pending() -> None:
    assert isinstance(conditions.daemonset_ready(DAEMONSET_READY), Done)
    partial = copy.deepcopy(DAEMONSET_READY)
    partial["status"].update(numberReady=1, numberAvailable=1, numberUnavailable=1)
    assert conditions.daemonset_ready(partial) == Pending(
        "DaemonSet istio-system/ztunnel: 1/2 ready, 2 updated")
    fresh = {**DAEMONSET_READY, "status": {"desiredNumberScheduled": 0, "numberReady": 0}}
    assert isinstance(conditions.daemonset_ready(fresh), Pending)


def test_crd_established() -> None:
    assert isinstance(conditions.crd_established(CRD), Done)
    new = {**CRD, "status": {"conditions": []}}
    assert isinstance(conditions.crd_established(new), Pending)
    clash = copy.deepcopy(CRD)
    clash["status"]["conditions"][0].update(status="False", reason="ListKindConflict",
                                            message='"VirtualServiceList" is already in use')
    assert isinstance(conditions.crd_established(clash), Failed)


@pytest.mark.parametrize(("container", "reason", "message"), [
    ("app", "CrashLoopBackOff", "back-off 40s restarting failed container=app"),
    ("istio-proxy", "ImagePullBackOff", 'Back-off pulling image "docker.io/istio/proxyv2:9.9"'),
    ("app", "InvalidImageName", 'couldn\'t parse image name "Echo:latest"'),
    ("app", "CreateContainerConfigError", 'secret "db" not found'),
])
def test_pod_fails_fast_naming_the_container(container: str, reason: str, message: str) -> None:
    broken = pod(ready=False, phase="Running" if reason == "CrashLoopBackOff" else "Pending",
                 waiting=(container, reason, message))
    for condition in (conditions.pod_running_or_failed, conditions.pod_ready):
        decision = condition(broken)
        assert isinstance(decision, Failed)
        assert f"container {container}: {reason}: {message}" in decision.state


def test_pod_running_ready_and_completed() -> None:
    assert isinstance(conditions.pod_running_or_failed(pod()), Done)
    assert isinstance(conditions.pod_ready(pod()), Done)
    starting = pod(phase="Pending", ready=False)
    assert isinstance(conditions.pod_running_or_failed(starting), Pending)
    assert isinstance(conditions.pod_ready(pod(ready=False)), Pending)
    done = pod(phase="Succeeded", ready=False)
    assert isinstance(conditions.pod_running_or_failed(done), Done)
    assert isinstance(conditions.pod_ready(done), Failed)
    failed = pod(phase="Failed", ready=False)
    failed["status"].update(reason="Evicted", message="The node was low on resource: memory.")
    assert pods.pod_failure(failed) == (
        "pod mc-x-12345/app-7c9f8d-abcde phase Failed: Evicted The node was low on resource: "
        "memory.")


def test_with_pods_fails_a_pending_workload_on_a_crashing_pod() -> None:
    pending = Pending("Deployment istio-system/istiod: 0/1 ready")
    crashing = pod(ready=False, waiting=("app", "CrashLoopBackOff", "back-off 10s"))
    assert isinstance(conditions.with_pods(pending, [crashing]), Failed)
    described = conditions.with_pods(pending, [pod(ready=False)])
    assert isinstance(described, Pending)
    assert "istio-init=terminated:Completed" in described.state
    assert conditions.with_pods(Done("x"), [crashing]) == Done("x")
    assert conditions.selector_of(DEPLOYMENT_READY) == "app=istiod,istio=pilot"


def test_gone() -> None:
    assert conditions.gone(None) == Done(None, "deleted")
    terminating = {"kind": "Namespace", "metadata": {"name": "mc-a"},
                   "status": {"phase": "Terminating"}}
    assert conditions.gone(terminating) == Pending("Namespace mc-a still present (Terminating)")


def _pulling(reason: str, scheduled_ago: float, message: str = "") -> dict[str, Any]:
    broken = pod(ready=False, phase="Pending", waiting=("app", reason, message))
    broken["status"]["containerStatuses"][0]["lastState"] = {}
    since = datetime.now(UTC) - timedelta(seconds=scheduled_ago)
    broken["status"]["conditions"][1]["lastTransitionTime"] = since.strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    return broken


def test_a_first_image_pull_error_is_not_permanent() -> None:
    """Defect 7 (issue 10): the kubelet retries pulls. ErrImagePull is never permanent;
    ImagePullBackOff only once it has persisted PULL_BACKOFF_PERMANENT_AFTER seconds."""
    first = _pulling("ErrImagePull", 3, "failed to pull: 429 Too Many Requests")
    backing_off = _pulling("ImagePullBackOff", 15, 'Back-off pulling image "x"')
    for condition in (conditions.pod_running_or_failed, conditions.pod_ready):
        assert isinstance(condition(first), Pending)
        assert isinstance(condition(backing_off), Pending)
    assert isinstance(conditions.with_pods(Pending("d"), [first, backing_off]), Pending)
    assert isinstance(conditions.pod_ready(_pulling("ErrImagePull", 600)), Pending)

    persisting = _pulling("ImagePullBackOff", pods.PULL_BACKOFF_PERMANENT_AFTER + 30,
                          'Back-off pulling image "x"')
    decision = conditions.pod_ready(persisting)
    assert isinstance(decision, Failed)
    assert "container app: ImagePullBackOff" in decision.state
    assert re.search(r"pulling for 9\ds", decision.state)
    assert isinstance(conditions.pod_ready(_pulling("InvalidImageName", 1)), Failed)
