"""One evaluator, two transports: the egress and gateway evaluators through curl.

The pod transport takes any exec function. Here it is this machine's own curl, run as
a subprocess (what a process pod's exec does, minus the network namespace), against
the same real Envoy the host transport probes. Both transports must reach the same
outcome and the same classification, for the conforming configuration and for the
faults: otherwise the live tier (curl in a pod) and the dataplane tier (host) would
judge one claim differently.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Callable

import pytest

from meshconform.claims import Outcome
from meshconform.dataplane.gateway_config import GatewayFaults
from meshconform.dataplane.scenarios import GatewayRun, SidecarRun
from meshconform.dataplane.sidecar_config import OutboundPolicy
from meshconform.traffic import egress, gateway
from meshconform.traffic.observation import Observation
from meshconform.traffic.result import Kind, Via
from meshconform.traffic.transport import ExecOutput, HostTransport, PodExecTransport

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl on PATH")


def local_exec(command: list[str]) -> ExecOutput:
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    return ExecOutput(done.returncode, done.stdout, done.stderr)


CURL = PodExecTransport(local_exec, "local-curl", interval=0.01)


def _both(evaluate: Callable[..., Observation], target: object) -> tuple[Observation, Observation]:
    host = evaluate(dataclasses.replace(target, transport=HostTransport()))  # type: ignore[type-var]
    pod = evaluate(dataclasses.replace(target, transport=CURL))  # type: ignore[type-var]
    assert all(r.via is Via.POD for r in pod.results)
    return host, pod


def _same(host: Observation, pod: Observation, outcome: Outcome) -> list[Kind]:
    assert host.outcome is outcome, host.text
    assert pod.outcome is outcome, pod.text
    assert [r.kind for r in pod.results] == [r.kind for r in host.results], pod.text
    assert [r.status for r in pod.results] == [r.status for r in host.results], pod.text
    return [r.kind for r in pod.results]


@pytest.mark.parametrize("evaluate", list(egress.EGRESS_EVALUATORS.values()),
                         ids=list(egress.EGRESS_EVALUATORS))
def test_egress_conforming_same_through_curl(envoy_sidecar_registry_only: SidecarRun,
                                             evaluate: Callable[..., Observation]) -> None:
    _same(*_both(evaluate, envoy_sidecar_registry_only.target), Outcome.HOLDS)


def test_registry_only_blocked_through_curl_is_502_and_exit_35(
        envoy_sidecar_registry_only: SidecarRun) -> None:
    _, pod = _both(egress.registry_only_blocks, envoy_sidecar_registry_only.target)
    http, tls = pod.results
    assert (http.exit_code, http.status) == (0, 502)
    assert (tls.exit_code, tls.kind) == (35, Kind.TLS_HANDSHAKE_FAILED)
    assert pod.evidence[0].startswith("ok: blocked-by-registry: local-curl: GET http://")


def test_allow_any_breaks_registry_only_through_curl(envoy_sidecar_with: Callable[...,
                                                     SidecarRun]) -> None:
    run = envoy_sidecar_with(policy=OutboundPolicy.ALLOW_ANY)
    host, pod = _both(egress.registry_only_blocks, run.target)
    _same(host, pod, Outcome.BROKEN)
    assert "expected blocked-by-registry, got HTTP 200 from local-curl: GET http://" in pod.text
    assert "internet-http" in pod.results[0].body


def test_missing_service_entries_break_the_allow_claims_through_curl(
        envoy_sidecar_with: Callable[..., SidecarRun]) -> None:
    run = envoy_sidecar_with(service_entries=False)
    for evaluate in (egress.service_entry_allows_http, egress.service_entry_allows_tls):
        host, pod = _both(evaluate, run.target)
        _same(host, pod, Outcome.BROKEN)
        assert "expected ok, got " in pod.text


@pytest.mark.parametrize("claim_id", list(gateway.GATEWAY_EVALUATORS))
def test_gateway_conforming_same_through_curl(envoy_gateway: GatewayRun, claim_id: str) -> None:
    _same(*_both(gateway.GATEWAY_EVALUATORS[claim_id], envoy_gateway.target), Outcome.HOLDS)


def test_gateway_faults_same_through_curl(envoy_gateway_with: Callable[..., GatewayRun]) -> None:
    run = envoy_gateway_with(faults=GatewayFaults(sni_not_enforced=True, no_redirect=True))
    assert _same(*_both(gateway.tls_sni_match, run.target), Outcome.BROKEN) == [
        Kind.HTTP_STATUS] * 3
    assert _same(*_both(gateway.https_redirect, run.target), Outcome.BROKEN) == [
        Kind.HTTP_STATUS]
