"""Job outcomes, including the documented hang, and how a check concludes from them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meshconform.claimcheck import ClaimCheck, ClaimMismatch
from meshconform.claims import get_claim
from meshconform.observe.jobs import JobOutcome, job_outcome
from meshconform.observe.pods import ProxyShape
from tests.observe import podjson as pj

FINISHED = datetime(2026, 3, 1, 10, 0, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(FINISHED.timestamp() + seconds, UTC)


def classic_hung_pod() -> dict:
    return pj.pod(containers=[pj.APP, pj.PROXY_CONTAINER], init=[pj.ISTIO_INIT],
                  statuses=[pj.terminated("app"), pj.running(name="istio-proxy")],
                  init_statuses=[pj.terminated("istio-init")])


def native_pod(proxy_status: dict, phase: str = "Running") -> dict:
    return pj.pod(containers=[pj.APP], init=[pj.ISTIO_INIT, pj.NATIVE_PROXY],
                  statuses=[pj.terminated("app")], phase=phase,
                  init_statuses=[pj.terminated("istio-init"), proxy_status])


def conclude_like_the_check(mode: str, seen) -> None:
    claim = ClaimCheck(get_claim("job-completes"), mode, "live")
    claim.conclude(seen.outcome is JobOutcome.COMPLETE)


def test_classic_hang_is_decided_once_the_linger_has_passed() -> None:
    pod = classic_hung_pod()
    early = job_outcome(pj.job(), [pod], now=at(3), linger=10)
    assert early.outcome is JobOutcome.RUNNING
    late = job_outcome(pj.job(), [pod], now=at(10), linger=10)
    assert late.outcome is JobOutcome.HUNG_ON_SIDECAR
    assert late.proxy is ProxyShape.CLASSIC
    assert "still running 10s later" in late.explanation


def test_classic_hang_is_the_documented_failure_in_sidecar_mode() -> None:
    seen = job_outcome(pj.job(), [classic_hung_pod()], now=at(11), linger=10)
    conclude_like_the_check("sidecar", seen)  # broken expected, broken seen: passes


def test_native_pod_that_hangs_fails_the_check() -> None:
    seen = job_outcome(pj.job(), [native_pod(pj.running(name="istio-proxy"))],
                       now=at(30), linger=10)
    assert seen.outcome is JobOutcome.HUNG_ON_SIDECAR
    assert seen.proxy is ProxyShape.NATIVE
    with pytest.raises(ClaimMismatch, match="does not conform"):
        conclude_like_the_check("native-sidecar", seen)


def test_classic_pod_whose_proxy_exits_reads_as_documentation_outdated() -> None:
    pod = pj.pod(containers=[pj.APP, pj.PROXY_CONTAINER], phase="Succeeded",
                 statuses=[pj.terminated("app"), pj.terminated("istio-proxy")])
    seen = job_outcome(pj.job(pj.complete(), active=0), [pod], now=at(2), linger=10)
    assert seen.outcome is JobOutcome.COMPLETE
    with pytest.raises(ClaimMismatch, match="documentation outdated"):
        conclude_like_the_check("sidecar", seen)


def test_native_job_completes() -> None:
    pod = native_pod(pj.terminated("istio-proxy", finished="2026-03-01T10:00:02Z"),
                     phase="Succeeded")
    seen = job_outcome(pj.job(pj.complete(), active=0), [pod], now=at(3), linger=10)
    assert seen.outcome is JobOutcome.COMPLETE
    conclude_like_the_check("native-sidecar", seen)


def test_native_proxy_still_stopping_within_linger_is_not_yet_a_hang() -> None:
    seen = job_outcome(pj.job(), [native_pod(pj.running(name="istio-proxy"))],
                       now=at(4), linger=10)
    assert seen.outcome is JobOutcome.RUNNING


def test_app_failure_and_image_pull_fail_fast() -> None:
    failed_app = pj.pod(containers=[pj.APP, pj.PROXY_CONTAINER],
                        statuses=[pj.terminated("app", code=3), pj.running(name="istio-proxy")])
    assert job_outcome(pj.job(), [failed_app], now=at(0), linger=10).outcome \
        is JobOutcome.FAILED
    pulling = pj.pod(containers=[pj.APP], statuses=[{
        "name": "app", "ready": False, "restartCount": 0, "image": "x", "imageID": "",
        "started": False, "state": {"waiting": {"reason": "ImagePullBackOff",
                                                "message": "Back-off pulling image"}}}])
    # the kubelet retries pulls: a back-off 2 s after creation is not yet permanent
    assert job_outcome(pj.job(), [pulling], now=at(0), linger=10).outcome \
        is JobOutcome.RUNNING
    seen = job_outcome(pj.job(), [pulling], now=at(90), linger=10)
    assert seen.outcome is JobOutcome.FAILED
    assert "ImagePullBackOff" in seen.explanation


def test_failed_condition_and_missing_pod() -> None:
    failed = pj.job([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                      "message": "Job was active longer than specified deadline",
                      "lastTransitionTime": "2026-03-01T10:01:00Z"}], active=0)
    assert job_outcome(failed, [], now=at(0), linger=10).outcome is JobOutcome.FAILED
    assert job_outcome(pj.job(), [], now=at(0), linger=10).outcome is JobOutcome.RUNNING
    assert job_outcome(None, [], now=at(0), linger=10).outcome is JobOutcome.RUNNING


def test_uninjected_job_reports_no_proxy() -> None:
    pod = pj.pod(containers=[pj.APP], statuses=[pj.terminated("app")], phase="Succeeded",
                 injected=False)
    seen = job_outcome(pj.job(pj.complete(), active=0), [pod], now=at(1), linger=10)
    assert (seen.outcome, seen.proxy) == (JobOutcome.COMPLETE, ProxyShape.ABSENT)


# -- the hang window comes from the pod (defect 8, issue 10) ----------------------------

def _native_job_world(grace: int, drain: str | None, proxy_stops_at: float | None):
    """A native-sidecar Job pod whose app exited at FINISHED; istio-proxy terminates
    ``proxy_stops_at`` seconds later (None: never), then the Job completes."""
    proxy = {**pj.NATIVE_PROXY}
    annotations = {"proxy.istio.io/config": f"terminationDrainDuration: {drain}\n"} if drain \
        else {}

    def world(t: float):
        stopped = proxy_stops_at is not None and t >= proxy_stops_at
        proxy_status = (pj.terminated("istio-proxy", finished="2026-03-01T10:00:20Z")
                        if stopped else pj.running(name="istio-proxy"))
        pod = pj.pod(containers=[pj.APP], init=[pj.ISTIO_INIT, proxy],
                     statuses=[pj.terminated("app")], phase="Succeeded" if stopped else "Running",
                     init_statuses=[pj.terminated("istio-init"), proxy_status])
        pod["spec"]["terminationGracePeriodSeconds"] = grace
        pod["metadata"]["annotations"].update(annotations)
        job = pj.job(pj.complete(), active=0) if stopped else pj.job()
        return job, [pod]

    return world


def test_hang_window_is_derived_from_the_pods_grace_and_drain() -> None:
    from meshconform.observe.jobs import linger_window  # noqa: PLC0415
    from meshconform.wait import Timeouts  # noqa: PLC0415

    _, (pod,) = _native_job_world(5, "20s", None)(0)
    window = linger_window(pod, allowance=10)
    assert window.seconds == 30
    assert "terminationGracePeriodSeconds 5s [pod spec]" in window.explain()
    assert "proxy drain 20s [annotation proxy.istio.io/config" in window.explain()
    plain = linger_window(_native_job_world(5, None, None)(0)[1][0], 10)
    assert (plain.seconds, plain.drain_source) == (15, "Istio default terminationDrainDuration")
    pod["spec"].pop("terminationGracePeriodSeconds")
    assert linger_window(pod, 10).seconds == 40  # Kubernetes' default grace, 30 s
    assert Timeouts().proxy_linger > 0


def test_a_native_proxy_draining_longer_than_ten_seconds_is_not_a_hang() -> None:
    """The proxy drains for 20 s (its pod's own setting) and stops at 18 s: a fixed 10 s
    window called that a hang; the pod's window (30 s) waits for the Job to complete."""
    from meshconform.wait import Timeouts  # noqa: PLC0415
    from meshconform.wait.workloads import get_job_outcome  # noqa: PLC0415
    from tests.observe.scripted import ScriptedKube  # noqa: PLC0415

    kube = ScriptedKube(_native_job_world(5, "20s", proxy_stops_at=18), events=[18])
    seen = get_job_outcome(kube, "mc-ns", "mc-job", Timeouts(), clock=kube.clock)
    assert seen.outcome is JobOutcome.COMPLETE, seen.explanation


def test_a_native_hang_names_the_window_and_its_reasoning() -> None:
    from meshconform.wait import Timeouts  # noqa: PLC0415
    from meshconform.wait.workloads import get_job_outcome  # noqa: PLC0415
    from tests.observe.scripted import ScriptedKube  # noqa: PLC0415

    kube = ScriptedKube(_native_job_world(5, "20s", proxy_stops_at=None))
    seen = get_job_outcome(kube, "mc-ns", "mc-job", Timeouts(), clock=kube.clock)
    assert seen.outcome is JobOutcome.HUNG_ON_SIDECAR
    assert "hang window 30s = max(terminationGracePeriodSeconds 5s" in seen.explanation
    assert kube.waits[-1] == ("Job mc-ns/mc-job to finish", 32)


def test_a_slow_kubelet_is_not_a_hang_with_the_default_timeouts() -> None:
    """Break 3 (issue 10): the Job linger window set to 0. The Job fixtures' pods (grace
    5 s, default 5 s drain) on a slow 2-core kubelet: istio-proxy is reported terminated
    12 s after the app. That is within the window (5 s + 10 s allowance): Complete."""
    from meshconform.wait import Timeouts  # noqa: PLC0415
    from meshconform.wait.workloads import get_job_outcome  # noqa: PLC0415
    from tests.observe.scripted import ScriptedKube  # noqa: PLC0415

    kube = ScriptedKube(_native_job_world(5, None, proxy_stops_at=12), events=[12])
    seen = get_job_outcome(kube, "mc-ns", "mc-job", Timeouts(), clock=kube.clock)
    assert seen.outcome is JobOutcome.COMPLETE, seen.explanation
    _, (pod,) = _native_job_world(5, None, None)(0)
    for at_seconds in (0.0, 4.0, 14.0):  # never decided as a hang inside the window
        early = job_outcome(pj.job(), [pod], now=at(at_seconds),
                            linger=linger_window_of(pod))
        assert early.outcome is JobOutcome.RUNNING, early.explanation


def linger_window_of(pod: dict):
    from meshconform.observe.jobs import linger_window  # noqa: PLC0415
    from meshconform.wait import Timeouts  # noqa: PLC0415

    return linger_window(pod, Timeouts().proxy_linger)
