"""A Job's outcome from the Job and its pods, including the classic-sidecar hang.

The documented failure (istio/istio#6324, #11659; shared/research/istio-behaviours.md
3.1): the app container ends ``terminated``/exitCode 0 while ``istio-proxy`` stays
``running``, the pod stays Running and the Job never gets ``Complete``. That is
decided from the app's ``finishedAt`` plus the pod's own hang window
(:func:`linger_window`: its ``terminationGracePeriodSeconds`` or the injected proxy
drain, whichever is longer, plus :attr:`Timeouts.proxy_linger` for kubelet latency),
within seconds of the app's exit, never by waiting out the Job timeout.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from meshconform.observe.pods import (
    PROXY,
    ContainerState,
    ProxyShape,
    container_state,
    describe_states,
    injection_shape,
    meta,
    name_of,
    parse_time,
    waiting_failure,
)

Obj = Mapping[str, Any]


class JobOutcome(enum.StrEnum):
    COMPLETE = "Complete"
    FAILED = "Failed"
    HUNG_ON_SIDECAR = "HungOnSidecar"
    RUNNING = "Running"  # not decided yet


@dataclass(frozen=True)
class JobObservation:
    outcome: JobOutcome
    explanation: str
    proxy: ProxyShape = ProxyShape.ABSENT
    pod: str | None = None
    app: ContainerState | None = None
    proxy_state: ContainerState | None = None

    @property
    def final(self) -> bool:
        return self.outcome is not JobOutcome.RUNNING

    def describe(self) -> str:
        return f"Job {self.outcome.value}: {self.explanation}"


def _condition(job: Obj, kind: str) -> Obj | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind and c.get("status") == "True":
            return dict(c)
    return None


def newest_pod(pods: Sequence[Obj]) -> Obj | None:
    """The most recently created pod (a Job's current attempt), or None."""

    def created(p: Obj) -> datetime:
        return parse_time(meta(p).get("creationTimestamp")) or datetime.min.replace(tzinfo=UTC)

    return max(pods, key=created) if pods else None


#: Kubernetes' default ``terminationGracePeriodSeconds``
DEFAULT_GRACE_SECONDS = 30.0
#: Istio's default ``ProxyConfig.terminationDrainDuration``
DEFAULT_DRAIN_SECONDS = 5.0
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_GO_DURATION_FULL = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def go_duration(text: object) -> float | None:
    """Seconds of a Go/protobuf duration (``5s``, ``1m30s``, ``500ms``); None if unreadable."""
    if not isinstance(text, str) or not _GO_DURATION_FULL.fullmatch(text.strip()):
        return None
    return sum(float(n) * _UNIT[u] for n, u in _GO_DURATION.findall(text))


@dataclass(frozen=True)
class LingerWindow:
    """How long istio-proxy may outlive the app before the pod counts as hung, and why.

    The kubelet stops a native sidecar once the app has exited: pilot-agent drains for
    ``drain`` seconds (the injected preStop/termination drain), and the kubelet kills it
    at the latest ``grace`` seconds (``terminationGracePeriodSeconds``) after signalling
    it. ``allowance`` covers the kubelet noticing the exit and writing the status (slow on
    a 2-core runner): :attr:`Timeouts.proxy_linger`.
    """

    grace: float
    grace_source: str
    drain: float
    drain_source: str
    allowance: float

    @property
    def seconds(self) -> float:
        return max(self.grace, self.drain) + self.allowance

    def explain(self) -> str:
        return (
            f"hang window {self.seconds:.0f}s = max(terminationGracePeriodSeconds "
            f"{self.grace:.0f}s [{self.grace_source}], proxy drain {self.drain:.0f}s "
            f"[{self.drain_source}]) + {self.allowance:.0f}s kubelet allowance"
        )


def _proxy_container(pod: Obj) -> Obj:
    spec = pod.get("spec") or {}
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if c.get("name") == PROXY:
            return dict(c)
    return {}


def _drain(pod: Obj) -> tuple[float, str]:
    """The proxy's termination drain: its env, the injected PROXY_CONFIG, the pod's
    ``proxy.istio.io/config`` annotation, else Istio's default."""
    env = {e.get("name"): e.get("value") for e in _proxy_container(pod).get("env") or []}
    seconds = env.get("TERMINATION_DRAIN_DURATION_SECONDS")
    if seconds is not None and str(seconds).strip().isdigit():
        return float(seconds), "istio-proxy env TERMINATION_DRAIN_DURATION_SECONDS"
    sources = [
        (env.get("PROXY_CONFIG"), "istio-proxy env PROXY_CONFIG"),
        (
            (meta(pod).get("annotations") or {}).get("proxy.istio.io/config"),
            "annotation proxy.istio.io/config",
        ),
    ]
    for text, where in sources:
        if not text:
            continue
        try:
            config = yaml.safe_load(text)  # JSON is YAML
        except yaml.YAMLError:
            continue
        if isinstance(config, dict):
            drain = go_duration(config.get("terminationDrainDuration"))
            if drain is not None:
                return drain, f"{where} terminationDrainDuration"
    return DEFAULT_DRAIN_SECONDS, "Istio default terminationDrainDuration"


def linger_window(pod: Obj | None, allowance: float) -> LingerWindow:
    """The hang window of ``pod``, from its own grace period and the injected drain."""
    if pod is None:
        return LingerWindow(
            DEFAULT_GRACE_SECONDS,
            "no pod yet: Kubernetes default",
            DEFAULT_DRAIN_SECONDS,
            "Istio default",
            allowance,
        )
    grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    if isinstance(grace, int | float) and not isinstance(grace, bool):
        grace_seconds, grace_source = float(grace), "pod spec"
    else:
        grace_seconds, grace_source = DEFAULT_GRACE_SECONDS, "Kubernetes default"
    drain, drain_source = _drain(pod)
    return LingerWindow(grace_seconds, grace_source, drain, drain_source, allowance)


def job_outcome(  # noqa: PLR0911 - one return per documented outcome
    job: Obj | None,
    pods: Sequence[Obj],
    *,
    now: datetime,
    linger: float | LingerWindow,
    app: str = "app",
) -> JobObservation:
    """Decide where a single-pod Job stands (a decision table: one return per row).

    ``now`` is the observer's clock (UTC); ``linger`` how long istio-proxy may keep
    running after the app exited 0 before the pod counts as hung: seconds, or the
    pod's :class:`LingerWindow` (then its reasoning is part of the explanation).
    """
    window = linger.seconds if isinstance(linger, LingerWindow) else float(linger)
    why = f"; {linger.explain()}" if isinstance(linger, LingerWindow) else ""
    if job is None:
        return JobObservation(JobOutcome.RUNNING, "the Job does not exist yet")
    jname = f"Job {name_of(job)}"
    pod = newest_pod(pods)
    shape = injection_shape(pod).shape if pod is not None else ProxyShape.ABSENT
    app_state = container_state(pod, app) if pod is not None else None
    proxy_state = container_state(pod, PROXY) if pod is not None else None
    pname = name_of(pod) if pod is not None else None
    seen = describe_states(pod) if pod is not None else "no pod yet"

    def obs(outcome: JobOutcome, why: str) -> JobObservation:
        return JobObservation(outcome, why, shape, pname, app_state, proxy_state)

    if (done := _condition(job, "Complete")) is not None:
        return obs(
            JobOutcome.COMPLETE, f"{jname} Complete at {done.get('lastTransitionTime')}; {seen}"
        )
    if (failed := _condition(job, "Failed")) is not None:
        return obs(
            JobOutcome.FAILED,
            f"{jname} Failed: {failed.get('reason', '')} {failed.get('message', '')}; {seen}",
        )
    if pod is None:
        return obs(JobOutcome.RUNNING, f"{jname}: no pod yet")
    if (fatal := waiting_failure(pod, now)) is not None:
        return obs(JobOutcome.FAILED, f"{jname}: pod cannot run: {fatal}; {seen}")
    if app_state is None or not app_state.terminated:
        return obs(JobOutcome.RUNNING, f"{jname}: app not finished; {seen}")
    if app_state.exit_code != 0:
        return obs(
            JobOutcome.FAILED,
            f"{jname}: the app exited {app_state.exit_code} ({app_state.reason}); {seen}",
        )
    if proxy_state is None or not proxy_state.running:
        return obs(
            JobOutcome.RUNNING,
            f"{jname}: app exited 0, istio-proxy "
            f"{proxy_state.state if proxy_state else 'absent'}, "
            f"waiting for the Job controller; {seen}",
        )
    finished = app_state.finished_at
    if finished is None:
        return obs(JobOutcome.RUNNING, f"{jname}: app exited 0 without finishedAt yet; {seen}")
    lingered = (now - finished).total_seconds()
    if lingered >= window:
        return obs(
            JobOutcome.HUNG_ON_SIDECAR,
            (
                f"{jname}: the app exited 0 at {finished:%H:%M:%S} but istio-proxy "
                f"({shape.value}) was still running {lingered:.0f}s later (allowed "
                f"{window:.0f}s{why}) and the Job has no Complete condition; {seen}"
            ),
        )
    return obs(
        JobOutcome.RUNNING,
        f"{jname}: app exited 0 {lingered:.0f}s ago, istio-proxy "
        f"still running (hang declared after {window:.0f}s{why}); {seen}",
    )
