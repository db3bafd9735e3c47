"""Each gateway evaluator against istiod's config for conforming resources, and against the
resource mistake that breaks it (meshconform.dataplane.gateway_resources).

Every fault case asserts the classification, not only "failed": the point of the probes
is to tell a user which of the many ways it went wrong. Where Envoy counts the reason
itself (no filter chain, no client certificate), its counter is asserted too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from meshconform.claims import Outcome
from meshconform.dataplane.gateway_config import GatewayFaults, VirtualServiceRedirect
from meshconform.dataplane.gateway_resources import IstiodGatewayRun, ResourceFaults
from meshconform.traffic import gateway
from meshconform.traffic.result import Kind

Factory = Callable[..., Any]


@pytest.mark.parametrize("claim_id", list(gateway.GATEWAY_EVALUATORS))
def test_conforming_resources_hold(envoy_gateway: IstiodGatewayRun, claim_id: str) -> None:
    seen = gateway.GATEWAY_EVALUATORS[claim_id](envoy_gateway.target)
    assert seen.outcome is Outcome.HOLDS, seen.text


def test_conforming_config_is_istiods(envoy_gateway: IstiodGatewayRun) -> None:
    """The gateway really is istiod's: RDS names from the Gateway, SDS for credentialName."""
    dump, _ = envoy_gateway.lab.config_dump()
    ns = envoy_gateway.served.namespace
    assert f"https.443.https.mc-gateway.{ns}" in dump
    assert envoy_gateway.target.host in dump
    secrets = envoy_gateway.lab.admin("/config_dump?resource=dynamic_active_secrets")
    assert "kubernetes://mc-gw-" in secrets


def test_http_server_without_https_redirect(envoy_gateway_with: Factory) -> None:
    run = envoy_gateway_with(faults=ResourceFaults(no_https_redirect=True))
    seen = gateway.https_redirect(run.target)
    assert seen.outcome is Outcome.BROKEN
    (result,) = seen.results
    # routed to the stand-in backend instead of redirected
    assert (result.kind, result.status) == (Kind.HTTP_STATUS, 200), seen.text
    assert "expected redirect-to-https(301), got HTTP 200" in seen.text


def test_virtual_service_redirect_to_wrong_scheme(envoy_gateway_with: Factory) -> None:
    wrong = VirtualServiceRedirect("http", 80, 301)
    run = envoy_gateway_with(faults=ResourceFaults(vs_redirect=wrong))
    seen = gateway.https_redirect(run.target)
    assert seen.outcome is Outcome.BROKEN
    (result,) = seen.results
    assert result.kind is Kind.REDIRECT
    assert result.location == f"http://{run.target.host}/"
    assert "scheme is 'http'" in seen.text


def test_secret_from_another_ca(envoy_gateway_with: Factory) -> None:
    run = envoy_gateway_with(cert="untrusted")
    seen = gateway.tls_simple(run.target)
    assert seen.outcome is Outcome.BROKEN
    assert seen.results[0].kind is Kind.CERT_UNTRUSTED, seen.text
    assert "does not verify against the given CA" in seen.text


def test_secret_with_expired_certificate(envoy_gateway_with: Factory) -> None:
    """istiod serves the expired certificate as it is (no check of its validity on the way):
    the handshake fails on the client's side with 'certificate has expired'."""
    run = envoy_gateway_with(cert="expired")
    seen = gateway.tls_simple(run.target)
    assert seen.outcome is Outcome.BROKEN
    assert seen.results[0].kind is Kind.CERT_EXPIRED, seen.text
    assert "expired" in seen.text


def test_secret_with_another_hosts_certificate(envoy_gateway_with: Factory) -> None:
    run = envoy_gateway_with(cert="other_host")
    seen = gateway.tls_simple(run.target)
    assert seen.outcome is Outcome.BROKEN
    assert seen.results[0].kind is Kind.HOSTNAME_MISMATCH, seen.text
    assert f"not for '{run.target.host}'" in seen.text


def test_tls_mode_mutual_instead_of_simple(envoy_gateway_with: Factory) -> None:
    """MUTUAL: the gateway demands a client certificate the documented SIMPLE server never
    asks for; Envoy counts the handshakes without one."""
    run = envoy_gateway_with(faults=ResourceFaults(tls_mode="MUTUAL"))
    before = run.stat("ssl.fail_verify_no_cert")
    seen = gateway.tls_simple(run.target)
    assert seen.outcome is Outcome.BROKEN, seen.text
    assert seen.results[0].kind is not Kind.HTTP_STATUS
    assert run.stat("ssl.fail_verify_no_cert") > before, seen.text


def test_https_server_for_any_host(envoy_gateway_with: Factory) -> None:
    run = envoy_gateway_with(faults=ResourceFaults(any_host=True))
    before = run.stat("no_filter_chain_match")
    seen = gateway.tls_sni_match(run.target)
    assert seen.outcome is Outcome.BROKEN
    right, wrong, none = seen.results
    assert right.kind is Kind.HTTP_STATUS
    assert wrong.kind is Kind.HTTP_STATUS  # the handshake completed for the wrong SNI
    assert none.kind is Kind.HTTP_STATUS
    assert "expected tls-refused, got HTTP 200" in seen.text
    assert "SNI is not enforced" in seen.text
    assert run.stat("no_filter_chain_match") == before


def test_sni_refusal_is_envoys_no_filter_chain_match(envoy_gateway_with: Factory) -> None:
    run = envoy_gateway_with()
    before = run.stat("no_filter_chain_match")
    seen = gateway.tls_sni_match(run.target)
    assert seen.outcome is Outcome.HOLDS, seen.text
    assert [r.kind for r in seen.results[1:]] == [Kind.TLS_HANDSHAKE_FAILED] * 2
    # Envoy's own count agrees: 2 refusal probes x 3 consecutive attempts
    assert run.stat("no_filter_chain_match") - before == 6


def test_virtual_service_for_any_host_alone_is_confined(envoy_gateway_with: Factory) -> None:
    """Finding: a VirtualService for '*' on a Gateway whose servers name their hosts gets
    only those hosts (istiod intersects them); an unknown host still gets 404."""
    run = envoy_gateway_with(faults=ResourceFaults(catch_all_virtual_service=True))
    seen = gateway.routes_by_host(run.target)
    assert seen.outcome is Outcome.HOLDS, seen.text


def test_virtual_service_for_any_host_on_a_server_for_any_host(envoy_gateway_with: Factory
                                                              ) -> None:
    run = envoy_gateway_with(
        faults=ResourceFaults(any_host=True, catch_all_virtual_service=True))
    seen = gateway.routes_by_host(run.target)
    assert seen.outcome is Outcome.BROKEN
    assert seen.results[1].is_status(200), seen.text
    assert "expected status(404), got HTTP 200" in seen.text


def test_no_status_listener_handwritten(envoy_gateway_with: Factory) -> None:
    """Hand-written on purpose: the :15021 listener is pilot-agent's bootstrap, not istiod's
    output, so no Istio resource removes it (docs/dataplane.md)."""
    run = envoy_gateway_with(faults=GatewayFaults(no_health=True))
    seen = gateway.health(run.target)
    assert seen.outcome is Outcome.BROKEN
    assert seen.results[0].kind is Kind.TCP_REFUSED
    assert "no :15021 listener" in seen.text


# ---------------------------------------------------------------- deployKF's 307 (issue 12)


def test_virtual_service_redirect_307_holds(envoy_gateway_with: Factory) -> None:
    """deployKF's VirtualService redirect compiled by istiod: 307 to https, port 443 not in
    the Location."""
    run = envoy_gateway_with(vs_redirect=VirtualServiceRedirect("https", 443, 307))
    seen = gateway.virtual_service_redirect(run.target)
    assert seen.outcome is Outcome.HOLDS, seen.text
    (result,) = seen.results
    assert (result.status, result.location) == (307, f"https://{run.target.host}/")


@pytest.mark.parametrize(("redirect", "message"), [
    # the Gateway's httpsRedirect (what deployKF avoids)
    (None, "expected redirect-to-https(307), got 301 -> https://{host}/"),
    # the VirtualService with the default code
    ((301,), "expected redirect-to-https(307), got 301 -> https://{host}/"),
    ((307, 8443), "Location port is 8443, not 443"),  # a non-standard https port
])
def test_virtual_service_redirect_faults(envoy_gateway_with: Factory, redirect: tuple[int, ...]
                                         | None, message: str) -> None:
    vs = None
    if redirect is not None:
        code, *port = redirect
        vs = VirtualServiceRedirect("https", port[0] if port else 443, code)
    run = envoy_gateway_with(vs_redirect=vs)
    seen = gateway.virtual_service_redirect(run.target)
    assert seen.outcome is Outcome.BROKEN
    assert message.format(host=run.target.host) in seen.text, seen.text
