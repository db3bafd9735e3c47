"""What the waits wait for: pure conditions over objects shaped like the API's JSON.

Each condition takes the current object (``None``: it does not exist yet) and returns
a :data:`~meshconform.wait.loop.Decision`: ``Done`` when the target is reached,
``Failed`` when it can no longer be reached without someone fixing something
(CrashLoopBackOff, a persisting image pull error, a progress deadline), ``Pending``
otherwise, each with the state in words. Whether a pod can start and how a pod is
described are decided once, in :mod:`meshconform.observe.pods`; every pod condition
here asks there. ``Kube.watch_until`` feeds these conditions from a watch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from meshconform.observe.pods import (
    container_state,
    describe_pod,
    pod_failure,
    waiting_failure,
)
from meshconform.wait.loop import Decision, Done, Failed, Pending

Obj = Mapping[str, Any]
T = TypeVar("T")


def _conditions(obj: Obj) -> dict[str, Obj]:
    status = obj.get("status") or {}
    return {c.get("type", ""): c for c in status.get("conditions") or []}


def _name(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind', 'object')} {ns + '/' if ns else ''}{meta.get('name', '?')}"


def _generation_observed(obj: Obj) -> bool:
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    return generation is None or (observed is not None and observed >= generation)


def pods_failure(pods: Iterable[Obj]) -> Failed | None:
    """Failed naming the first pod that cannot start by itself, else None."""
    for pod in pods:
        why = pod_failure(pod)
        if why is not None:
            return Failed(why)
    return None


def deployment_ready(obj: Obj | None) -> Decision[Obj]:
    """Every replica updated and available, for the current generation."""
    if obj is None:
        return Pending("deployment does not exist yet")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    want = spec.get("replicas", 1)
    conds = _conditions(obj)
    progressing = conds.get("Progressing") or {}
    if (
        progressing.get("status") == "False"
        and progressing.get("reason") == "ProgressDeadlineExceeded"
    ):
        return Failed(f"{_name(obj)}: {progressing.get('message', 'progress deadline exceeded')}")
    failure = conds.get("ReplicaFailure") or {}
    if failure.get("status") == "True":
        return Failed(f"{_name(obj)}: {failure.get('reason', '')}: {failure.get('message', '')}")
    state = (
        f"{_name(obj)}: {status.get('readyReplicas', 0)}/{want} ready, "
        f"{status.get('updatedReplicas', 0)} updated, "
        f"{status.get('availableReplicas', 0)} available"
    )
    if (
        _generation_observed(obj)
        and status.get("updatedReplicas", 0) >= want
        and status.get("availableReplicas", 0) >= want
        and status.get("replicas", 0) == status.get("updatedReplicas", 0)
        and (conds.get("Available") or {}).get("status") == "True"
    ):
        return Done(obj, state)
    return Pending(state)


def daemonset_ready(obj: Obj | None) -> Decision[Obj]:
    """Scheduled on at least one node, every scheduled pod updated and ready."""
    if obj is None:
        return Pending("daemonset does not exist yet")
    status = obj.get("status") or {}
    desired = status.get("desiredNumberScheduled", 0)
    ready = status.get("numberReady", 0)
    updated = status.get("updatedNumberScheduled", 0)
    state = f"{_name(obj)}: {ready}/{desired} ready, {updated} updated"
    if desired == 0:
        return Pending(state + " (no node selected yet)")
    if (
        _generation_observed(obj)
        and ready >= desired
        and updated >= desired
        and status.get("numberUnavailable", 0) == 0
    ):
        return Done(obj, state)
    return Pending(state)


def crd_established(obj: Obj | None) -> Decision[Obj]:
    """The CustomResourceDefinition is served (condition Established=True)."""
    if obj is None:
        return Pending("CRD does not exist yet")
    conds = _conditions(obj)
    names = conds.get("NamesAccepted") or {}
    if names.get("status") == "False":
        return Failed(f"{_name(obj)}: names not accepted: {names.get('message', '')}")
    if (conds.get("Established") or {}).get("status") == "True":
        return Done(obj, f"{_name(obj)} established")
    return Pending(f"{_name(obj)} not established yet")


def pod_running_or_failed(obj: Obj | None) -> Decision[Obj]:
    """Running (or already Succeeded): Done; unable to start: Failed naming the container."""
    if obj is None:
        return Pending("pod does not exist yet")
    why = pod_failure(obj)
    if why is not None:
        return Failed(why)
    phase = (obj.get("status") or {}).get("phase")
    if phase in ("Running", "Succeeded"):
        return Done(obj, describe_pod(obj))
    return Pending(describe_pod(obj))


def pod_ready(obj: Obj | None) -> Decision[Obj]:
    """Condition Ready=True; fails fast like :func:`pod_running_or_failed`."""
    if obj is None:
        return Pending("pod does not exist yet")
    why = pod_failure(obj)
    if why is not None:
        return Failed(why)
    if (obj.get("status") or {}).get("phase") == "Succeeded":
        return Failed(f"{describe_pod(obj)}: completed, will never be Ready")
    if (_conditions(obj).get("Ready") or {}).get("status") == "True":
        return Done(obj, describe_pod(obj))
    return Pending(describe_pod(obj))


def gone(obj: Obj | None) -> Decision[None]:
    """The object no longer exists (namespace deletion and the like)."""
    if obj is None:
        return Done(None, "deleted")
    phase = (obj.get("status") or {}).get("phase", "")
    return Pending(f"{_name(obj)} still present{' (' + phase + ')' if phase else ''}")


def with_pods(decision: Decision[T], pods: Iterable[Obj]) -> Decision[T]:
    """A workload's decision refined by its pods: a pod that cannot start fails it at once.

    Deployment and DaemonSet status do not change while a pod crash-loops, so a
    wait on the workload alone would only notice at its timeout.
    """
    if not isinstance(decision, Pending):
        return decision
    pods = list(pods)
    failure = pods_failure(pods)
    if failure is not None:
        return failure
    if not pods:
        return Pending(f"{decision.state}; no pods yet")
    return Pending(f"{decision.state}; " + "; ".join(describe_pod(p) for p in pods))


def selector_of(workload: Obj) -> str:
    """``spec.selector.matchLabels`` as a label selector string."""
    labels = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def init_container_done(container: str) -> Callable[[Obj | None], Decision[dict[str, Any]]]:
    """Done once the init container ``container`` has terminated; Failed at once when a
    container of the pod cannot start (the CNI's istio-validation crash-looping, an image
    that cannot be pulled), naming it."""

    def condition(pod: Obj | None) -> Decision[dict[str, Any]]:
        if pod is None:
            return Pending("pod does not exist yet")
        state = container_state(pod, container)
        if state is not None and state.terminated:
            return Done(dict(pod), describe_pod(pod))
        failure = waiting_failure(pod)
        if failure is not None:
            return Failed(f"{failure}; {describe_pod(pod)}")
        return Pending(describe_pod(pod))

    return condition


def app_exited(app: str = "app") -> Callable[[Obj | None], Decision[Obj]]:
    """Done once the container ``app`` has terminated or the pod has ended; Failed when
    the pod cannot start (:func:`~meshconform.observe.pods.pod_failure`)."""

    def condition(obj: Obj | None) -> Decision[Obj]:
        if obj is None:
            return Pending("pod does not exist yet")
        state = container_state(obj, app)
        phase = (obj.get("status") or {}).get("phase")
        if (state is not None and state.terminated) or phase in ("Succeeded", "Failed"):
            return Done(obj, describe_pod(obj))
        failure = pod_failure(obj)
        return Failed(failure) if failure else Pending(describe_pod(obj))

    return condition
