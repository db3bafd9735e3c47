"""Injection mode and scope, static: native vs classic sidecars and the webhook's
selectors. Facts: shared/research/istio-behaviours.md 0.1, 2, 3.7; docs/static.md."""

from __future__ import annotations

import pytest

from meshconform.modes import Capability
from meshconform.plugin.static import StaticCheckRun

pytestmark = [pytest.mark.static, pytest.mark.workloads]


@pytest.mark.claim("classic-sidecar-forced")
@pytest.mark.requires(Capability.CLASSIC_SIDECAR)
def test_classic_sidecar_forced_static(static_check: StaticCheckRun) -> None:
    """In classic modes istio-proxy MUST be a regular container even on Kubernetes >= 1.33.

    Documented: pilot/pkg/features ENABLE_NATIVE_SIDECARS (default auto since 1.27);
    pkg/kube/inject/webhook.go DetectNativeSidecar. Static evidence: istiod env
    ENABLE_NATIVE_SIDECARS=false, and kube-inject with the env istiod would have on the
    pinned kind nodes yields a regular istio-proxy container.
    """
    static_check()


@pytest.mark.claim("native-sidecar-injected-as-init")
@pytest.mark.requires(Capability.NATIVE_SIDECAR)
def test_native_sidecar_injected_as_init_static(static_check: StaticCheckRun) -> None:
    """In native-sidecar mode istio-proxy MUST be an init container with restartPolicy Always.

    Documented: Testkube "Using Istio"; injection-template.yaml; webhook.go reorderPod.
    Static evidence: restartPolicy Always, a startupProbe, and a place before the app's
    init containers.
    """
    static_check()


@pytest.mark.claim("injection-not-by-default")
@pytest.mark.requires(Capability.SIDECAR)
def test_injection_not_by_default_static(static_check: StaticCheckRun) -> None:
    """A pod in a namespace with no injection label MUST NOT get an istio-proxy.

    Documented: deployKF "Namespace Injection"; mutatingwebhook.yaml. Static evidence:
    no generated injection webhook selects an unlabelled pod in an unlabelled namespace,
    and enableNamespacesByDefault is false.
    """
    static_check()
