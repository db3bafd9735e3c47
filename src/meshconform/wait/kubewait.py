"""Pure readiness conditions over API-shaped objects (camelCase dicts, as the API sends them).

Each function takes the current object (``None`` = it does not exist yet) and
returns a :data:`meshconform.wait.waiters.Decision`: ``Done`` when ready, ``Failed``
when readiness can no longer be reached without someone fixing something
(CrashLoopBackOff, image pull errors, a bad config), ``Pending`` otherwise, each
with the state in words. ``Kube.watch_until`` feeds them from a watch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from meshconform.wait.waiters import Decision, Done, Failed, Pending

Obj = Mapping[str, Any]
T = TypeVar("T")

#: container waiting reasons after which the pod will not become ready by itself
FATAL_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
#: a failed pull is retried by the kubelet with back-off (ErrImagePull, then
#: ImagePullBackOff, 10 s doubling up to 5 min): a registry hiccup or a rate limit heals
#: by itself. ErrImagePull is never permanent; ImagePullBackOff is once it persists.
PULL_RETRY_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff"})
#: seconds since the pod was scheduled after which ImagePullBackOff counts as permanent:
#: by then the kubelet has failed at least three pulls (at ~0, 10 and 30 s)
PULL_BACKOFF_PERMANENT_AFTER = 60.0


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


def container_statuses(pod: Obj) -> list[Obj]:
    """Init, regular and ephemeral container statuses, in that order."""
    status = pod.get("status") or {}
    return [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
        *(status.get("ephemeralContainerStatuses") or []),
    ]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _pulling_since(pod: Obj) -> datetime | None:
    """When the kubelet could start pulling: PodScheduled's transition, else creation."""
    scheduled = _conditions(pod).get("PodScheduled") or {}
    for value in (
        scheduled.get("lastTransitionTime"),
        (pod.get("metadata") or {}).get("creationTimestamp"),
    ):
        if isinstance(value, str) and value:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def waiting_failure(pod: Obj, now: datetime | None = None) -> str | None:
    """The first container that cannot start by itself (``container c: Reason: message``).

    Fatal at once: :data:`FATAL_WAITING_REASONS`. ``ErrImagePull`` never (the kubelet
    retries); ``ImagePullBackOff`` once the pod has been pulling for
    :data:`PULL_BACKOFF_PERMANENT_AFTER` seconds at ``now`` (a pod without any
    timestamp counts as persisting: nothing says it just started).
    """
    for cs in container_statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        detail = ""
        if reason == "ImagePullBackOff":
            since = _pulling_since(pod)
            if since is not None:
                pulling = ((now or _utcnow()) - since).total_seconds()
                if pulling < PULL_BACKOFF_PERMANENT_AFTER:
                    continue
                detail = f" (pulling for {pulling:.0f}s)"
        elif reason not in FATAL_WAITING_REASONS:
            continue
        message = waiting.get("message", "")
        last = (cs.get("lastState") or {}).get("terminated") or {}
        if last:
            detail += f" (last exit {last.get('exitCode')}: {last.get('reason', '')})"
        text = f"container {cs.get('name')}: {reason}: {message}"
        return text.rstrip(": ") + detail
    return None


def pod_failure(pod: Obj, now: datetime | None = None) -> str | None:
    """Why the pod cannot start by itself, naming the container; None if it still may."""
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        why = f"{status.get('reason', '')} {status.get('message', '')}".strip()
        return f"{_name(pod)} phase Failed: {why}".rstrip(": ")
    failure = waiting_failure(pod, now)
    return f"{_name(pod)} {failure}" if failure is not None else None


def describe_pod(pod: Obj) -> str:
    """One line: phase, and each container's state (``name=waiting:Reason``)."""
    status = pod.get("status") or {}
    parts = []
    for cs in container_statuses(pod):
        state = cs.get("state") or {}
        kind, detail = next(iter(state.items())) if state else ("unknown", {})
        reason = (detail or {}).get("reason", "")
        parts.append(
            f"{cs.get('name')}={kind}{':' + reason if reason else ''}"
            f"{'' if cs.get('ready') else '(not ready)'}"
        )
    unscheduled = _conditions(pod).get("PodScheduled")
    if unscheduled and unscheduled.get("status") == "False":
        parts.append(f"unscheduled: {unscheduled.get('message', unscheduled.get('reason', ''))}")
    return f"{_name(pod)} {status.get('phase', 'Unknown')} [{', '.join(parts)}]"


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
