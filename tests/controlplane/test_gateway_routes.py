"""gateway-routes-by-host on the controlplane cluster, with a real backend pod.

One control plane, Istio (sidecar mode), gateway and process kubelet for the module. The
backend is echo, a process pod behind STRICT mTLS; the gateway (processes on the machine)
reaches it at its podIP over the node's machine link. Each test applies the live check's
Gateway + VirtualServices (:func:`~meshconform.dataplane.gateway_resources.gateway_resources`,
optionally with a resource fault) and judges them with the live check's evaluator
(:func:`meshconform.traffic.gateway.routes_by_host`): the conforming resources hold it, a
missing or misrouting VirtualService for the second host breaks it (BROKEN, not an error).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from meshconform import manifests
from meshconform.certs import TestCA
from meshconform.claims import Outcome
from meshconform.dataplane.gateway_resources import HOST_DOMAIN, ResourceFaults, gateway_resources
from meshconform.live.clusters import Cluster
from meshconform.live.controlplane.gateway import reattach_gateway
from meshconform.live.controlplane.pods import netns
from meshconform.live.controlplane.pods.kubelet import ProcessKubelet
from meshconform.live.kube import Kube
from meshconform.traffic import gateway as gw
from meshconform.traffic.expect import Expect
from meshconform.traffic.observation import Observation
from meshconform.wait import Decision, Done, Failed, Pending, Timeouts, wait_until

from .planes import istio_plane, require_process_pods

ISTIO_NAMESPACE = "istio-system"
GATEWAY_IDENTITY = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"


@dataclass
class Plane:
    cluster: Cluster
    kubelet: ProcessKubelet
    ca: TestCA
    timeouts: Timeouts
    #: echo's namespace (STRICT) and its pod's address
    echo_ns: str
    echo_ip: str


def ready_pod(kube: Kube, namespace: str, selector: str) -> Decision[dict[str, Any]]:
    found = kube.list("v1", "Pod", namespace, label_selector=selector)
    for pod in found:
        status = pod.get("status") or {}
        if status.get("reason") == "ProcessPodFailed":
            return Failed(str(status.get("message")))
        if any(c["type"] == "Ready" and c["status"] == "True"
               for c in status.get("conditions") or []):  # fmt: skip
            return Done(pod)
    return Pending(f"pods: {[p.get('status') for p in found]}")


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    require_process_pods()
    with istio_plane() as (cluster, timeouts):
        kubelet = cluster.plane.kubelet if cluster.plane is not None else None
        assert kubelet is not None, cluster.process_pods_unsupported
        kube = cluster.kube
        ns = f"mc-gwr-echo-{secrets.token_hex(3)}"
        kube.create_namespace(ns, {"istio-injection": "enabled"})
        kube.apply_all(manifests.load_manifests("security/peer-authentication.yaml",
                                                MTLS_MODE="STRICT"), ns)  # fmt: skip
        kube.apply_all(manifests.load_manifests("workloads/echo.yaml"), ns)
        echo = wait_until("echo Ready", lambda: ready_pod(kube, ns, "app=echo"), timeout=90,
                          interval=0.25)  # fmt: skip
        ca = TestCA.create(tmp_path_factory.mktemp("ca"))
        yield Plane(cluster, kubelet, ca, timeouts, ns, str(echo["status"]["podIP"]))


@dataclass
class Routes:
    target: gw.GatewayTarget
    other_host: str

    def observe(self) -> Observation:
        """The live check's observation (gateway-routes-by-host, both hosts)."""
        return gw.routes_by_host(self.target, self.other_host)


@pytest.fixture
def routes(plane: Plane, request: pytest.FixtureRequest) -> Iterator[Routes]:
    """The live check's resources for fresh hosts, with the test's ``faults`` (indirect
    parameter), served once the first host reaches echo (200)."""
    faults: ResourceFaults = getattr(request, "param", ResourceFaults())
    kube = plane.cluster.kube
    suffix = secrets.token_hex(3)
    host, other = f"{suffix}.{HOST_DOMAIN}", f"other-{suffix}.{HOST_DOMAIN}"
    credential = f"mc-gw-{suffix}"
    objects = gateway_resources(host, other, credential, plane.ca.issue([host, other],
                                stem=credential), ca_pem=plane.ca.cert_path.read_bytes(),
                                backend=f"echo.{plane.echo_ns}.svc.cluster.local",
                                faults=faults)  # fmt: skip
    secret, rest = objects[0], objects[1:]
    kube.apply(secret, ISTIO_NAMESPACE)
    kube.apply_all(rest, plane.echo_ns)
    endpoint = plane.cluster.gateway
    assert endpoint is not None
    target = gw.GatewayTarget(address=endpoint.host, host=host, ca=plane.ca.cert_path,
                              https_port=endpoint.https_port, http_port=endpoint.http_port,
                              health_port=endpoint.status_port, path="/get",
                              timeouts=plane.timeouts)  # fmt: skip
    served = Expect.ok(200)

    def reached() -> Decision[None]:
        result = target.transport.send(target.https())
        return Done(None) if served.met(result) else Pending(str(result))

    wait_until(f"{host} routed to echo ({plane.echo_ip})", reached, timeout=60, interval=0.25)
    try:
        yield Routes(target, other)
    finally:
        for obj in rest:
            kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], plane.echo_ns)
        kube.delete("v1", "Secret", credential, ISTIO_NAMESPACE)


def test_conforming_resources_hold_routes_by_host(plane: Plane, routes: Routes) -> None:
    observation = routes.observe()
    assert observation.outcome is Outcome.HOLDS, observation.text


def test_gateway_reaches_echo_by_its_pod_ip_over_mtls(plane: Plane, routes: Routes) -> None:
    """istiod gave the gateway's proxy echo's endpoint (its podIP, on the node's podCIDR);
    echo's sidecar accepted the gateway's mTLS: it forwards the gateway's identity."""
    assert plane.cluster.plane is not None
    running = reattach_gateway(plane.cluster.plane)
    assert running is not None
    clusters = subprocess.run(
        ["curl", "-s", "--max-time", "5", f"http://127.0.0.1:{running.ports.admin}/clusters"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    echo_cluster = f"outbound|80||echo.{plane.echo_ns}.svc.cluster.local::{plane.echo_ip}:"
    assert echo_cluster in clusters, clusters[-2000:]
    assert ipaddress.IPv4Address(plane.echo_ip) in plane.kubelet.cidr
    routes_here = [r for r in netns.machine_routes() if r == plane.kubelet.cidr]
    assert routes_here, f"no route for {plane.kubelet.cidr} on the machine"
    target = routes.target
    answer = subprocess.run(
        ["curl", "-s", "--max-time", "5", "--cacert", str(target.ca), "--resolve",
         f"{target.host}:{target.https_port}:{target.address}",
         f"https://{target.host}:{target.https_port}/get"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    headers = {k.lower(): v for k, v in json.loads(answer)["headers"].items()}
    xfcc = " ".join(headers.get("x-forwarded-client-cert", []))
    # set by echo's inbound sidecar from the peer certificate of the mTLS connection
    assert f"URI={GATEWAY_IDENTITY}" in xfcc, headers


@pytest.mark.parametrize(
    ("routes", "seen"),
    [
        pytest.param(ResourceFaults(no_other_host_route=True), 404, id="second-vs-missing"),
        pytest.param(ResourceFaults(other_host_path="/get"), 200, id="second-vs-wrong-path"),
    ],
    indirect=["routes"],
)
def test_faulty_second_host_route_breaks_routes_by_host(routes: Routes, seen: int) -> None:
    observation = routes.observe()
    assert observation.outcome is Outcome.BROKEN, observation.text
    first, unknown, second = observation.seen
    assert first.verdict is True, observation.text
    assert unknown.verdict is True, observation.text
    assert second.result.status == seen, observation.text
