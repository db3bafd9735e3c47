"""Jobs in the mesh, static: the pod layout kube-inject produces decides whether a Job
can complete. Facts: shared/research/istio-behaviours.md 3.1; docs/static.md."""

from __future__ import annotations

import pytest

from meshconform.modes import Capability
from meshconform.plugin.static import StaticCheckRun

pytestmark = [pytest.mark.static, pytest.mark.workloads]


@pytest.mark.claim("job-completes")
def test_job_completes_static(static_check: StaticCheckRun) -> None:
    """A Job whose pod runs in an enrolled namespace MUST reach the Complete condition.

    Documented: Testkube "Using Istio"; istio/istio#6324, #11659; istio.io blog 2023
    "Kubernetes Native Sidecars in Istio". Static evidence: istio-proxy as a regular
    container (classic: broken) vs an init container with restartPolicy Always
    (native) vs no proxy (ambient).
    """
    static_check()


@pytest.mark.claim("job-completes-without-injection")
@pytest.mark.requires(Capability.SIDECAR)
def test_job_without_injection_static(static_check: StaticCheckRun) -> None:
    """A Job whose pod template sets sidecar.istio.io/inject "false" MUST get no istio-proxy.

    Documented: Testkube chart values testkube-api.jobPodAnnotations (an annotation); Istio
    injection reference. Static evidence for both forms: the label is excluded by the
    generated webhook's objectSelector; the annotation passes the webhook and istiod's
    injection (real kube-inject) declines.
    """
    static_check()


@pytest.mark.claim("job-completes-with-quitquitquit")
@pytest.mark.requires(Capability.CLASSIC_SIDECAR)
def test_job_quitquitquit_static(static_check: StaticCheckRun) -> None:
    """A Job whose app POSTs http://localhost:15020/quitquitquit when done MUST complete.

    Documented: pilot-agent status server handleQuit; istio/istio#11659. Static
    evidence: istio-proxy is a regular container (its exit ends the pod) and port 15020,
    the agent's status server, is excluded from inbound capture.
    """
    static_check()


@pytest.mark.claim("job-completes-with-envoy-quitquitquit")
@pytest.mark.requires(Capability.CLASSIC_SIDECAR)
def test_job_envoy_quitquitquit_static(static_check: StaticCheckRun) -> None:
    """A Job whose app POSTs Envoy's http://127.0.0.1:15000/quitquitquit MUST complete.

    Documented: istio pkg/istio-agent/agent.go (pilot-agent exits when Envoy exits);
    speedscale/operator-helm charts/2.5.602 templates/hooks.yaml. Static evidence: istio-proxy
    is a regular container, and the app POSTs Envoy's admin endpoint on loopback.
    """
    static_check()
