"""Each egress evaluator against REGISTRY_ONLY and against ALLOW_ANY / missing ServiceEntries."""

from __future__ import annotations

from collections.abc import Callable

from meshconform.claims import Outcome
from meshconform.dataplane.scenarios import SidecarRun
from meshconform.dataplane.sidecar_config import OutboundPolicy
from meshconform.traffic import egress
from meshconform.traffic.result import Kind

Factory = Callable[..., SidecarRun]


def test_registry_only_conforms(envoy_sidecar_registry_only: SidecarRun) -> None:
    target = envoy_sidecar_registry_only.target
    blocked = egress.registry_only_blocks(target)
    assert blocked.outcome is Outcome.HOLDS, blocked.text
    assert blocked.evidence[0].startswith("ok: blocked-by-registry: GET http://")
    http, tls = blocked.results
    assert http.is_status(502)
    assert tls.kind is Kind.TLS_HANDSHAKE_FAILED
    for evaluate in (egress.service_entry_allows_http, egress.service_entry_allows_tls):
        seen = evaluate(target)
        assert seen.outcome is Outcome.HOLDS, seen.text


def test_allow_any_instead_of_registry_only(envoy_sidecar_with: Factory) -> None:
    run = envoy_sidecar_with(policy=OutboundPolicy.ALLOW_ANY)
    seen = egress.registry_only_blocks(run.target)
    assert seen.outcome is Outcome.BROKEN
    http, tls = seen.results
    assert http.is_status(200)
    assert "internet-http" in http.body  # it went through the passthrough cluster
    assert tls.kind is Kind.HTTP_STATUS
    assert "expected blocked-by-registry, got HTTP 200 from GET http://" in seen.text
    assert "REGISTRY_ONLY is not enforced for HTTP" in seen.text
    assert "REGISTRY_ONLY is not enforced for TLS" in seen.text


def test_service_entry_missing(envoy_sidecar_with: Factory) -> None:
    run = envoy_sidecar_with(service_entries=False)
    http = egress.service_entry_allows_http(run.target)
    assert http.outcome is Outcome.BROKEN
    assert http.results[0].is_status(502)
    assert "expected ok, got HTTP 502" in http.text
    assert "no ServiceEntry admits this host" in http.text
    tls = egress.service_entry_allows_tls(run.target)
    assert tls.outcome is Outcome.BROKEN
    assert tls.results[0].kind is Kind.TLS_HANDSHAKE_FAILED
    assert "no ServiceEntry admits this SNI" in tls.text
