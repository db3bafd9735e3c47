"""A Job's outcome from the Job and its pods, including the classic-sidecar hang.

The documented failure (istio/istio#6324, #11659; shared/research/istio-behaviours.md
3.1): the app container ends ``terminated``/exitCode 0 while ``istio-proxy`` stays
``running``, the pod stays Running and the Job never gets ``Complete``. That is
decided from the app's ``finishedAt`` plus :attr:`Timeouts.proxy_linger`, within
seconds of the app's exit, never by waiting out the Job timeout.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from meshconform.kubewait import waiting_failure
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


def _newest(pods: Sequence[Obj]) -> Obj | None:
    def created(p: Obj) -> datetime:
        return parse_time(meta(p).get("creationTimestamp")) or datetime.min.replace(tzinfo=UTC)

    return max(pods, key=created) if pods else None


def job_outcome(  # noqa: PLR0911 - one return per documented outcome
    job: Obj | None,
    pods: Sequence[Obj],
    *,
    now: datetime,
    linger: float,
    app: str = "app",
) -> JobObservation:
    """Decide where a single-pod Job stands (a decision table: one return per row).

    ``now`` is the observer's clock (UTC); ``linger`` how long istio-proxy may keep
    running after the app exited 0 before the pod counts as hung.
    """
    if job is None:
        return JobObservation(JobOutcome.RUNNING, "the Job does not exist yet")
    jname = f"Job {name_of(job)}"
    pod = _newest(pods)
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
    if lingered >= linger:
        return obs(
            JobOutcome.HUNG_ON_SIDECAR,
            (
                f"{jname}: the app exited 0 at {finished:%H:%M:%S} but istio-proxy "
                f"({shape.value}) was still running {lingered:.0f}s later (allowed "
                f"{linger:.0f}s) and the Job has no Complete condition; {seen}"
            ),
        )
    return obs(
        JobOutcome.RUNNING,
        f"{jname}: app exited 0 {lingered:.0f}s ago, istio-proxy "
        f"still running (hang declared after {linger:.0f}s); {seen}",
    )
