"""Application init containers and the mesh, static: container order per mode and the
documented bypasses. Facts: shared/research/istio-behaviours.md 3.3; docs/static.md."""

from __future__ import annotations

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.modes import Capability
from meshconform.static import evaluate
from meshconform.static.facts import StaticFacts
from meshconform.static.workloads import WORKLOAD_VARIABLES

pytestmark = [pytest.mark.static, pytest.mark.workloads]


@pytest.mark.claim("init-container-network")
def test_init_container_network_static(static_facts: StaticFacts, claim: ClaimCheck) -> None:
    """An application init container's request to a mesh service under STRICT mTLS MUST succeed.

    Documented: Testkube "Using Istio"; istio.io CNI "Compatibility with application init
    containers"; kubeflow/manifests common/istio. Static evidence: istio-init last
    (sidecar) or istio-validation first with a regular istio-proxy (cni) -> broken;
    native istio-proxy before the app's init containers, or ambient capture -> holds.
    """
    result = evaluate.init_container_network(static_facts.shape("init-network"),
                                             static_facts.install)
    claim.conclude(result.outcome, result.evidence)


@pytest.mark.claim("init-container-bypass-workaround")
@pytest.mark.requires(Capability.CNI)
def test_init_container_bypass_static(static_facts: StaticFacts, claim: ClaimCheck) -> None:
    """An app init container as UID 1337, or with an excluded destination, MUST bypass capture.

    Documented: istio.io CNI "Compatibility with application init containers";
    kubeflow/manifests common/istio troubleshooting. Static evidence: istio-cni does the
    redirection, which excludes uid 1337 (-u) and the annotated range (-x).
    """
    result = evaluate.init_container_bypass(
        static_facts.shape("init-network-uid1337"), static_facts.shape("init-network-exclude"),
        WORKLOAD_VARIABLES["EXCLUDE_CIDR"], static_facts.install)
    claim.conclude(result.outcome, result.evidence)
