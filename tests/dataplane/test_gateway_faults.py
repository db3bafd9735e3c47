"""Each gateway evaluator against the conforming Envoy and against the fault that breaks it.

Every fault case asserts the classification, not only "failed": the point of the
probes is to tell a user which of the many ways it went wrong.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from meshconform.certs import RunCertificates
from meshconform.claims import Outcome
from meshconform.dataplane.gateway_config import GatewayFaults
from meshconform.dataplane.scenarios import GatewayRun
from meshconform.traffic import gateway
from meshconform.traffic.result import Kind

Factory = Callable[..., GatewayRun]


@pytest.mark.parametrize("claim_id", list(gateway.GATEWAY_EVALUATORS))
def test_conforming_gateway_holds(envoy_gateway: GatewayRun, claim_id: str) -> None:
    seen = gateway.GATEWAY_EVALUATORS[claim_id](envoy_gateway.target)
    assert seen.outcome is Outcome.HOLDS, seen.text


def test_no_redirect(envoy_gateway_with: Factory) -> None:
    run = envoy_gateway_with(faults=GatewayFaults(no_redirect=True))
    seen = gateway.https_redirect(run.target)
    assert seen.outcome is Outcome.BROKEN
    (result,) = seen.results
    assert (result.kind, result.status) == (Kind.HTTP_STATUS, 200)
    assert "expected redirect-to-https(301), got HTTP 200 from GET http://app.example.com/" \
        in seen.text
    assert "the HTTP server has no tls.httpsRedirect" in seen.text


def test_redirect_to_wrong_scheme(envoy_gateway_with: Factory) -> None:
    run = envoy_gateway_with(faults=GatewayFaults(redirect_scheme="http"))
    seen = gateway.https_redirect(run.target)
    assert seen.outcome is Outcome.BROKEN
    (result,) = seen.results
    assert result.kind is Kind.REDIRECT
    assert result.location == "http://app.example.com/"
    assert "scheme is 'http'" in seen.text


def test_certificate_from_another_ca(envoy_gateway_with: Factory,
                                     run_certs: RunCertificates) -> None:
    run = envoy_gateway_with(cert=run_certs.untrusted)
    seen = gateway.tls_simple(run.target)
    assert seen.outcome is Outcome.BROKEN
    assert seen.results[0].kind is Kind.CERT_UNTRUSTED, seen.text
    assert "does not verify against the given CA" in seen.text


def test_expired_certificate(envoy_gateway_with: Factory, run_certs: RunCertificates) -> None:
    run = envoy_gateway_with(cert=run_certs.expired)
    seen = gateway.tls_simple(run.target)
    assert seen.outcome is Outcome.BROKEN
    assert seen.results[0].kind is Kind.CERT_EXPIRED, seen.text


def test_certificate_for_another_host(envoy_gateway_with: Factory,
                                      run_certs: RunCertificates) -> None:
    run = envoy_gateway_with(cert=run_certs.other_host)
    seen = gateway.tls_simple(run.target)
    assert seen.outcome is Outcome.BROKEN
    assert seen.results[0].kind is Kind.HOSTNAME_MISMATCH, seen.text
    assert "not for 'app.example.com'" in seen.text


def test_sni_not_enforced(envoy_gateway_with: Factory) -> None:
    run = envoy_gateway_with(faults=GatewayFaults(sni_not_enforced=True))
    seen = gateway.tls_sni_match(run.target)
    assert seen.outcome is Outcome.BROKEN
    right, wrong, none = seen.results
    assert right.kind is Kind.HTTP_STATUS
    assert wrong.kind is Kind.HTTP_STATUS  # the handshake completed for the wrong SNI
    assert none.kind is Kind.HTTP_STATUS
    assert "expected tls-refused, got HTTP 200" in seen.text
    assert "SNI is not enforced" in seen.text
    assert run.envoy.stat("listener.https.downstream_cx_total") >= 9
    assert run.envoy.stat("listener.https.no_filter_chain_match") == 0


def test_sni_refusal_is_envoys_no_filter_chain_match(envoy_gateway_with: Factory) -> None:
    run = envoy_gateway_with()
    seen = gateway.tls_sni_match(run.target)
    assert seen.outcome is Outcome.HOLDS, seen.text
    assert [r.kind for r in seen.results[1:]] == [Kind.TLS_HANDSHAKE_FAILED] * 2
    # Envoy's own count agrees: 2 refusal probes x 3 consecutive attempts
    assert run.envoy.stat("listener.https.no_filter_chain_match") == 6


def test_unknown_host_routed(envoy_gateway_with: Factory) -> None:
    run = envoy_gateway_with(faults=GatewayFaults(catch_all_route=True))
    seen = gateway.routes_by_host(run.target)
    assert seen.outcome is Outcome.BROKEN
    assert seen.results[1].is_status(200)
    assert "expected status(404), got HTTP 200" in seen.text
    assert "catch-all route" in seen.text


def test_health_listener_missing(envoy_gateway_with: Factory) -> None:
    run = envoy_gateway_with(faults=GatewayFaults(no_health=True))
    seen = gateway.health(run.target)
    assert seen.outcome is Outcome.BROKEN
    assert seen.results[0].kind is Kind.TCP_REFUSED
    assert "no :15021 listener" in seen.text


# ---------------------------------------------------------------- deployKF's 307 (issue 12)


def test_virtual_service_redirect_307_holds(envoy_gateway_with: Factory) -> None:
    """deployKF's VirtualService redirect as istiod translates it: 307 to https, port 443
    dropped from the Location (route.go ApplyRedirect)."""
    from meshconform.dataplane.gateway_config import VirtualServiceRedirect  # noqa: PLC0415

    run = envoy_gateway_with(vs_redirect=VirtualServiceRedirect("https", 443, 307))
    seen = gateway.virtual_service_redirect(run.target)
    assert seen.outcome is Outcome.HOLDS, seen.text
    (result,) = seen.results
    assert (result.status, result.location) == (307, "https://app.example.com/")


@pytest.mark.parametrize(("redirect", "message"), [
    # the Gateway's httpsRedirect (what deployKF avoids)
    (None, "expected redirect-to-https(307), got 301 -> https://app.example.com/"),
    # the VirtualService with the default code
    ((301,), "expected redirect-to-https(307), got 301 -> https://app.example.com/"),
    ((307, 8443), "Location port is 8443, not 443"),  # a non-standard https port
])
def test_virtual_service_redirect_faults(envoy_gateway_with: Factory, redirect: tuple[int, ...]
                                         | None, message: str) -> None:
    from meshconform.dataplane.gateway_config import VirtualServiceRedirect  # noqa: PLC0415

    vs = None
    if redirect is not None:
        code, *port = redirect
        vs = VirtualServiceRedirect("https", port[0] if port else 443, code)
    run = envoy_gateway_with(vs_redirect=vs)
    seen = gateway.virtual_service_redirect(run.target)
    assert seen.outcome is Outcome.BROKEN
    assert message in seen.text, seen.text
