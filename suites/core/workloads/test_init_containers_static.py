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


@pytest.mark.claim("init-container-bypass-hostname-uid1337")
@pytest.mark.requires(Capability.CNI)
def test_init_container_hostname_uid1337_static(static_facts: StaticFacts,
                                                claim: ClaimCheck) -> None:
    """With DNS capture, an app init container as UID 1337 MUST reach a hostname target.

    Documented: istio.io CNI "Compatibility with application init containers" (istio.io#15117);
    kubeflow/manifests common/istio README. Static evidence: istio-cni redirection with the
    proxy's ISTIO_META_DNS_CAPTURE, and UID 1337 excluded (-u), which returns before DNS
    redirection.
    """
    result = evaluate.init_container_hostname_reach(
        static_facts.shape("init-network-host-uid1337"), static_facts.install)
    claim.conclude(result.outcome, result.evidence)


@pytest.mark.claim("init-container-bypass-hostname-exclude-ranges")
@pytest.mark.requires(Capability.CNI)
def test_init_container_hostname_exclude_static(static_facts: StaticFacts,
                                                claim: ClaimCheck) -> None:
    """With DNS capture, excludeOutboundIPRanges 0.0.0.0/0 MUST let an app init container reach
    a hostname target (documented broken in cni: DNS is still redirected).

    Documented: kubeflow/manifests common/istio README (the annotation); istio.io CNI doc (only
    runAsUser 1337 works with DNS proxying and a hostname). Static evidence: istio-cni
    redirection with DNS capture on, and the range excluded (-x), which comes after the jump
    to DNS redirection.
    """
    result = evaluate.init_container_hostname_reach(
        static_facts.shape("init-network-host-exclude"), static_facts.install)
    claim.conclude(result.outcome, result.evidence)
