"""Egress claims against the real Envoy, configured as a sidecar's outbound path.

These checks require a sidecar: the Envoy here mirrors the client's sidecar,
which is what enforces outboundTrafficPolicy. In ambient there is no sidecar;
ztunnel (not Envoy) carries egress and ignores the policy (istio/istio#54281).
Modelling that with an ALLOW_ANY Envoy would only restate the catalog, so in
ambient these claims are left to the live tier (skipped centrally here).
"""

from __future__ import annotations

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.dataplane.scenarios import SidecarRun
from meshconform.modes import Capability, Mode
from meshconform.traffic import egress
from meshconform.traffic.observation import conclude

pytestmark = [pytest.mark.dataplane, pytest.mark.egress,
              pytest.mark.requires(Capability.SIDECAR)]


@pytest.mark.claim("egress-registry-only-blocks")
def test_registry_only_blocks_unknown_host(envoy_sidecar_registry_only: SidecarRun,
                                           claim: ClaimCheck, mode: Mode) -> None:
    """Under REGISTRY_ONLY, a request to an unregistered host MUST be refused (502, or a reset).

    Documented: istio.io tasks/traffic-management/egress/egress-control; Speedscale "Istio";
    pilot/pkg/networking/core/httproute.go (block_all).
    """
    conclude(claim, egress.registry_only_blocks(envoy_sidecar_registry_only.target))


@pytest.mark.claim("egress-service-entry-allows-http")
def test_service_entry_allows_http(envoy_sidecar_registry_only: SidecarRun,
                                   claim: ClaimCheck, mode: Mode) -> None:
    """Under REGISTRY_ONLY, a MESH_EXTERNAL HTTP ServiceEntry MUST make its host reachable.

    Documented: Istio ServiceEntry reference; istio.io egress-control.
    """
    conclude(claim, egress.service_entry_allows_http(envoy_sidecar_registry_only.target))


@pytest.mark.claim("egress-service-entry-allows-tls")
def test_service_entry_allows_tls(envoy_sidecar_registry_only: SidecarRun,
                                  claim: ClaimCheck, mode: Mode) -> None:
    """Under REGISTRY_ONLY, a TLS ServiceEntry (443, resolution NONE) MUST pass TLS by SNI.

    Documented: Speedscale "Istio" (app.speedscale.com); istio.io egress-control.
    """
    conclude(claim, egress.service_entry_allows_tls(envoy_sidecar_registry_only.target))
