"""Evaluators for the ingress gateway claims, usable against any reachable gateway.

Each function sends :class:`~.observation.Probe`\\ s (a request and its named
expectations, each repeated until stable, see :mod:`.converge`) through the
target's transport and returns an :class:`Observation`. Facts: shared/research/istio-behaviours.md
section 3.6; Istio ``pilot/pkg/networking/core/gateway.go``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from meshconform.traffic.expect import Expect
from meshconform.traffic.observation import Observation, Probe, observe, run
from meshconform.traffic.request import Request
from meshconform.traffic.transport import HostTransport, Transport
from meshconform.wait import Timeouts


@dataclass(frozen=True)
class GatewayTarget:
    """An ingress gateway reachable from here, and the host one Gateway server serves."""

    address: str
    host: str
    ca: Path
    https_port: int = 443
    http_port: int = 80
    health_port: int = 15021
    path: str = "/"
    unknown_host: str = "unknown.meshconform.invalid"
    wrong_sni: str = "wrong.meshconform.invalid"
    timeouts: Timeouts = field(default_factory=Timeouts)
    transport: Transport = field(default_factory=HostTransport)

    def https(self, **changes: object) -> Request:
        base = Request(
            self.address,
            self.https_port,
            self.host,
            path=self.path,
            tls=True,
            ca=self.ca,
            timeout=self.timeouts.probe_request,
        )
        return base.with_(**changes) if changes else base

    def http(self, port: int, **changes: object) -> Request:
        base = Request(
            self.address, port, self.host, path=self.path, timeout=self.timeouts.probe_request
        )
        return base.with_(**changes) if changes else base


def _observe(claim_id: str, t: GatewayTarget, probes: list[Probe]) -> Observation:
    return observe(claim_id, [run(p, t.transport, t.timeouts) for p in probes])


#: what the second host's VirtualService answers (fixtures/gateway/virtual-services.yaml)
OTHER_HOST_STATUS = 418


def routes_by_host(t: GatewayTarget, other_host: str | None = None) -> Observation:
    """``gateway-routes-by-host``: the served host answers ``ok`` (2xx), an unclaimed host
    ``status(404)``; with ``other_host`` (served by its own VirtualService that rewrites to
    echo's ``/status/418``) also that host ``status(418)``, so a request routed by anything
    but Host shows."""
    probes = [
        Probe(t.https(), Expect.ok(), meaning="the host is not routed to its backend"),
        Probe(
            t.https(host=t.unknown_host, sni=t.host),
            Expect.status(404),
            meaning="a host no VirtualService claims was answered (a catch-all route)",
        ),
    ]
    if other_host is not None:
        probes.append(
            Probe(
                t.https(host=other_host),
                Expect.status(OTHER_HOST_STATUS),
                meaning="the second host is not routed by its own VirtualService",
            )
        )
    return _observe("gateway-routes-by-host", t, probes)


def tls_simple(t: GatewayTarget) -> Observation:
    """``gateway-tls-simple``: the certificate for the host verifies against the run's CA
    (``answered``: the handshake completed with a verified certificate)."""
    return _observe(
        "gateway-tls-simple",
        t,
        [
            Probe(
                t.https(),
                Expect.answered(),
                meaning=f"no handshake with a certificate for {t.host!r} that verifies "
                f"against {t.ca.name}",
            )
        ],
    )


def tls_sni_match(t: GatewayTarget) -> Observation:
    """``gateway-tls-sni-match``: right SNI ``answered``; wrong SNI and no SNI ``tls-refused``.

    The refusal probes check the chain but not the name, so a gateway that
    completes the handshake with whatever certificate shows up as "answered"
    rather than as a hostname mismatch on our side.
    """
    not_enforced = (
        "SNI is not enforced (a Gateway server with hosts '*' or a catch-all filter chain)"
    )
    return _observe(
        "gateway-tls-sni-match",
        t,
        [
            Probe(t.https(), Expect.answered(), meaning="the handshake for the host failed"),
            Probe(
                t.https(sni=t.wrong_sni, verify_hostname=False),
                Expect.tls_refused(),
                meaning=f"the gateway completed a handshake for SNI {t.wrong_sni!r}: "
                + not_enforced,
            ),
            Probe(
                t.https(send_sni=False),
                Expect.tls_refused(),
                meaning="the gateway completed a handshake without SNI: " + not_enforced,
            ),
        ],
    )


def https_redirect(t: GatewayTarget) -> Observation:
    """``gateway-https-redirect``: plain HTTP answers ``redirect-to-https(301)``, to
    https://<host>[:port]<path>."""
    return _observe(
        "gateway-https-redirect",
        t,
        [
            Probe(
                t.http(t.http_port),
                Expect.redirect_to_https(301, t.host, t.path),
                meaning="the HTTP server has no tls.httpsRedirect",
            )
        ],
    )


def virtual_service_redirect(
    t: GatewayTarget,
    claim_id: str = "deploykf-https-redirect-307",
    code: int = 307,
    https_port: int = 443,
) -> Observation:
    """A VirtualService redirect (deployKF's https-redirect): plain HTTP answers
    ``redirect-to-https(code)`` to https://<host>[:https_port]<path>."""
    return _observe(
        claim_id,
        t,
        [
            Probe(
                t.http(t.http_port),
                Expect.redirect_to_https(code, t.host, t.path, https_port),
                meaning=f"the VirtualService does not redirect with {code} to https",
            )
        ],
    )


def health(t: GatewayTarget) -> Observation:
    """``gateway-health``: GET :15021/healthz/ready answers ``ok(200)``.

    A refused health port is this claim's failure (the gateway has no such listener),
    not a reason it cannot be observed.
    """
    request = t.http(t.health_port, host=t.address, path="/healthz/ready")
    return _observe(
        "gateway-health",
        t,
        [
            Probe(
                request,
                Expect.ok(200),
                Expect.observed() | Expect.refused(),
                "the gateway is not ready, or has no :15021 listener",
            )
        ],
    )


GATEWAY_EVALUATORS: dict[str, Callable[[GatewayTarget], Observation]] = {
    "gateway-routes-by-host": routes_by_host,
    "gateway-tls-simple": tls_simple,
    "gateway-tls-sni-match": tls_sni_match,
    "gateway-https-redirect": https_redirect,
    "gateway-health": health,
}
