"""The gateway claims against ANY reachable Istio ingress gateway, production included.

Runs only with ``--probe-gateway HOST:PORT --probe-host NAME --probe-ca CA.pem`` (no
cluster is created or touched); the same evaluators as ``meshconform probe gateway``.
"""

from __future__ import annotations

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.modes import Mode
from meshconform.traffic import gateway
from meshconform.traffic.gateway import GatewayTarget
from meshconform.traffic.observation import conclude

# one gateway, whatever the mode: each claim runs and reports once (mode "any")
pytestmark = [pytest.mark.live, pytest.mark.gateway, pytest.mark.probe_gateway,
              pytest.mark.mode_independent]


@pytest.mark.claim("gateway-routes-by-host")
def test_probed_gateway_routes_by_host(probe_target: GatewayTarget, claim: ClaimCheck,
                                       mode: Mode) -> None:
    """The ingress gateway MUST route by Host and answer 404 for a host no route claims.

    Documented: Istio Gateway and VirtualService reference; deployKF docs "Gateways".
    """
    conclude(claim, gateway.routes_by_host(probe_target))


@pytest.mark.claim("gateway-tls-simple")
def test_probed_gateway_tls_simple(probe_target: GatewayTarget, claim: ClaimCheck,
                                   mode: Mode) -> None:
    """A TLS SIMPLE Gateway server MUST serve a certificate that verifies against its CA.

    Documented: istio.io tasks/traffic-management/ingress/secure-ingress.
    """
    conclude(claim, gateway.tls_simple(probe_target))


@pytest.mark.claim("gateway-tls-sni-match")
def test_probed_gateway_tls_sni_match(probe_target: GatewayTarget, claim: ClaimCheck,
                                      mode: Mode) -> None:
    """A TLS Gateway server MUST refuse a handshake whose SNI is wrong or missing.

    Documented: istio.io ops/common-problems/network-issues; deployKF tls.matchSNI.
    """
    conclude(claim, gateway.tls_sni_match(probe_target))


@pytest.mark.claim("gateway-https-redirect")
def test_probed_gateway_https_redirect(probe_target: GatewayTarget, claim: ClaimCheck,
                                       mode: Mode) -> None:
    """A Gateway server with httpsRedirect MUST answer plain HTTP with 301 to https.

    Documented: Istio Gateway reference, ServerTLSSettings.httpsRedirect.
    """
    conclude(claim, gateway.https_redirect(probe_target))


@pytest.mark.claim("gateway-health")
def test_probed_gateway_health(probe_target: GatewayTarget, claim: ClaimCheck,
                               mode: Mode) -> None:
    """The ingress gateway MUST answer GET :15021/healthz/ready with 200.

    Documented: deployKF docs "Service Health Checks"; Istio gateway injection template.
    """
    conclude(claim, gateway.health(probe_target))
