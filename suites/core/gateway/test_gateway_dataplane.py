"""Ingress gateway claims against istiod's config for Istio resources, served by real Envoy.

``envoy_gateway`` is fixtures/gateway/ (Gateway, VirtualServices, a TLS Secret) compiled by
the real istiod on the gateway lab and served by pilot-agent + Envoy. The gateway is the
same router proxy in every mode (ambient included), so each claim runs and reports once
(``mode_independent``, mode "any"). Remaining differences from kind: docs/dataplane.md.
"""

from __future__ import annotations

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.dataplane.scenarios import GatewayRun
from meshconform.modes import Mode
from meshconform.traffic import gateway
from meshconform.traffic.observation import conclude

pytestmark = [pytest.mark.dataplane, pytest.mark.gateway, pytest.mark.mode_independent]


@pytest.mark.claim("gateway-routes-by-host")
def test_gateway_routes_by_host(envoy_gateway: GatewayRun, claim: ClaimCheck,
                                mode: Mode) -> None:
    """The ingress gateway MUST route a request by its Host and answer 404 for an unclaimed host.

    Documented: Istio Gateway and VirtualService reference; deployKF docs "Gateways".
    """
    conclude(claim, gateway.routes_by_host(envoy_gateway.target))


@pytest.mark.claim("gateway-tls-simple")
def test_gateway_tls_simple(envoy_gateway: GatewayRun, claim: ClaimCheck, mode: Mode) -> None:
    """A TLS SIMPLE Gateway server MUST serve its Secret's certificate, verifiable against its CA.

    Documented: istio.io tasks/traffic-management/ingress/secure-ingress.
    """
    conclude(claim, gateway.tls_simple(envoy_gateway.target))


@pytest.mark.claim("gateway-tls-sni-match")
def test_gateway_tls_sni_match(envoy_gateway: GatewayRun, claim: ClaimCheck, mode: Mode) -> None:
    """A TLS Gateway server with specific hosts MUST refuse a handshake with a wrong or no SNI.

    Documented: istio.io ops/common-problems/network-issues; deployKF gateway.tls.matchSNI.
    """
    conclude(claim, gateway.tls_sni_match(envoy_gateway.target))


@pytest.mark.claim("gateway-https-redirect")
def test_gateway_https_redirect(envoy_gateway: GatewayRun, claim: ClaimCheck,
                                mode: Mode) -> None:
    """A Gateway server with tls.httpsRedirect MUST answer HTTP with 301 to https, same host/path.

    Documented: Istio Gateway reference, ServerTLSSettings.httpsRedirect.
    """
    conclude(claim, gateway.https_redirect(envoy_gateway.target))


@pytest.mark.claim("gateway-health")
def test_gateway_health(envoy_gateway: GatewayRun, claim: ClaimCheck, mode: Mode) -> None:
    """The ingress gateway MUST answer GET :15021/healthz/ready with 200 when ready.

    Documented: deployKF "Service Health Checks"; Istio gateway-injection-template.yaml.
    """
    conclude(claim, gateway.health(envoy_gateway.target))
