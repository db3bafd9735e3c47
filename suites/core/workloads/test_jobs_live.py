"""Jobs in the mesh, live: the documented hang of classic sidecars and its two workarounds.

Each check applies a Job from fixtures/workloads/ and decides its outcome with
meshconform.observe.jobs: Complete, Failed, or HungOnSidecar (the app exited 0,
istio-proxy still running once the pod's hang window has passed, no Complete; the
window comes from the pod's grace period and proxy drain, see linger_window).
Facts: shared/research/istio-behaviours.md 3.1.
"""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.evidence import Evidence
from meshconform.modes import Capability, Mode
from meshconform.observe.jobs import JobObservation, JobOutcome
from meshconform.observe.pods import ProxyShape, injection_shape
from meshconform.wait import Timeouts
from meshconform.wait.workloads import get_job_outcome, get_pod_name

pytestmark = [pytest.mark.live, pytest.mark.workloads]


def _run_job(apply: Any, kube: Any, namespace: str, manifest: str, name: str,
             timeouts: Timeouts, claim: ClaimCheck) -> JobObservation:
    apply(manifest, namespace)
    seen = get_job_outcome(kube, namespace, name, timeouts)
    claim.note(f"pod istio-proxy: {seen.proxy.value}")
    claim.note(seen.describe())
    return seen


@pytest.mark.claim("job-completes", manifests=["workloads/job.yaml"])
def test_job_completes(mesh_ns: str, apply: Any, kube: Any, timeouts: Timeouts,
                       claim: ClaimCheck, mode: Mode) -> None:
    """A Job whose pod runs in an enrolled namespace MUST reach the Complete condition.

    Documented: Testkube "Using Istio"; istio/istio#6324, #11659; istio.io blog 2023
    "Kubernetes Native Sidecars in Istio". In sidecar and cni the documented failure
    is asserted: the app exits 0, istio-proxy keeps running, no Complete.
    """
    seen = _run_job(apply, kube, mesh_ns, "workloads/job.yaml", "mc-job", timeouts, claim)
    if mode.has(Capability.SIDECAR) and seen.proxy is ProxyShape.ABSENT:
        raise claim.unexpected("the Job's pod has no istio-proxy: the namespace is not "
                               "injected, so the check says nothing about the mesh")
    if seen.outcome is JobOutcome.COMPLETE:
        claim.conclude(True)
    elif seen.outcome is JobOutcome.HUNG_ON_SIDECAR:
        claim.conclude(False)
    else:
        raise claim.unexpected(f"the Job neither completed nor hung on its sidecar: "
                               f"{seen.outcome.value}")


@pytest.mark.claim("job-completes-without-injection", manifests=[
    "workloads/job-no-inject.yaml",
    "workloads/job-no-inject-annotation.yaml",
])
@pytest.mark.requires(Capability.SIDECAR)
def test_job_completes_without_injection(mesh_ns: str, apply: Any, kube: Any,
                                         timeouts: Timeouts, claim: ClaimCheck) -> None:
    """A Job whose pod template sets sidecar.istio.io/inject "false" MUST complete,
    with no istio-proxy in its pod.

    Documented: Testkube chart testkube-api.jobPodAnnotations (an annotation); Istio
    injection reference. Both forms run: the label (the webhook's objectSelector skips the
    pod) and the annotation Testkube's values set (istiod declines to inject).
    """
    seen = [_run_job(apply, kube, mesh_ns, manifest, name, timeouts, claim)
            for manifest, name in (("workloads/job-no-inject.yaml", "mc-job-no-inject"),
                                   ("workloads/job-no-inject-annotation.yaml",
                                    "mc-job-no-inject-ann"))]
    if any(s.outcome is JobOutcome.FAILED for s in seen):
        raise claim.unexpected("a Job failed (not a hang): the workload itself is broken")
    claim.conclude(all(s.outcome is JobOutcome.COMPLETE and s.proxy is ProxyShape.ABSENT
                       for s in seen))


@pytest.mark.claim("job-completes-with-quitquitquit", manifests=[
    "workloads/job-quitquitquit.yaml",
])
@pytest.mark.requires(Capability.CLASSIC_SIDECAR)
def test_job_completes_with_quitquitquit(mesh_ns: str, apply: Any, kube: Any,
                                         timeouts: Timeouts, claim: ClaimCheck) -> None:
    """A Job whose app POSTs http://localhost:15020/quitquitquit when done MUST complete.

    Documented: pilot-agent status server handleQuit (POST, localhost, 200);
    istio/istio#11659. The proxy must have exited 0 because it was asked to.
    """
    seen = _run_job(apply, kube, mesh_ns, "workloads/job-quitquitquit.yaml", "mc-job-quit",
                    timeouts, claim)
    if seen.proxy is ProxyShape.ABSENT:
        raise claim.unexpected("the Job's pod has no istio-proxy to stop")
    if seen.outcome is JobOutcome.FAILED:
        raise claim.unexpected("the Job failed: quitquitquit was refused or the app broke")
    proxy = seen.proxy_state
    stopped = proxy is not None and proxy.terminated and proxy.exit_code == 0
    claim.note(f"istio-proxy at the end: {proxy.describe() if proxy else 'no status'}")
    claim.conclude(seen.outcome is JobOutcome.COMPLETE and stopped)


@pytest.mark.claim("job-completes-without-injection", manifests=[
    "workloads/job.yaml",
    "workloads/job-no-inject.yaml",
    "workloads/job-no-inject-annotation.yaml",
])
@pytest.mark.requires(Capability.SIDECAR)
@pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD, Evidence.CONTROLLERS)
def test_job_opt_out_pods_not_injected(mesh_ns: str, apply: Any, kube: Any,
                                       timeouts: Timeouts, claim: ClaimCheck) -> None:
    """A Job's pod opted out of injection MUST be created without istio-proxy.

    The opt-out is sidecar.istio.io/inject "false", as a label or as an annotation, in an
    enrolled namespace.

    Documented: Testkube chart testkube-api.jobPodAnnotations (annotation form); Istio
    "Installing the sidecar" (label form). The injected half of the claim: the Job
    controller creates the pods and the real webhook admits them. A plain Job in the same
    namespace must be injected, or the opt-out says nothing. Completion is
    test_job_completes_without_injection.
    """
    shapes = {}
    for manifest, job in (("workloads/job.yaml", "mc-job"),
                          ("workloads/job-no-inject.yaml", "mc-job-no-inject"),
                          ("workloads/job-no-inject-annotation.yaml", "mc-job-no-inject-ann")):
        apply(manifest, mesh_ns)
        name = get_pod_name(kube, mesh_ns, f"job-name={job}", timeouts)
        pod = kube.get("v1", "Pod", name, mesh_ns) or {}
        shapes[job] = injection_shape(pod)
        claim.note(f"Job {job}: pod {name}: {shapes[job].describe()}")
    if shapes["mc-job"].shape is ProxyShape.ABSENT:
        raise claim.unexpected("a Job without the opt-out got no istio-proxy either: the "
                               "injector is not active, so the opt-out says nothing")
    claim.conclude(all(shapes[j].shape is ProxyShape.ABSENT
                       for j in ("mc-job-no-inject", "mc-job-no-inject-ann")))


@pytest.mark.claim("job-completes-with-envoy-quitquitquit", manifests=[
    "workloads/job-envoy-quitquitquit.yaml",
])
@pytest.mark.requires(Capability.CLASSIC_SIDECAR)
def test_job_completes_with_envoy_quitquitquit(mesh_ns: str, apply: Any, kube: Any,
                                               timeouts: Timeouts, claim: ClaimCheck) -> None:
    """A Job whose app POSTs Envoy's http://127.0.0.1:15000/quitquitquit when done MUST complete.

    Documented: istio pkg/istio-agent/agent.go (pilot-agent exits when Envoy exits; this
    corrects istio/istio#11659, 2019); speedscale/operator-helm charts/2.5.602 hooks.yaml.
    The istio-proxy container must have ended because Envoy was asked to quit.
    """
    seen = _run_job(apply, kube, mesh_ns, "workloads/job-envoy-quitquitquit.yaml",
                    "mc-job-envoy-quit", timeouts, claim)
    if seen.proxy is ProxyShape.ABSENT:
        raise claim.unexpected("the Job's pod has no istio-proxy to stop")
    if seen.outcome is JobOutcome.FAILED:
        raise claim.unexpected("the Job failed: Envoy's admin endpoint refused or the app broke")
    proxy = seen.proxy_state
    stopped = proxy is not None and proxy.terminated
    claim.note(f"istio-proxy at the end: {proxy.describe() if proxy else 'no status'}")
    claim.conclude(seen.outcome is JobOutcome.COMPLETE and stopped)
