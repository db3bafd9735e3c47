"""``wait.workloads``: which object each wait watches, for how long, and what it returns.

A recording cluster (the scripted one of ``tests/observe``, every call written down)
runs the real wait loop; the objects are shaped like the API's JSON. What is checked is
the wiring: the namespace, name, selector, container and ``Timeouts`` field of every
call, which the pure decisions cannot see.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from meshconform.observe.jobs import JobOutcome
from meshconform.wait import Timeouts, WaitFailed, WaitTimeout
from meshconform.wait.workloads import (
    get_init_probe,
    get_job_outcome,
    get_pod_name,
    get_ready_pod,
)
from tests.observe import podjson as pj
from tests.observe.scripted import Obj, ScriptedKube, World

TIMEOUTS = Timeouts().overridden({"pod_ready": 1.5, "job_complete": 222, "proxy_linger": 7})


class RecordingKube(ScriptedKube):
    def __init__(self, world: World, events: tuple[float, ...] = (), logs: str = "") -> None:
        super().__init__(world, events)
        self.calls: list[tuple[Any, ...]] = []
        self.log_text = logs

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | None = None) -> list[Obj]:
        self.calls.append(("list", api_version, kind, namespace, label_selector))
        return super().list(api_version, kind, namespace, label_selector)

    def observe(self, api_version: str, kind: str, name: str, namespace: str | None,
                timeout: float) -> Iterator[Obj | None]:
        self.calls.append(("observe", api_version, kind, name, namespace, timeout))
        return super().observe(api_version, kind, name, namespace, timeout)

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> Obj | None:
        if kind == "Job":
            self.calls.append(("get", api_version, kind, name, namespace))
        return super().get(api_version, kind, name, namespace)

    def logs(self, namespace: str, pod: str, container: str | None = None,
             tail: int | None = None, previous: bool = False) -> str:
        self.calls.append(("logs", namespace, pod, container, tail, previous))
        return self.log_text


def _pod(name: str, created: str, **extra: Any) -> dict[str, Any]:
    pod = pj.pod(containers=[pj.APP], statuses=[pj.running()], name=name)
    pod["metadata"]["creationTimestamp"] = created
    pod["metadata"].update(extra)
    return pod


def test_the_newest_pod_that_is_not_being_deleted_is_named() -> None:
    pods = [_pod("old", "2026-03-01T09:00:00Z"),
            _pod("newest-leaving", "2026-03-01T11:00:00Z",
                 deletionTimestamp="2026-03-01T11:00:05Z"),
            _pod("new", "2026-03-01T10:00:00Z")]
    kube = RecordingKube(lambda t: (None, pods))
    assert get_pod_name(kube, "mc-ns", "app=echo", TIMEOUTS) == "new"  # type: ignore[arg-type]
    assert kube.calls == [("list", "v1", "Pod", "mc-ns", "app=echo")]


def test_no_pod_yet_times_out_on_pod_ready_saying_so() -> None:
    kube = RecordingKube(lambda t: (None, []))
    quick = Timeouts().overridden({"pod_ready": 0.01})
    with pytest.raises(WaitTimeout) as caught:
        get_pod_name(kube, "mc-ns", "app=echo", quick)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "a pod app=echo in mc-ns: not reached within 0s; last seen: no pod with app=echo "
        "in mc-ns yet")


def test_a_ready_pod_is_watched_by_name_for_pod_ready_seconds() -> None:
    starting = _pod("echo-1", "2026-03-01T10:00:00Z")
    ready = _pod("echo-1", "2026-03-01T10:00:00Z")
    ready["status"]["conditions"].append({"type": "Ready", "status": "True"})
    kube = RecordingKube(lambda t: (None, [ready if t >= 2 else starting]), events=(2,))
    got = get_ready_pod(kube, "mc-ns", "app=echo", TIMEOUTS)  # type: ignore[arg-type]
    assert got == ready
    assert type(got) is dict
    assert kube.calls == [("list", "v1", "Pod", "mc-ns", "app=echo"),
                          ("observe", "v1", "Pod", "echo-1", "mc-ns", 1.5)]
    assert kube.waits == [("pod mc-ns/echo-1 Ready", 1.5)]


def _probe_pod(probe: dict[str, Any]) -> dict[str, Any]:
    return pj.pod(containers=[pj.APP], init=[pj.ISTIO_INIT, {"name": probe["name"]}],
                  phase="Pending", name="init-net",
                  statuses=[{"name": "app", "ready": False, "restartCount": 0,
                             "state": {"waiting": {"reason": "PodInitializing"}}}],
                  init_statuses=[pj.terminated("istio-init"), probe])


def test_the_init_probe_reads_its_own_container_and_log() -> None:
    pod = _probe_pod(pj.terminated("check", code=22))
    kube = RecordingKube(lambda t: (None, [pod]), logs="status=403\ncurl_rc=22\n")
    result = get_init_probe(kube, "mc-ns", "init-net", TIMEOUTS,  # type: ignore[arg-type]
                            container="check")
    assert (result.container, result.curl.exit_code, result.curl.status) == ("check", 22, 403)
    assert kube.calls == [("observe", "v1", "Pod", "init-net", "mc-ns", 1.5),
                          ("logs", "mc-ns", "init-net", "check", None, False)]
    assert kube.waits == [("init container check of mc-ns/init-net to finish", 1.5)]


def test_the_init_probe_container_is_called_probe_by_default() -> None:
    kube = RecordingKube(lambda t: (None, [_probe_pod(pj.terminated("probe", code=0))]),
                         logs="status=200\n")
    result = get_init_probe(kube, "mc-ns", "init-net", TIMEOUTS)  # type: ignore[arg-type]
    assert (result.container, result.curl.status) == ("probe", 200)
    assert kube.calls[-1] == ("logs", "mc-ns", "init-net", "probe", None, False)


def test_an_init_probe_that_terminated_without_exit_code_is_a_wait_failure() -> None:
    probe = pj.terminated("probe")
    del probe["state"]["terminated"]["exitCode"]
    kube = RecordingKube(lambda t: (None, [_probe_pod(probe)]))
    with pytest.raises(WaitFailed) as caught:
        get_init_probe(kube, "mc-ns", "init-net", TIMEOUTS)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "probe terminated but has no exit code: pod mc-ns/init-net phase Pending "
        "[istio-init=terminated:Completed(exit 0), probe=terminated:Completed, "
        "app=waiting:PodInitializing]")


def _job_world(job: dict[str, Any], proxy: dict[str, Any]) -> World:
    pod = pj.pod(containers=[pj.APP, pj.PROXY_CONTAINER], statuses=[pj.terminated("app"), proxy])
    pod["spec"]["terminationGracePeriodSeconds"] = 5
    return lambda t: (job, [pod])


def test_a_job_is_watched_pod_first_then_job_for_the_hang_window() -> None:
    kube = RecordingKube(_job_world(pj.job(pj.complete(), active=0),
                                    pj.terminated("istio-proxy")))
    seen = get_job_outcome(kube, "mc-ns", "mc-job", TIMEOUTS, clock=kube.clock)  # type: ignore[arg-type]
    assert seen.outcome is JobOutcome.COMPLETE
    # the window: max(grace 5 s, default drain 5 s) + proxy_linger 7 s, plus 2 s of slack
    assert kube.calls == [
        ("list", "v1", "Pod", "mc-ns", "job-name=mc-job"),
        ("observe", "v1", "Pod", "mc-job-abcde", "mc-ns", 222),
        ("observe", "batch/v1", "Job", "mc-job", "mc-ns", 14),
        ("get", "batch/v1", "Job", "mc-job", "mc-ns"),  # the stream reads the Job
        ("list", "v1", "Pod", "mc-ns", "job-name=mc-job"),  # the condition, its pods
    ]
    assert kube.waits == [("the app of Job mc-ns/mc-job to exit", 222),
                          ("Job mc-ns/mc-job to finish", 14)]


def test_a_job_still_undecided_after_the_window_is_a_timeout_with_the_reasoning() -> None:
    """The app exited 0 and the proxy stopped, but the Job controller never marks it:
    neither Complete nor the sidecar hang, so the wait says so with the window."""
    kube = RecordingKube(_job_world(pj.job(), pj.terminated("istio-proxy")))
    with pytest.raises(WaitTimeout) as caught:
        get_job_outcome(kube, "mc-ns", "mc-job", TIMEOUTS, clock=kube.clock)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(
        "Job mc-ns/mc-job undecided 12s after the app exited (hang window 12s = "
        "max(terminationGracePeriodSeconds 5s [pod spec], proxy drain 5s [Istio default "
        "terminationDrainDuration]) + 7s kubelet allowance): Job mc-ns/mc-job: app exited 0, "
        "istio-proxy terminated, waiting for the Job controller")
    assert kube.calls[-2:] == [("list", "v1", "Pod", "mc-ns", "job-name=mc-job"),
                               ("get", "batch/v1", "Job", "mc-job", "mc-ns")]


def test_a_hung_classic_sidecar_is_decided_after_the_window_from_the_objects_now() -> None:
    kube = RecordingKube(_job_world(pj.job(), pj.running(name="istio-proxy")))
    seen = get_job_outcome(kube, "mc-ns", "mc-job", TIMEOUTS, clock=kube.clock)  # type: ignore[arg-type]
    assert seen.outcome is JobOutcome.HUNG_ON_SIDECAR
    assert "allowed 12s; hang window 12s" in seen.explanation


def test_a_hang_is_decided_by_the_job_watch_at_the_first_event_past_the_window() -> None:
    """The Job watch judges each event with the newest pod's own window (12 s here): an
    event 13 s after the app exited decides the hang then, not at the watch's end."""
    kube = RecordingKube(_job_world(pj.job(), pj.running(name="istio-proxy")), events=(13,))
    seen = get_job_outcome(kube, "mc-ns", "mc-job", TIMEOUTS, clock=kube.clock)  # type: ignore[arg-type]
    assert seen.outcome is JobOutcome.HUNG_ON_SIDECAR
    assert "was still running 13s later (allowed 12s; hang window 12s" in seen.explanation
    assert kube.t == 13
