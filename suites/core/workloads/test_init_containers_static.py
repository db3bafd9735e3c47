"""Application init containers and the mesh, static: container order per mode and the
documented bypasses. Facts: shared/research/istio-behaviours.md 3.3; docs/static.md."""

from __future__ import annotations

import pytest

from meshconform.modes import Capability
from meshconform.plugin.static import StaticCheckRun

pytestmark = [pytest.mark.static, pytest.mark.workloads]


@pytest.mark.claim("init-container-network")
def test_init_container_network_static(static_check: StaticCheckRun) -> None:
    """An application init container's request to a mesh service under STRICT mTLS MUST succeed.

    Documented: Testkube "Using Istio"; istio.io CNI "Compatibility with application init
    containers"; kubeflow/manifests common/istio. Static evidence: istio-init last
    (sidecar) or istio-validation first with a regular istio-proxy (cni) -> broken;
    native istio-proxy before the app's init containers, or ambient capture -> holds.
    """
    static_check()


@pytest.mark.claim("init-container-bypass-workaround")
@pytest.mark.requires(Capability.CNI)
def test_init_container_bypass_static(static_check: StaticCheckRun) -> None:
    """An app init container as UID 1337, or with an excluded destination, MUST bypass capture.

    Documented: istio.io CNI "Compatibility with application init containers";
    kubeflow/manifests common/istio troubleshooting. Static evidence: istio-cni does the
    redirection, which excludes uid 1337 (-u) and the annotated range (-x).
    """
    static_check()


@pytest.mark.claim("init-container-bypass-hostname-uid1337")
@pytest.mark.requires(Capability.CNI)
def test_init_container_hostname_uid1337_static(static_check: StaticCheckRun) -> None:
    """With DNS capture, an app init container as UID 1337 MUST reach a hostname target.

    Documented: istio.io CNI "Compatibility with application init containers" (istio.io#15117);
    kubeflow/manifests common/istio README. Static evidence: istio-cni redirection with the
    proxy's ISTIO_META_DNS_CAPTURE, and UID 1337 excluded (-u), which returns before DNS
    redirection.
    """
    static_check()


@pytest.mark.claim("init-container-bypass-hostname-exclude-ranges")
@pytest.mark.requires(Capability.CNI)
def test_init_container_hostname_exclude_static(static_check: StaticCheckRun) -> None:
    """With DNS capture, excludeOutboundIPRanges 0.0.0.0/0 MUST let an app init container reach
    a hostname target (documented broken in cni: DNS is still redirected).

    Documented: kubeflow/manifests common/istio README (the annotation); istio.io CNI doc (only
    runAsUser 1337 works with DNS proxying and a hostname). Static evidence: istio-cni
    redirection with DNS capture on, and the range excluded (-x), which comes after the jump
    to DNS redirection.
    """
    static_check()
