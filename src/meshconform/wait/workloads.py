"""Waits on a cluster's pods and Jobs, for the live checks.

The conditions are :mod:`meshconform.wait.conditions` and the decisions
:mod:`meshconform.observe`; this module only picks what to watch and for how long
(the ``Timeouts`` field named in each function). The cluster is the ``KubeAPI``
Protocol, so the wiring is testable with a scripted client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from meshconform.live.kubeapi import KubeAPI
from meshconform.observe.jobs import (
    JobObservation,
    JobOutcome,
    job_outcome,
    linger_window,
    newest_pod,
)
from meshconform.observe.pods import describe_pod
from meshconform.traffic.curl import InitProbeResult, init_probe_result
from meshconform.wait.conditions import app_exited, init_container_done, pod_ready
from meshconform.wait.loop import Decision, Done, Pending, WaitFailed, WaitTimeout, wait_until
from meshconform.wait.timeouts import Timeouts

Obj = Mapping[str, Any]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def get_pod_name(kube: KubeAPI, namespace: str, selector: str, timeouts: Timeouts) -> str:
    """The newest pod matching ``selector``; waits for the controller to create one."""

    def poll() -> Decision[str]:
        pods = kube.list("v1", "Pod", namespace, label_selector=selector)
        live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
        if not live:
            return Pending(f"no pod with {selector} in {namespace} yet")
        newest = max(live, key=lambda p: str(p["metadata"].get("creationTimestamp", "")))
        return Done(str(newest["metadata"]["name"]))

    return wait_until(f"a pod {selector} in {namespace}", poll, timeout=timeouts.pod_ready)


def get_ready_pod(
    kube: KubeAPI, namespace: str, selector: str, timeouts: Timeouts
) -> dict[str, Any]:
    """The Ready pod matching ``selector``; fails fast on image pull errors and crash loops."""
    name = get_pod_name(kube, namespace, selector, timeouts)
    pod: Obj = kube.watch_until(
        f"pod {namespace}/{name} Ready",
        "v1",
        "Pod",
        name,
        namespace,
        pod_ready,
        timeout=timeouts.pod_ready,
    )
    return dict(pod)


def get_init_probe(
    kube: KubeAPI, namespace: str, pod: str, timeouts: Timeouts, container: str = "probe"
) -> InitProbeResult:
    """Wait for the init container that runs curl to finish; its exit code and log status."""
    done = kube.watch_until(
        f"init container {container} of {namespace}/{pod} to finish",
        "v1",
        "Pod",
        pod,
        namespace,
        init_container_done(container),
        timeout=timeouts.pod_ready,
    )
    logs = kube.logs(namespace, pod, container=container)
    result = init_probe_result(done, logs, container)
    if result is None:  # the condition returned Done only once it terminated
        raise WaitFailed(f"{container} terminated but has no exit code: {describe_pod(done)}")
    return result


# ---------------------------------------------------------------- jobs


def job_condition(
    kube: KubeAPI,
    namespace: str,
    job: str,
    timeouts: Timeouts,
    clock: Callable[[], datetime] = _utcnow,
) -> Callable[[Obj | None], Decision[JobObservation]]:
    """A Job condition: Done with the outcome once it is decided (see :func:`job_outcome`)."""

    def condition(obj: Obj | None) -> Decision[JobObservation]:
        pods = kube.list("v1", "Pod", namespace, label_selector=f"job-name={job}")
        window = linger_window(newest_pod(pods), timeouts.proxy_linger)
        seen = job_outcome(obj, pods, now=clock(), linger=window)
        return Done(seen) if seen.final else Pending(seen.explanation)

    return condition


def get_job_outcome(
    kube: KubeAPI,
    namespace: str,
    job: str,
    timeouts: Timeouts,
    clock: Callable[[], datetime] = _utcnow,
) -> JobObservation:
    """Where the Job ends: Complete, Failed, or HungOnSidecar once the pod's hang window
    (:func:`~meshconform.observe.jobs.linger_window`) has passed since the app's exit.

    Stage 1 watches the pod until its app container has terminated (that is a pod
    update, so a watch sees it). Stage 2 watches the Job for at most the hang window:
    a hung pod produces no further events, so the end of that window, not a Job
    timeout, is what decides the hang. The window comes from the pod's own
    ``terminationGracePeriodSeconds`` and the injected drain, and its reasoning is
    part of the evidence.
    """
    pod = get_pod_name(kube, namespace, f"job-name={job}", timeouts)

    finished: Obj = kube.watch_until(
        f"the app of Job {namespace}/{job} to exit",
        "v1",
        "Pod",
        pod,
        namespace,
        app_exited(),
        timeout=timeouts.job_complete,
    )
    window = linger_window(finished, timeouts.proxy_linger)
    condition = job_condition(kube, namespace, job, timeouts, clock)
    try:
        return kube.watch_until(
            f"Job {namespace}/{job} to finish",
            "batch/v1",
            "Job",
            job,
            namespace,
            condition,
            timeout=window.seconds + 2,
        )
    except WaitTimeout:
        pass
    # no Job event within the hang window: decide from the objects as they are now
    pods = kube.list("v1", "Pod", namespace, label_selector=f"job-name={job}")
    window = linger_window(newest_pod(pods) or finished, timeouts.proxy_linger)
    seen = job_outcome(
        kube.get("batch/v1", "Job", job, namespace), pods, now=clock(), linger=window
    )
    if seen.outcome is JobOutcome.RUNNING:
        raise WaitTimeout(
            f"Job {namespace}/{job} undecided {window.seconds:.0f}s after "
            f"the app exited ({window.explain()}): {seen.explanation}"
        )
    return seen
