"""observe.jobs row by row: every outcome with its explanation and the observed states,
the pod the decision is about, and every source of the hang window. Written against the
mutation run (benchmarks/mutation.py, docs/mutation.md): each assertion pins a decision
or a piece of evidence a mutant changed without any test noticing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from meshconform.observe.jobs import (
    DEFAULT_DRAIN_SECONDS,
    DEFAULT_GRACE_SECONDS,
    JobOutcome,
    go_duration,
    job_outcome,
    linger_window,
    newest_pod,
)
from meshconform.observe.pods import ProxyShape
from tests.observe import podjson as pj

FINISHED = datetime(2026, 3, 1, 10, 0, 1, tzinfo=UTC)
SEEN = "pod mc-ns/mc-job-abcde phase Running"


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(FINISHED.timestamp() + seconds, UTC)


def native(proxy_status: dict[str, Any], app_status: dict[str, Any] | None = None,
           **pod: Any) -> dict[str, Any]:
    return pj.pod(containers=[pj.APP], init=[pj.ISTIO_INIT, pj.NATIVE_PROXY],
                  statuses=[app_status or pj.terminated("app")],
                  init_statuses=[pj.terminated("istio-init"), proxy_status], **pod)


def test_no_job_yet() -> None:
    seen = job_outcome(None, [], now=at(0), linger=10)
    assert (seen.outcome, seen.explanation) == (JobOutcome.RUNNING, "the Job does not exist yet")
    assert (seen.pod, seen.app, seen.proxy_state, seen.proxy) == (None, None, None,
                                                                  ProxyShape.ABSENT)
    assert not seen.final
    assert seen.describe() == "Job Running: the Job does not exist yet"


def test_complete_names_when_and_carries_the_states() -> None:
    pod = native(pj.terminated("istio-proxy"), phase="Succeeded")
    seen = job_outcome(pj.job(pj.complete(), active=0), [pod], now=at(3), linger=10)
    assert seen.outcome is JobOutcome.COMPLETE
    assert seen.final
    assert seen.explanation.startswith("Job mc-ns/mc-job Complete at 2026-03-01T10:00:03Z; "
                                       "pod mc-ns/mc-job-abcde phase Succeeded [")
    assert seen.pod == "mc-ns/mc-job-abcde"
    assert seen.proxy is ProxyShape.NATIVE
    assert seen.app is not None
    assert seen.app.name == "app"
    assert seen.proxy_state is not None
    assert seen.proxy_state.name == "istio-proxy"


def test_failed_condition_names_reason_and_message() -> None:
    failed = pj.job([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                      "message": "Job has reached the specified backoff limit"}], active=0)
    seen = job_outcome(failed, [], now=at(0), linger=10)
    assert seen.outcome is JobOutcome.FAILED
    assert seen.explanation == ("Job mc-ns/mc-job Failed: BackoffLimitExceeded Job has reached "
                                "the specified backoff limit; no pod yet")


def test_no_pod_yet() -> None:
    seen = job_outcome(pj.job(), [], now=at(0), linger=10)
    assert (seen.outcome, seen.explanation) == (JobOutcome.RUNNING, "Job mc-ns/mc-job: no pod yet")


def test_app_not_finished() -> None:
    pod = native(pj.running(name="istio-proxy"), pj.running())
    seen = job_outcome(pj.job(), [pod], now=at(0), linger=10)
    assert seen.outcome is JobOutcome.RUNNING
    assert seen.explanation.startswith(f"Job mc-ns/mc-job: app not finished; {SEEN} [")


def test_app_failure_names_the_exit_code() -> None:
    pod = native(pj.running(name="istio-proxy"), pj.terminated("app", code=3))
    seen = job_outcome(pj.job(), [pod], now=at(0), linger=10)
    assert seen.outcome is JobOutcome.FAILED
    assert seen.explanation.startswith(f"Job mc-ns/mc-job: the app exited 3 (Error); {SEEN}")


@pytest.mark.parametrize(("proxy", "words"), [
    (pj.terminated("istio-proxy"), "istio-proxy terminated"),
    (None, "istio-proxy absent"),
])
def test_app_done_and_proxy_stopped_waits_for_the_job_controller(
    proxy: dict[str, Any] | None, words: str
) -> None:
    if proxy is None:
        pod = pj.pod(containers=[pj.APP], statuses=[pj.terminated("app")], injected=False)
    else:
        pod = native(proxy)
    seen = job_outcome(pj.job(), [pod], now=at(60), linger=10)
    assert seen.outcome is JobOutcome.RUNNING
    assert seen.explanation.startswith(
        f"Job mc-ns/mc-job: app exited 0, {words}, waiting for the Job controller; ")


def test_app_exit_without_finished_at_is_not_judged() -> None:
    app = pj.terminated("app")
    del app["state"]["terminated"]["finishedAt"]
    seen = job_outcome(pj.job(), [native(pj.running(name="istio-proxy"), app)], now=at(600),
                       linger=10)
    assert seen.outcome is JobOutcome.RUNNING
    assert seen.explanation.startswith(
        f"Job mc-ns/mc-job: app exited 0 without finishedAt yet; {SEEN}")


def test_hang_and_the_time_before_it_say_how_long() -> None:
    pod = native(pj.running(name="istio-proxy"))
    waiting = job_outcome(pj.job(), [pod], now=at(4), linger=10)
    assert waiting.explanation.startswith(
        "Job mc-ns/mc-job: app exited 0 4s ago, istio-proxy still running (hang declared "
        f"after 10s); {SEEN}")
    window = linger_window(pod, 10)
    hung = job_outcome(pj.job(), [pod], now=at(40), linger=window)
    assert hung.outcome is JobOutcome.HUNG_ON_SIDECAR
    assert hung.explanation.startswith(
        "Job mc-ns/mc-job: the app exited 0 at 10:00:01 but istio-proxy (native) was still "
        "running 40s later (allowed 40s; hang window 40s = max(terminationGracePeriodSeconds "
        "30s [Kubernetes default], proxy drain 5s [Istio default terminationDrainDuration]) "
        "+ 10s kubelet allowance) and the Job has no Complete condition; ")


def test_the_newest_pod_decides() -> None:
    old = native(pj.terminated("istio-proxy"), pj.terminated("app", code=1), name="mc-job-old")
    new = native(pj.running(name="istio-proxy"), pj.running(), name="mc-job-new")
    new["metadata"]["creationTimestamp"] = "2026-03-01T10:05:00Z"
    undated = copy.deepcopy(old)
    del undated["metadata"]["creationTimestamp"]
    assert newest_pod([old, new]) is new
    assert newest_pod([new, old]) is new
    assert newest_pod([undated, new]) is new
    assert newest_pod([]) is None
    seen = job_outcome(pj.job(), [old, new], now=at(0), linger=10)
    assert (seen.outcome, seen.pod) == (JobOutcome.RUNNING, "mc-ns/mc-job-new")


@pytest.mark.parametrize(("text", "seconds"), [
    ("5s", 5.0), ("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0), ("1.5s", 1.5),
    ("", None), ("5", None), ("soon", None), (5, None), (None, None), ("5s garbage", None),
])
def test_go_durations(text: object, seconds: float | None) -> None:
    assert go_duration(text) == seconds


def _with_env(env: list[dict[str, str]], annotation: str | None = None) -> dict[str, Any]:
    proxy = {**pj.NATIVE_PROXY, "env": env}
    pod = pj.pod(containers=[pj.APP], init=[pj.ISTIO_INIT, proxy])
    if annotation is not None:
        pod["metadata"]["annotations"]["proxy.istio.io/config"] = annotation
    pod["spec"]["terminationGracePeriodSeconds"] = 2
    return pod


@pytest.mark.parametrize(("pod", "drain", "source"), [
    (_with_env([{"name": "TERMINATION_DRAIN_DURATION_SECONDS", "value": "12"}]), 12.0,
     "istio-proxy env TERMINATION_DRAIN_DURATION_SECONDS"),
    (_with_env([{"name": "TERMINATION_DRAIN_DURATION_SECONDS", "value": "soon"},
                {"name": "PROXY_CONFIG", "value": '{"terminationDrainDuration": "7s"}'}]), 7.0,
     "istio-proxy env PROXY_CONFIG terminationDrainDuration"),
    (_with_env([{"name": "PROXY_CONFIG", "value": "{not yaml: ["}],
               "terminationDrainDuration: 9s"),
     9.0, "annotation proxy.istio.io/config terminationDrainDuration"),
    (_with_env([{"name": "PROXY_CONFIG", "value": "just text"}],
               "holdApplicationUntilProxyStarts: true"),
     DEFAULT_DRAIN_SECONDS, "Istio default terminationDrainDuration"),
    (_with_env([], "terminationDrainDuration: never"), DEFAULT_DRAIN_SECONDS,
     "Istio default terminationDrainDuration"),
])
def test_drain_sources_in_order(pod: dict[str, Any], drain: float, source: str) -> None:
    window = linger_window(pod, allowance=1)
    assert (window.drain, window.drain_source) == (drain, source)
    assert (window.grace, window.grace_source) == (2.0, "pod spec")
    assert window.seconds == max(2.0, drain) + 1


def test_a_classic_proxy_container_is_read_too() -> None:
    proxy = {**pj.PROXY_CONTAINER, "env": [{"name": "TERMINATION_DRAIN_DURATION_SECONDS",
                                            "value": "20"}]}
    pod = pj.pod(containers=[pj.APP, proxy])
    assert linger_window(pod, 0).drain == 20.0
    app_env = {**pj.APP, "env": [{"name": "TERMINATION_DRAIN_DURATION_SECONDS", "value": "99"}]}
    assert linger_window(pj.pod(containers=[app_env, proxy]), 0).drain == 20.0


def test_window_without_a_pod_and_with_odd_grace() -> None:
    window = linger_window(None, 3)
    assert (window.grace, window.grace_source) == (DEFAULT_GRACE_SECONDS,
                                                   "no pod yet: Kubernetes default")
    assert (window.drain, window.drain_source, window.allowance) == (DEFAULT_DRAIN_SECONDS,
                                                                     "Istio default", 3)
    assert window.seconds == DEFAULT_GRACE_SECONDS + 3
    pod = _with_env([])
    pod["spec"]["terminationGracePeriodSeconds"] = True  # not a number of seconds
    assert linger_window(pod, 0).grace_source == "Kubernetes default"
    pod["spec"]["terminationGracePeriodSeconds"] = 0
    assert (linger_window(pod, 0).grace, linger_window(pod, 0).seconds) == (0.0, 5.0)
