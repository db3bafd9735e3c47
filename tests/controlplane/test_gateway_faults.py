"""The controlplane gateway, for real: pilot-agent + upstream Envoy serving istiod's config.

One control plane, Istio install and gateway for the module (real processes, the suite
cache's binaries). Each test applies Istio resources (Gateway / VirtualService / Secret)
as a team would, lets the real istiod compile them, and judges the gateway with the same
evaluators the live checks use (meshconform.traffic.gateway). The conforming resources give
zero failures; each resource fault fails its claim for the right reason. Afterwards no
pilot-agent or Envoy of the plane is left running.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshconform import manifests
from meshconform.certs import TestCA
from meshconform.live.clusters import Cluster
from meshconform.live.controlplane.gateway import PROCESS
from meshconform.live.controlplane.processes import pid_alive
from meshconform.traffic import gateway as gw
from meshconform.traffic.request import probe
from meshconform.traffic.result import Kind, TrafficResult
from meshconform.wait import Done, Pending, Timeouts, wait_until

from .planes import istio_plane

ISTIO_NAMESPACE = "istio-system"


@dataclass
class Plane:
    cluster: Cluster
    ca: TestCA
    timeouts: Timeouts
    pids: list[int]


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    pids: list[int] = []
    with istio_plane() as (cluster, timeouts):
        assert cluster.plane is not None
        gateway = cluster.plane.processes.get(PROCESS)
        assert gateway is not None
        pids = [gateway.pid, *_children(gateway.pid)]
        envoy = [p for p in pids[1:] if b"envoy" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert envoy, f"no Envoy under pilot-agent {gateway.pid}: {pids}"
        ca = TestCA.create(tmp_path_factory.mktemp("ca"))
        yield Plane(cluster, ca, timeouts, pids)
        # an interrupted run: pilot-agent killed outright; Envoy must not outlive it
        os.kill(gateway.pid, signal.SIGKILL)
        wait_until("Envoy gone with pilot-agent", lambda: _gone(pids), timeout=10, interval=0.1)
    left = [pid for pid in pids if pid_alive(pid)]
    assert not left, f"gateway processes still running after the plane stopped: {left}"


def _gone(pids: list[int]) -> Pending | Done[None]:
    alive = [pid for pid in pids if pid_alive(pid)]
    return Pending(f"still running: {alive}") if alive else Done(None)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text("utf-8").split()
        found += [int(c) for c in children]
    return found


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


Edit = Callable[[list[dict[str, Any]]], None]


def serve(plane: Plane, *, gateway_edit: Edit | None = None, cert_for: str | None = None,
          expired: bool = False, ca_in_secret: bool = False) -> Iterator[gw.GatewayTarget]:
    """Apply the live checks' Gateway + VirtualServices (fixtures/gateway/) for fresh hosts,
    optionally altered (a resource fault), and yield the probe target once it is served."""
    kube = plane.cluster.kube
    suffix = secrets.token_hex(3)
    ns = f"mc-gwfault-{suffix}"
    host, other = f"{suffix}.gw.meshconform.test", f"other-{suffix}.gw.meshconform.test"
    credential = f"mc-gw-{suffix}"
    issue = plane.ca.issue_expired if expired else plane.ca.issue
    cert = issue([cert_for or host, other], stem=credential)
    kube.create_namespace(ns, {})
    secret = manifests.load_manifests(
        "workloads/tls-secret.yaml", NAME=credential, TLS_CRT_B64=b64(cert.cert_pem()),
        TLS_KEY_B64=b64(cert.key_pem()))
    if ca_in_secret:
        secret[0]["data"]["ca.crt"] = b64(plane.ca.cert_path.read_bytes())
    kube.apply_all(secret, ISTIO_NAMESPACE)
    gateway = manifests.load_manifests("gateway/gateway.yaml", HOST=host, OTHER_HOST=other,
                                       CREDENTIAL=credential)
    if gateway_edit is not None:
        gateway_edit(gateway)
    kube.apply_all(gateway, ns)
    kube.apply_all(manifests.load_manifests(
        "gateway/virtual-services.yaml", HOST=host, OTHER_HOST=other,
        BACKEND=f"echo.{ns}.svc.cluster.local"), ns)
    endpoint = plane.cluster.gateway
    assert endpoint is not None
    target = gw.GatewayTarget(address=endpoint.host, host=host, ca=plane.ca.cert_path,
                              https_port=endpoint.https_port, http_port=endpoint.http_port,
                              health_port=endpoint.status_port, path="/get",
                              timeouts=plane.timeouts)

    def served() -> Pending | Done[TrafficResult]:
        # the host's route is served on plain HTTP (a 301 or an answer), whatever the fault
        result = probe(target.http(target.http_port))
        ok = result.kind in (Kind.HTTP_STATUS, Kind.REDIRECT) and result.status != 404
        return Done(result) if ok else Pending(str(result))

    wait_until(f"istiod's config for {host} served", served, timeout=60, interval=0.25)
    try:
        yield target
    finally:
        kube.delete_namespace(ns)
        kube.delete("v1", "Secret", credential, ISTIO_NAMESPACE)


def test_gateway_comes_up_and_conforming_resources_hold(plane: Plane) -> None:
    rejections = plane.cluster.gateway_rejections
    assert rejections is not None
    before = set(rejections())
    for conforming in serve(plane):
        _holds_all(conforming)
    assert set(rejections()) == before, "Envoy rejected istiod's config for conforming resources"
    evidence = "\n".join(plane.cluster.istio_evidence)
    assert "PILOT_ENABLE_METADATA_EXCHANGE=false" in evidence
    assert "ingress gateway: pilot-agent (router) + upstream Envoy" in evidence


def _holds_all(conforming: gw.GatewayTarget) -> None:
    observations = [gw.tls_simple(conforming), gw.tls_sni_match(conforming),
                    gw.https_redirect(conforming), gw.health(conforming)]
    failed = [o for o in observations if not o.holds]
    assert not failed, [o.evidence for o in failed]


def _no_redirect(objs: list[dict[str, Any]]) -> None:
    for server in objs[0]["spec"]["servers"]:
        server.pop("tls", None) if server["port"]["protocol"] == "HTTP" else None


def test_gateway_server_without_https_redirect_fails_redirect(plane: Plane) -> None:
    for target in serve(plane, gateway_edit=_no_redirect):
        observation = gw.https_redirect(target)
        assert not observation.holds
        # routed to the (absent) backend instead of redirected
        assert observation.results[0].kind is Kind.HTTP_STATUS, observation.evidence


def test_secret_with_another_hosts_certificate_fails_tls(plane: Plane) -> None:
    for target in serve(plane, cert_for="somebody-else.meshconform.test"):
        observation = gw.tls_simple(target)
        assert not observation.holds
        assert observation.results[0].kind is Kind.HOSTNAME_MISMATCH, observation.evidence


def test_secret_with_expired_certificate_fails_tls(plane: Plane) -> None:
    for target in serve(plane, expired=True):
        observation = gw.tls_simple(target)
        assert not observation.holds
        # istiod hands the expired certificate to Envoy as it is; the client refuses it
        assert observation.results[0].kind is Kind.CERT_EXPIRED, observation.evidence


def _mutual(objs: list[dict[str, Any]]) -> None:
    for server in objs[0]["spec"]["servers"]:
        if server["port"]["protocol"] == "HTTPS":
            server["tls"]["mode"] = "MUTUAL"


def test_tls_mode_mutual_fails_tls_simple(plane: Plane) -> None:
    for target in serve(plane, gateway_edit=_mutual, ca_in_secret=True):
        observation = gw.tls_simple(target)
        assert not observation.holds
        # the handshake ends with Envoy asking for a client certificate the probe (like a
        # browser on a SIMPLE server) does not have
        assert observation.results[0].kind not in (Kind.HTTP_STATUS, Kind.REDIRECT), (
            observation.evidence)


def _any_host(objs: list[dict[str, Any]]) -> None:
    for server in objs[0]["spec"]["servers"]:
        if server["port"]["protocol"] == "HTTPS":
            server["hosts"] = ["*"]


def test_https_server_for_any_host_fails_sni_match(plane: Plane) -> None:
    for target in serve(plane, gateway_edit=_any_host):
        observation = gw.tls_sni_match(target)
        assert not observation.holds
        # the handshake with a wrong SNI completes: no filter chain per SNI refuses it
        refused = [r for r in observation.results[1:] if r.kind.is_tls_rejection]
        assert len(refused) < 2, observation.evidence


#: an istio-proxy-only filter, as a team's EnvoyFilter might add it: upstream Envoy has
#: no such extension and must reject (NACK) the listener
ALPN_ENVOY_FILTER: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1alpha3",
    "kind": "EnvoyFilter",
    "metadata": {"name": "mc-istio-only-filter", "namespace": ISTIO_NAMESPACE},
    "spec": {
        "workloadSelector": {"labels": {"istio": "ingressgateway"}},
        "configPatches": [{
            "applyTo": "HTTP_FILTER",
            "match": {"context": "GATEWAY", "listener": {"filterChain": {"filter": {
                "name": "envoy.filters.network.http_connection_manager",
                "subFilter": {"name": "envoy.filters.http.router"}}}}},
            "patch": {"operation": "INSERT_BEFORE", "value": {
                "name": "istio.alpn",
                "typed_config": {
                    "@type": "type.googleapis.com/istio.envoy.config.filter.http.alpn."
                             "v2alpha1.FilterConfig",
                    "alpn_override": [{"alpn_override": ["istio-http/1.1"]}]}}},
        }],
    },
}


def test_a_rejected_resource_is_reported_with_envoys_message(plane: Plane) -> None:
    rejections = plane.cluster.gateway_rejections
    assert rejections is not None
    before = set(rejections())
    kube = plane.cluster.kube
    for _target in serve(plane):
        kube.apply(ALPN_ENVOY_FILTER)
        try:
            def rejected() -> Pending | Done[list[str]]:
                new = [line for line in rejections() if line not in before]
                return Done(new) if new else Pending("no rejection yet")

            new = wait_until("Envoy rejects the EnvoyFilter's listener", rejected, timeout=60,
                             interval=0.25)
        finally:
            kube.delete("networking.istio.io/v1alpha3", "EnvoyFilter",
                        "mc-istio-only-filter", ISTIO_NAMESPACE)
        text = "\n".join(new)
        print(text)  # shown with -s: Envoy's own words
        assert "update_rejected" in new[0], text
        # Envoy's message, from the gateway's log, names what it could not load
        assert any("rejected" in line and "alpn" in line for line in new[1:]), text
