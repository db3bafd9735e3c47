"""Egress and DNS proxying, static: what the generated mesh config and the injected
proxy carry. Facts: shared/research/istio-behaviours.md 3.4, 3.5; docs/static.md."""

from __future__ import annotations

import pytest

from meshconform.plugin.static import StaticCheckRun

pytestmark = [pytest.mark.static, pytest.mark.egress]


@pytest.mark.claim("egress-registry-only-blocks")
def test_registry_only_static(static_check: StaticCheckRun) -> None:
    """Under REGISTRY_ONLY, a request to a host not in the registry MUST be refused.

    Documented: Speedscale "Istio"; istio.io egress-control task. Static evidence: the
    mesh config says REGISTRY_ONLY and the pod carries the sidecar that enforces it. In
    ambient no sidecar enforces it (ztunnel ignores it, istio/istio#54281): broken.
    """
    static_check()


@pytest.mark.claim("dns-proxy-resolves-service-entry")
def test_dns_capture_static(static_check: StaticCheckRun) -> None:
    """With ISTIO_META_DNS_CAPTURE, a ServiceEntry host MUST resolve inside the pod.

    Documented: deployKF "bring your own Istio"; istio.io dns-proxy. Static evidence:
    the injected istio-proxy's ISTIO_META_DNS_CAPTURE, or in ambient the istio-cni
    config's AMBIENT_DNS_CAPTURE (cni.ambient.dnsCapture).
    """
    static_check()


@pytest.mark.claim("dns-auto-allocate")
def test_dns_auto_allocate_static(static_check: StaticCheckRun) -> None:
    """A ServiceEntry without addresses MUST get an auto-allocated address.

    Documented: Istio 1.25 release notes (PILOT_ENABLE_IP_AUTOALLOCATE defaults to true);
    deployKF (ISTIO_META_DNS_AUTO_ALLOCATE, the pre-1.25 mechanism). Static evidence: the
    mechanism in force for the version: from 1.25 istiod's env does not turn the controller
    off (the legacy flag may be absent); before 1.25 the legacy flag is "true".
    """
    static_check()
