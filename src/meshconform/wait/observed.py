"""The pure decisions of :mod:`meshconform.observe`, wired to a cluster for the live checks.

This is the only module of the package that talks to a cluster, through the
``Kube`` client's documented methods (typed here as a Protocol, so the decisions
stay testable without one). Every wait goes through ``Kube.watch_until`` or
:mod:`meshconform.wait.waiters`; none sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from meshconform.live.kubeapi import ExecOutput, KubeAPI
from meshconform.observe.jobs import (
    JobObservation,
    JobOutcome,
    job_outcome,
    linger_window,
    newest_pod,
)
from meshconform.observe.pods import container_state, describe_states
from meshconform.traffic.curl import InitProbeResult, init_probe_result
from meshconform.traffic.request import Request
from meshconform.traffic.transport import PodExecTransport
from meshconform.wait import kubewait
from meshconform.wait.waiters import (
    Decision,
    Done,
    Failed,
    Pending,
    Timeouts,
    WaitFailed,
    WaitTimeout,
    wait_until,
)

T = TypeVar("T")
Obj = Mapping[str, Any]
Command = list[str]  # aliased: inside KubeAPI, ``list`` is the method


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- pods


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
        kubewait.pod_ready,
        timeout=timeouts.pod_ready,
    )
    return dict(pod)


def init_container_done(container: str) -> Callable[[Obj | None], Decision[dict[str, Any]]]:
    """A pod condition: Done once ``container`` (an init container) has terminated."""

    def condition(pod: Obj | None) -> Decision[dict[str, Any]]:
        if pod is None:
            return Pending("pod does not exist yet")
        state = container_state(pod, container)
        if state is not None and state.terminated:
            return Done(dict(pod), describe_states(pod))
        failure = kubewait.waiting_failure(pod)
        if failure is not None:
            return Failed(f"{failure}; {describe_states(pod)}")
        return Pending(describe_states(pod))

    return condition


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
        raise WaitFailed(f"{container} terminated but has no exit code: {describe_states(done)}")
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
        return Done(seen, seen.explanation) if seen.final else Pending(seen.explanation)

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

    def app_finished(obj: Obj | None) -> Decision[Obj]:
        if obj is None:
            return Pending("pod does not exist yet")
        app = container_state(obj, "app")
        phase = (obj.get("status") or {}).get("phase")
        if (app is not None and app.terminated) or phase in ("Succeeded", "Failed"):
            return Done(obj, describe_states(obj))
        failure = kubewait.pod_failure(obj)
        return Failed(failure) if failure else Pending(describe_states(obj))

    finished: Obj = kube.watch_until(
        f"the app of Job {namespace}/{job} to exit",
        "v1",
        "Pod",
        pod,
        namespace,
        app_finished,
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


# ---------------------------------------------------------------- traffic from a pod


@dataclass(frozen=True)
class PodClient:
    """A pod to send traffic from (the suite's ``client`` workload, or any pod with curl).

    Its :attr:`transport` is the pod transport of :mod:`meshconform.traffic`: the
    evaluators, expectations and convergence loop are the ones every tier uses.
    """

    kube: KubeAPI
    namespace: str
    pod: str
    timeouts: Timeouts
    container: str = "client"

    def exec(self, command: Command) -> ExecOutput:
        return self.kube.exec(
            self.namespace,
            self.pod,
            command,
            container=self.container,
            timeout=self.timeouts.exec_command,
        )

    @property
    def transport(self) -> PodExecTransport:
        return PodExecTransport(self.exec, f"{self.namespace}/{self.pod}")

    def request(self, url: str, **changes: object) -> Request:
        """A request to ``url`` as the pod would make it, bounded by ``probe_request``."""
        return Request.for_url(url, timeout=self.timeouts.probe_request, **changes)
