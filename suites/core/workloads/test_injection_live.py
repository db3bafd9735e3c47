"""Injection, live: where istio-proxy ends up in real pods, read from the API server.

fixtures/workloads/shape-pod.yaml has one init container of its own (app-init), so
the proxy's position relative to the app's init containers is visible.
meshconform.observe.pods classifies the shape. Facts: research sections 0.1, 2, 3.7.

The shape is what the real admission chain (the API server calling istiod's injection
webhook) stored, read from the server-side apply response: evidence on every cluster
kind, the controlplane cluster included. Whether the kubelet then runs istio-proxy as
injected needs a kubelet; where there is none, that half is not observed and says so.
"""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.evidence import Evidence
from meshconform.observe.pods import (
    PROXY,
    ProxyShape,
    classic_sidecar_conforms,
    container_state,
    injection_shape,
    native_sidecar_conforms,
)
from meshconform.wait import Timeouts
from meshconform.wait.workloads import get_ready_pod

pytestmark = [pytest.mark.live, pytest.mark.workloads]


def _kubelets(kube: Any) -> list[str]:
    return [str(((n.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion"))
            for n in kube.list("v1", "Node")]


@pytest.mark.claim("injection-not-by-default", manifests=["workloads/shape-pod.yaml"])
@pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD)
def test_injection_not_by_default(mesh_ns: str, plain_ns: str, apply: Any,
                                  claim: ClaimCheck) -> None:
    """A pod in a namespace with no injection label MUST NOT get an istio-proxy.

    Documented: deployKF "Namespace Injection" (enableNamespacesByDefault false);
    istio-discovery templates/mutatingwebhook.yaml. The same pod in an enrolled
    namespace shows that the injector is active at all.
    """
    enrolled = injection_shape(apply("workloads/shape-pod.yaml", mesh_ns)[0])
    plain = injection_shape(apply("workloads/shape-pod.yaml", plain_ns)[0])
    claim.note(f"enrolled namespace {mesh_ns}: {enrolled.describe()}")
    claim.note(f"unlabelled namespace {plain_ns}: {plain.describe()}")
    if enrolled.shape is ProxyShape.ABSENT:
        raise claim.unexpected("the enrolled namespace got no istio-proxy either: the "
                               "injector is not active, so its default says nothing")
    claim.conclude(plain.shape is ProxyShape.ABSENT and not plain.status_annotation)


@pytest.mark.claim("native-sidecar-injected-as-init", manifests=["workloads/shape-pod.yaml"])
@pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD)
def test_native_sidecar_injected_as_init(mesh_ns: str, apply: Any, kube: Any,
                                         timeouts: Timeouts, claim: ClaimCheck,
                                         observable: frozenset[Evidence]) -> None:
    """In native-sidecar mode istio-proxy MUST be injected as an init container with
    restartPolicy Always and a startup probe, before the app's init containers.

    Documented: Testkube "Using Istio"; injection-template.yaml; webhook.go reorderPod.
    Where a kubelet runs the pod, it must also run that way: istio-proxy started and
    running. On a cluster without kubelets (controlplane) only the admitted shape is
    evidence, and the evidence says so.
    """
    admitted = apply("workloads/shape-pod.yaml", mesh_ns)[0]
    ok, why = native_sidecar_conforms(injection_shape(admitted))
    claim.note(f"admitted pod: {why}")
    claim.note(f"kubelets: {_kubelets(kube)}")
    running = True
    if Evidence.KUBELET in observable:
        pod = get_ready_pod(kube, mesh_ns, "app=mc-shape", timeouts)
        proxy = container_state(pod, PROXY)
        running = proxy is not None and proxy.init and proxy.running and proxy.started is True
        claim.note(f"istio-proxy status: {proxy.describe() if proxy else 'none'}, "
                   f"started={proxy.started if proxy else None}")
    else:
        claim.note("istio-proxy running state: not observed (no kubelet on this cluster; "
                   "kwok's pod status is never evidence)")
    claim.conclude(ok and running)


@pytest.mark.claim("classic-sidecar-forced", manifests=["workloads/shape-pod.yaml"])
@pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD)
def test_classic_sidecar_forced(mesh_ns: str, apply: Any, kube: Any,
                                claim: ClaimCheck) -> None:
    """In classic modes istio-proxy MUST be a regular container even on Kubernetes 1.33 or
    later, where ENABLE_NATIVE_SIDECARS=auto would inject native sidecars.

    Documented: pilot/pkg/features/pilot.go (auto since 1.27); webhook.go
    DetectNativeSidecar (every node >= 1.33). The admitted pod is what istiod decided.
    """
    admitted = apply("workloads/shape-pod.yaml", mesh_ns)[0]
    ok, why = classic_sidecar_conforms(injection_shape(admitted))
    kubelets = _kubelets(kube)
    claim.note(why)
    claim.note(f"kubelets: {kubelets}")
    if not any(v.startswith("v1.") and int(v.split(".")[1]) >= 33 for v in kubelets):
        claim.note("no kubelet >= 1.33: 'auto' would give classic sidecars here anyway, so "
                   "this run does not exercise the forced setting")
    claim.conclude(ok)
