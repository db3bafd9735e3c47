"""wait.conditions row by row, on objects as sparse as the API sends them (zero values omitted).

Written against the mutation run (benchmarks/mutation.py, docs/mutation.md): defaults
for missing status fields, the exact state text a timeout reports, which container a
failure names, and the edge of the image-pull window.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from meshconform.observe import pods
from meshconform.wait import Done, Failed, Pending, conditions

NOW = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)


def _at(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def deployment(spec: dict[str, Any], status: dict[str, Any],
               conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "echo", "namespace": "mc-a", "generation": 1},
            "spec": spec, "status": {**status, **({"conditions": conditions}
                                                  if conditions else {})}}


AVAILABLE = [{"type": "Available", "status": "True"}]


def test_a_fresh_deployment_reads_missing_counts_as_zero() -> None:
    fresh = deployment({}, {})  # no replicas in spec (default 1), nothing in status yet
    assert conditions.deployment_ready(fresh) == Pending(
        "Deployment mc-a/echo: 0/1 ready, 0 updated, 0 available")
    two = deployment({"replicas": 2}, {"observedGeneration": 1, "replicas": 1,
                                       "updatedReplicas": 1, "readyReplicas": 1,
                                       "availableReplicas": 1}, AVAILABLE)
    assert conditions.deployment_ready(two) == Pending(
        "Deployment mc-a/echo: 1/2 ready, 1 updated, 1 available")


def test_a_deployment_is_ready_only_when_every_count_is_there() -> None:
    full = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
            "availableReplicas": 1}
    ready = deployment({}, full, AVAILABLE)
    assert conditions.deployment_ready(ready) == Done(
        ready, "Deployment mc-a/echo: 1/1 ready, 1 updated, 1 available")
    for missing in ("updatedReplicas", "availableReplicas", "replicas"):
        status = {k: v for k, v in full.items() if k != missing}
        assert isinstance(conditions.deployment_ready(deployment({}, status, AVAILABLE)),
                          Pending), missing
    surge = deployment({}, {**full, "replicas": 2}, AVAILABLE)  # an old pod still there
    assert isinstance(conditions.deployment_ready(surge), Pending)
    assert isinstance(conditions.deployment_ready(deployment({}, full)), Pending)  # no Available


def test_progressing_false_fails_only_on_the_deadline() -> None:
    paused = [{"type": "Progressing", "status": "False", "reason": "DeploymentPaused"}]
    assert isinstance(conditions.deployment_ready(deployment({}, {}, paused)), Pending)
    going = [{"type": "Progressing", "status": "True", "reason": "ProgressDeadlineExceeded"}]
    assert isinstance(conditions.deployment_ready(deployment({}, {}, going)), Pending)
    assert conditions.deployment_ready(None) == Pending("deployment does not exist yet")


def daemonset(status: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "ztunnel", "namespace": "istio-system", "generation": 1},
            "status": {"observedGeneration": 1, **status}}


def test_daemonset_rows() -> None:
    assert conditions.daemonset_ready(None) == Pending("daemonset does not exist yet")
    assert conditions.daemonset_ready(daemonset({})) == Pending(
        "DaemonSet istio-system/ztunnel: 0/0 ready, 0 updated (no node selected yet)")
    one = daemonset({"desiredNumberScheduled": 1})
    assert conditions.daemonset_ready(one) == Pending(
        "DaemonSet istio-system/ztunnel: 0/1 ready, 0 updated")
    ready = daemonset({"desiredNumberScheduled": 1, "numberReady": 1,
                       "updatedNumberScheduled": 1})
    assert conditions.daemonset_ready(ready) == Done(
        ready, "DaemonSet istio-system/ztunnel: 1/1 ready, 1 updated")
    not_updated = daemonset({"desiredNumberScheduled": 2, "numberReady": 2,
                             "updatedNumberScheduled": 1})
    assert isinstance(conditions.daemonset_ready(not_updated), Pending)
    not_ready = daemonset({"desiredNumberScheduled": 2, "numberReady": 1,
                           "updatedNumberScheduled": 2})
    assert isinstance(conditions.daemonset_ready(not_ready), Pending)
    unavailable = daemonset({"desiredNumberScheduled": 1, "numberReady": 1,
                             "updatedNumberScheduled": 1, "numberUnavailable": 1})
    assert isinstance(conditions.daemonset_ready(unavailable), Pending)


def test_crd_rows_say_which() -> None:
    crd = {"kind": "CustomResourceDefinition", "metadata": {"name": "gateways.networking.istio.io"}}
    assert conditions.crd_established(None) == Pending("CRD does not exist yet")
    assert conditions.crd_established(crd) == Pending(
        "CustomResourceDefinition gateways.networking.istio.io not established yet")
    served = {**crd, "status": {"conditions": [{"type": "Established", "status": "True"}]}}
    assert conditions.crd_established(served) == Done(
        served, "CustomResourceDefinition gateways.networking.istio.io established")
    clash = {**crd, "status": {"conditions": [{"type": "NamesAccepted", "status": "False",
                                               "message": "in use"}]}}
    assert conditions.crd_established(clash) == Failed(
        "CustomResourceDefinition gateways.networking.istio.io: names not accepted: in use")


def pod(statuses: list[dict[str, Any]], *, phase: str = "Pending",
        conditions: list[dict[str, Any]] | None = None, **meta: Any) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": "p", "namespace": "mc-a", **meta},
            "status": {"phase": phase, "conditions": conditions or [],
                       "containerStatuses": statuses}}


def waiting(name: str, reason: str, message: str | None = None,
            last: dict[str, Any] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"reason": reason}
    if message is not None:
        state["message"] = message
    return {"name": name, "state": {"waiting": state},
            **({"lastState": {"terminated": last}} if last else {})}


def test_pull_back_off_is_permanent_from_the_window_on() -> None:
    window = pods.PULL_BACKOFF_PERMANENT_AFTER
    scheduled = [{"type": "PodScheduled", "status": "True",
                  "lastTransitionTime": _at(window)}]
    edge = pod([waiting("app", "ImagePullBackOff", "Back-off pulling image")],
               conditions=scheduled)
    assert pods.waiting_failure(edge, NOW) == (
        f"container app: ImagePullBackOff: Back-off pulling image (pulling for {window:.0f}s)")
    created = pod([waiting("app", "ImagePullBackOff")], creationTimestamp=_at(window + 5))
    assert pods.waiting_failure(created, NOW) == (
        f"container app: ImagePullBackOff (pulling for {window + 5:.0f}s)")
    assert pods.pod_failure(created, NOW) == (
        f"pod mc-a/p container app: ImagePullBackOff (pulling for {window + 5:.0f}s)")
    young = pod([waiting("app", "ImagePullBackOff")], creationTimestamp=_at(5))
    assert pods.waiting_failure(young, NOW) is None
    assert pods.pod_failure(young, NOW) is None


def test_a_young_pull_back_off_does_not_hide_a_crashing_sidecar() -> None:
    both = pod([waiting("app", "ImagePullBackOff"),
                waiting("istio-proxy", "CrashLoopBackOff", "back-off 20s",
                        last={"exitCode": 1, "reason": "Error"})],
               creationTimestamp=_at(5))
    assert pods.waiting_failure(both, NOW) == (
        "container istio-proxy: CrashLoopBackOff: back-off 20s (last exit 1: Error)")


def test_the_last_exit_is_added_to_the_pull_detail() -> None:
    old = pod([waiting("app", "ImagePullBackOff", "x", last={"exitCode": 2, "reason": "Error"})],
              creationTimestamp=_at(300))
    assert pods.waiting_failure(old, NOW) == (
        "container app: ImagePullBackOff: x (pulling for 300s) (last exit 2: Error)")


def test_a_failed_pod_without_reason_has_no_dangling_colon() -> None:
    assert pods.pod_failure(pod([], phase="Failed")) == "pod mc-a/p phase Failed"
    assert conditions.pods_failure([pod([]), pod([], phase="Failed")]) == Failed(
        "pod mc-a/p phase Failed")
    assert conditions.pods_failure([pod([])]) is None


def test_describe_pod_reads_every_kind_of_status() -> None:
    unscheduled = pod([{"name": "app", "state": {}},
                       {"name": "istio-proxy", "ready": True,
                        "state": {"running": {"startedAt": "2026-03-01T10:00:00Z"}}}],
                      conditions=[{"type": "PodScheduled", "status": "False",
                                   "reason": "Unschedulable",
                                   "message": "0/1 nodes are available: Insufficient cpu"}])
    unscheduled["status"]["ephemeralContainerStatuses"] = [
        {"name": "debug", "state": {"terminated": {"reason": "Completed"}}}]
    assert pods.describe_pod(unscheduled) == (
        "pod mc-a/p phase Pending [app=unknown, istio-proxy=running, "
        "debug=terminated:Completed, unscheduled: 0/1 nodes are available: "
        "Insufficient cpu]")
    by_reason = pod([], conditions=[{"type": "PodScheduled", "status": "False",
                                     "reason": "Unschedulable"}])
    assert pods.describe_pod(by_reason) == (
        "pod mc-a/p phase Pending [unscheduled: Unschedulable]")
    scheduled = pod([], conditions=[{"type": "PodScheduled", "status": "True"}])
    assert pods.describe_pod(scheduled) == (
        "pod mc-a/p phase Pending [no container status yet]")
    assert pods.describe_pod({"kind": "Pod", "metadata": {"name": "p"}}) == \
        "pod p phase Unknown [no container status yet]"


def test_pod_conditions_say_what_they_saw() -> None:
    running = pod([{"name": "app", "ready": False, "state": {"running": {}}}], phase="Running")
    assert conditions.pod_running_or_failed(None) == Pending("pod does not exist yet")
    assert conditions.pod_running_or_failed(running) == Done(
        running, "pod mc-a/p phase Running [app=running(not ready)]")
    starting = pod([waiting("app", "ContainerCreating")])
    assert conditions.pod_running_or_failed(starting) == Pending(
        "pod mc-a/p phase Pending [app=waiting:ContainerCreating]")
    assert conditions.pod_ready(None) == Pending("pod does not exist yet")
    assert conditions.pod_ready(running) == Pending(
        "pod mc-a/p phase Running [app=running(not ready)]")
    ready = copy.deepcopy(running)
    ready["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert conditions.pod_ready(ready) == Done(
        ready, "pod mc-a/p phase Running [app=running(not ready)]")
    done = pod([], phase="Succeeded")
    assert conditions.pod_ready(done) == Failed(
        "pod mc-a/p phase Succeeded [no container status yet]: completed, will never be Ready")


def test_gone_and_with_pods_say_what_is_left() -> None:
    ns = {"kind": "Namespace", "metadata": {"name": "mc-a"}, "status": {}}
    assert conditions.gone(ns) == Pending("Namespace mc-a still present")
    assert conditions.with_pods(Pending("Deployment mc-a/echo: 0/1 ready"), []) == Pending(
        "Deployment mc-a/echo: 0/1 ready; no pods yet")
    assert conditions.with_pods(Failed("x"), [pod([], phase="Failed")]) == Failed("x")
    by_type = conditions._conditions({"status": {"conditions": [{"status": "True"}]}})
    assert by_type == {"": {"status": "True"}}


def test_a_deployment_scaled_to_zero_is_ready_with_its_status_all_omitted() -> None:
    """``replicas: 0``: the API omits every zero count; Available is True."""
    zero = deployment({"replicas": 0}, {"observedGeneration": 1}, AVAILABLE)
    assert conditions.deployment_ready(zero) == Done(
        zero, "Deployment mc-a/echo: 0/0 ready, 0 updated, 0 available")


def test_the_app_of_a_job_has_exited_once_it_terminated_or_the_pod_ended() -> None:
    exited = conditions.app_exited()
    assert exited(None) == Pending("pod does not exist yet")
    running = pod([{"name": "app", "ready": True, "state": {"running": {}}}], phase="Running")
    assert exited(running) == Pending("pod mc-a/p phase Running [app=running]")
    done = pod([{"name": "app", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "istio-proxy", "ready": True, "state": {"running": {}}}],
               phase="Running")
    assert exited(done) == Done(
        done, "pod mc-a/p phase Running [app=terminated:Completed(exit 0), istio-proxy=running]")
    for phase in ("Succeeded", "Failed"):  # the pod ended, whatever its statuses say
        ended = pod([], phase=phase)
        assert exited(ended) == Done(ended, f"pod mc-a/p phase {phase} [no container status yet]")
    crashing = pod([waiting("app", "CrashLoopBackOff", "back-off 10s")])
    assert exited(crashing) == Failed("pod mc-a/p container app: CrashLoopBackOff: back-off 10s")
    # another container's name: the app it waits for is the one it was given
    assert exited(pod([{"name": "main", "state": {"terminated": {"exitCode": 0}}}])) == Pending(
        "pod mc-a/p phase Pending [main=terminated(exit 0)]")
    main = conditions.app_exited("main")
    assert isinstance(main(pod([{"name": "main", "state": {"terminated": {"exitCode": 0}}}])),
                      Done)


def test_an_init_container_is_done_once_it_terminated() -> None:
    probe_done = conditions.init_container_done("probe")
    assert probe_done(None) == Pending("pod does not exist yet")
    waiting_pod = pod([waiting("probe", "PodInitializing")])
    assert probe_done(waiting_pod) == Pending(
        "pod mc-a/p phase Pending [probe=waiting:PodInitializing]")
    finished = pod([{"name": "probe", "state": {"terminated": {"exitCode": 7,
                                                                "reason": "Error"}}}])
    decision = probe_done(finished)
    assert decision == Done(finished, "pod mc-a/p phase Pending [probe=terminated:Error(exit 7)]")
    assert isinstance(decision, Done)
    assert decision.value is not finished  # a copy: the wait's result is the caller's
