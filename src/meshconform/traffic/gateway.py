"""Evaluators for the ingress gateway claims, usable against any reachable gateway.

Each function runs probes (each repeated until stable, see :mod:`.converge`)
and returns an :class:`Observation`. Facts: shared/research/istio-behaviours.md
section 3.6; Istio ``pilot/pkg/networking/core/gateway.go``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from meshconform.traffic.converge import stable
from meshconform.traffic.observation import Observation, observe
from meshconform.traffic.request import Request, probe
from meshconform.traffic.result import Kind, ProbeResult
from meshconform.wait.waiters import Timeouts


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


def _run(request: Request, timeouts: Timeouts) -> ProbeResult:
    return stable(request.describe(), lambda: probe(request), timeouts)


def _line(result: ProbeResult, verdict: str) -> str:
    return f"{result} [{verdict}]"


def routes_by_host(t: GatewayTarget) -> Observation:
    """``gateway-routes-by-host``: the served host answers 2xx, an unclaimed host 404."""
    known = _run(t.https(), t.timeouts)
    unknown = _run(t.https(host=t.unknown_host, sni=t.host), t.timeouts)
    known_ok = (
        known.kind is Kind.HTTP_STATUS and known.status is not None and 200 <= known.status < 300
    )
    unknown_ok = unknown.is_status(404)
    return observe(
        "gateway-routes-by-host",
        known_ok and unknown_ok,
        [
            _line(known, "ok: routed" if known_ok else "expected a 2xx from the routed backend"),
            _line(
                unknown,
                "ok: no virtual host"
                if unknown_ok
                else "expected 404 for a host no VirtualService claims",
            ),
        ],
        [known, unknown],
    )


def tls_simple(t: GatewayTarget) -> Observation:
    """``gateway-tls-simple``: the certificate for the host verifies against the run's CA."""
    result = _run(t.https(), t.timeouts)
    ok = result.kind in (Kind.HTTP_STATUS, Kind.REDIRECT)
    verdict = (
        f"ok: certificate for {t.host!r} verified against {t.ca.name}"
        if ok
        else "expected a handshake with a certificate that verifies for the host"
    )
    return observe("gateway-tls-simple", ok, [_line(result, verdict)], [result])


def _refused(result: ProbeResult) -> bool:
    return result.kind in (Kind.TLS_HANDSHAKE_FAILED, Kind.TCP_RESET)


def tls_sni_match(t: GatewayTarget) -> Observation:
    """``gateway-tls-sni-match``: right SNI accepted; wrong SNI and no SNI refused.

    The refusal probes check the chain but not the name, so a gateway that
    completes the handshake with whatever certificate shows up as "accepted"
    (HTTP answer) rather than as a hostname mismatch on our side.
    """
    right = _run(t.https(), t.timeouts)
    wrong = _run(t.https(sni=t.wrong_sni, verify_hostname=False), t.timeouts)
    none = _run(t.https(send_sni=False), t.timeouts)
    right_ok = right.kind in (Kind.HTTP_STATUS, Kind.REDIRECT)
    lines = [_line(right, "ok: accepted" if right_ok else "expected the handshake to complete")]
    for result, label in ((wrong, f"SNI {t.wrong_sni!r}"), (none, "no SNI")):
        if _refused(result):
            lines.append(_line(result, "ok: refused"))
        else:
            lines.append(
                _line(
                    result,
                    f"the gateway completed a handshake for {label}: SNI is "
                    "not enforced (a Gateway server with hosts '*' or a "
                    "catch-all filter chain)",
                )
            )
    ok = right_ok and _refused(wrong) and _refused(none)
    return observe("gateway-tls-sni-match", ok, lines, [right, wrong, none])


def redirect_matches(location: str | None, host: str, path: str) -> tuple[bool, str]:
    """Is ``location`` ``https://<host>[:port]<path>``? Returns (ok, why)."""
    if not location:
        return False, "no Location header"
    parts = urlsplit(location)
    if parts.scheme != "https":
        return False, f"Location scheme is {parts.scheme!r}, not 'https'"
    if (parts.hostname or "").lower() != host.lower():
        return False, f"Location host is {parts.hostname!r}, not {host!r}"
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    if target != path:
        return False, f"Location path is {target!r}, not {path!r}"
    return True, "Location is https for the same host and path"


def https_redirect(t: GatewayTarget) -> Observation:
    """``gateway-https-redirect``: plain HTTP answers 301 to https://<host>[:port]<path>."""
    result = _run(t.http(t.http_port), t.timeouts)
    ok, why = redirect_matches(result.location, t.host, t.path)
    if result.status != 301:
        ok, why = (
            False,
            (f"expected 301, got {result.short}: the HTTP server has no tls.httpsRedirect"),
        )
    return observe("gateway-https-redirect", ok, [_line(result, why)], [result])


def virtual_service_redirect(
    t: GatewayTarget,
    claim_id: str = "deploykf-https-redirect-307",
    code: int = 307,
    https_port: int = 443,
) -> Observation:
    """A VirtualService redirect (deployKF's https-redirect): plain HTTP answers ``code`` to
    https://<host>[:https_port]<path>."""
    result = _run(t.http(t.http_port), t.timeouts)
    ok, why = redirect_matches(result.location, t.host, t.path)
    port = urlsplit(result.location).port if result.location else None
    if ok and port not in (None, https_port):
        ok, why = False, f"Location port is {port}, not {https_port}"
    if result.status != code:
        ok, why = False, f"expected {code}, got {result.short}"
    return observe(claim_id, ok, [_line(result, why)], [result])


def health(t: GatewayTarget) -> Observation:
    """``gateway-health``: GET :15021/healthz/ready answers 200."""
    request = t.http(t.health_port, host=t.address, path="/healthz/ready")
    result = _run(request, t.timeouts)
    ok = result.is_status(200)
    why = "ok: ready" if ok else "expected 200 from the readiness endpoint"
    if result.kind is Kind.TCP_REFUSED:
        why = "nothing listens on the health port: the gateway has no :15021 listener"
    # a refused health port is this claim's failure, not a reason it cannot be observed
    return observe(
        "gateway-health", ok, [_line(result, why)], [result], failures=frozenset({Kind.TCP_REFUSED})
    )


GATEWAY_EVALUATORS: dict[str, Callable[[GatewayTarget], Observation]] = {
    "gateway-routes-by-host": routes_by_host,
    "gateway-tls-simple": tls_simple,
    "gateway-tls-sni-match": tls_sni_match,
    "gateway-https-redirect": https_redirect,
    "gateway-health": health,
}
