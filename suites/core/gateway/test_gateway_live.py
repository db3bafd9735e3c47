"""The ingress gateway, live, probed from this machine through the kind port mappings.

``gateway_target`` (suites/conftest.py) applies fixtures/gateway/ for two hosts unique
to the check, with a certificate from the run CA in a Secret in istio-system, routed to
the shared echo (STRICT, reached over auto mTLS). The evaluators are
meshconform.traffic.gateway, the same ones the dataplane tier runs against a bare Envoy.
Facts: shared/research/istio-behaviours.md 3.6.
"""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.evidence import Evidence
from meshconform.traffic import gateway as gw
from meshconform.traffic.converge import converge
from meshconform.traffic.expect import Expect
from meshconform.traffic.observation import conclude
from meshconform.wait import WaitTimeout

pytestmark = [pytest.mark.live, pytest.mark.gateway]

#: the gateway's verdicts rest on istiod's config for the applied resources, served by a
#: real Envoy and probed from here (the controlplane cluster runs one as processes)
GATEWAY_EVIDENCE = pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD, Evidence.GATEWAY)


def _programmed(target: gw.GatewayTarget, claim: ClaimCheck, *, backend: bool = False) -> None:
    """Wait until istiod's config for the new host is served (it pushes asynchronously); the
    evaluators then judge a settled gateway. Not answering in time is recorded, and the
    evaluator's own probes decide the verdict.

    ``backend``: wait for the backend's ``ok(200)``. Otherwise ``routed`` counts (a 503
    while the backend is not up, or where it cannot run: the controlplane cluster); a
    404 means the route is not there yet.
    """
    request = target.https()
    served = Expect.ok(200) if backend else Expect.routed()
    try:
        result = converge(f"route for {target.host} programmed",
                          lambda: target.transport.send(request), target.timeouts, until=served,
                          interval=target.transport.interval)
    except WaitTimeout as error:
        claim.note(f"the route never settled on {served}: {error}")
        return
    if not served.met(result):
        claim.note(f"the route never answered: {served.judge(result)}")


@pytest.mark.claim("gateway-routes-by-host")
# the routed backend must answer: echo, a pod behind STRICT mTLS, found by istiod from its
# EndpointSlices (on controlplane a process pod the gateway reaches at its podIP)
@pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD, Evidence.CONTROLLERS,
                      Evidence.GATEWAY, Evidence.PROCESS_PODS)
def test_gateway_routes_by_host(gateway_target: gw.GatewayTarget, other_host_of: Any,
                                claim: ClaimCheck) -> None:
    """The ingress gateway MUST route a request to the VirtualService bound to its Host, and
    answer 404 for a host no VirtualService claims.

    Documented: deployKF "Gateways"; Istio Gateway and VirtualService reference. A second
    host routes to echo's /status/418, so a request routed by anything but Host shows.
    """
    _programmed(gateway_target, claim, backend=True)
    conclude(claim, gw.routes_by_host(gateway_target, other_host_of(gateway_target)))


@pytest.mark.claim("gateway-tls-simple")
@GATEWAY_EVIDENCE
def test_gateway_tls_simple(gateway_target: gw.GatewayTarget, claim: ClaimCheck) -> None:
    """A Gateway server with tls.mode SIMPLE and a credentialName MUST serve the certificate
    of that Secret, verifiable against its CA.

    Documented: deployKF Gateway (SIMPLE, credentialName); istio.io secure-ingress.
    """
    _programmed(gateway_target, claim)
    conclude(claim, gw.tls_simple(gateway_target))


@pytest.mark.claim("gateway-tls-sni-match")
@GATEWAY_EVIDENCE
def test_gateway_tls_sni_match(gateway_target: gw.GatewayTarget, claim: ClaimCheck) -> None:
    """A TLS Gateway server with specific hosts MUST accept only a handshake whose SNI
    matches them; a wrong or missing SNI MUST be refused.

    Documented: deployKF tls.matchSNI; istio.io ops/common-problems/network-issues.
    """
    _programmed(gateway_target, claim)
    conclude(claim, gw.tls_sni_match(gateway_target))


@pytest.mark.claim("gateway-https-redirect")
@GATEWAY_EVIDENCE
def test_gateway_https_redirect(gateway_target: gw.GatewayTarget, claim: ClaimCheck) -> None:
    """A Gateway server with tls.httpsRedirect MUST answer plain HTTP with 301 and a Location
    on https for the same host and path.

    Documented: Istio ServerTLSSettings.httpsRedirect ("send a 301 redirect"); pilot
    gateway.go (require_tls ALL). deployKF redirects differently: deploykf-https-redirect-307.
    """
    _programmed(gateway_target, claim)
    conclude(claim, gw.https_redirect(gateway_target))


@pytest.mark.claim("gateway-health")
@GATEWAY_EVIDENCE
def test_gateway_health(gateway: Any, timeouts: Any, run_ca: Any, claim: ClaimCheck) -> None:
    """The ingress gateway MUST answer GET :15021/healthz/ready with 200 when it is ready.

    Documented: deployKF "Service Health Checks"; gateway-injection-template.yaml.
    """
    target = gw.GatewayTarget(address=gateway.host, host=gateway.host, ca=run_ca.cert_path,
                              https_port=gateway.https_port, http_port=gateway.http_port,
                              health_port=gateway.status_port, timeouts=timeouts)
    conclude(claim, gw.health(target))
