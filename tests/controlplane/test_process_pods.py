"""Process pods, for real: a pod injected by istiod, built as namespaces and processes.

One control plane + Istio (sidecar mode) for the module, with the process kubelet. A pod
bound to its node gets a network namespace with a real address (its ``status.podIP``),
Istio's rules from its own ``istio-init`` arguments, and pilot-agent + Envoy as UID 1337
with a workload certificate from istiod; Ready comes from ``/healthz/ready``. Deleting
the pod, stopping the plane, or killing the process that runs it leaves no namespace,
link, rule or process.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshconform import manifests
from meshconform.certs import TestCA
from meshconform.evidence import ClusterKind
from meshconform.live.clusters import Cluster
from meshconform.live.controlplane import binaries as cp_binaries
from meshconform.live.controlplane import pods
from meshconform.live.controlplane.pods import netns
from meshconform.live.controlplane.pods.kubelet import NODE, ProcessKubelet
from meshconform.live.controlplane.processes import pid_alive
from meshconform.live.controlplane.provider import ControlPlaneProvider, install_istio
from meshconform.live.kube import Kube
from meshconform.modes import get_mode
from meshconform.traffic.curl import (
    CurlResult,
    reached,
    registry_blocked_http,
    registry_blocked_tls,
)
from meshconform.versions import get_istio_release
from meshconform.wait.observed import PodClient, settle
from meshconform.wait.waiters import Decision, Done, Failed, Pending, Timeouts, wait_until

from .conftest import TEST_ISTIO


def in_namespaces(inodes: set[str]) -> list[str]:
    """Processes on the machine inside any of these network namespaces (pid and command)."""
    found = []
    for task in Path("/proc").glob("[0-9]*"):
        try:
            if str((task / "ns/net").readlink()) in inodes:
                found.append(f"{task.name} {(task / 'cmdline').read_bytes()[:120]!r}")
        except OSError:
            continue
    return found


def netns_of(pid: int) -> str:
    return str(Path(f"/proc/{pid}/ns/net").readlink())


#: network namespaces the tests saw; none may have a process left at the end
SEEN: set[str] = set()


@dataclass
class Plane:
    cluster: Cluster
    kubelet: ProcessKubelet
    timeouts: Timeouts


@pytest.fixture(scope="module")
def plane() -> Iterator[Plane]:
    reason = pods.unsupported()
    if reason is not None:
        pytest.fail(f"process pods cannot run on this machine: {reason}")
    release = get_istio_release(TEST_ISTIO)
    binaries = cp_binaries.provision(release, build=False)
    timeouts = Timeouts()
    provider = ControlPlaneProvider(binaries, timeouts)
    control, _ = provider.plane(get_mode("sidecar"))
    cluster = Cluster(
        name=control.name,
        mode=get_mode("sidecar"),
        kubeconfig=control.kubeconfig,
        context=control.name,
        created_by_us=True,
        kube=Kube(control.kubeconfig, control.name),
        kind=ClusterKind.CONTROLPLANE,
        plane=control,
    )
    try:
        install_istio(cluster, binaries, release, [], timeouts)
        assert control.kubelet is not None, cluster.process_pods_unsupported
        assert control.kubelet.node_holder is not None
        SEEN.add(netns_of(control.kubelet.node_holder.pid))
        yield Plane(cluster, control.kubelet, timeouts)
    finally:
        cluster.kube.close()
        provider.close()
    left = in_namespaces(SEEN)
    assert not left, f"processes left in the pods' network namespaces: {left}"
    assert "meshconform" not in subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout


def proxy_ready(pod: dict[str, Any] | None) -> Decision[dict[str, Any]]:
    if pod is None:
        return Pending("no pod yet")
    status = pod.get("status") or {}
    if status.get("reason") == "ProcessPodFailed":
        return Failed(str(status.get("message")))
    statuses = [*(status.get("initContainerStatuses") or []),
                *(status.get("containerStatuses") or [])]
    for c in statuses:
        if c["name"] == "istio-proxy" and c.get("ready"):
            return Done(pod)
    return Pending(f"status: {status}")


def test_pod_built_from_its_injected_spec(plane: Plane) -> None:
    """The client Deployment's pod: scheduled to the process node, built, Ready, exec."""
    kube = plane.cluster.kube
    ns = f"mc-pp-{secrets.token_hex(3)}"
    kube.create_namespace(ns, {"istio-injection": "enabled"})
    kube.apply_all(manifests.load_manifests("workloads/client.yaml"), ns)
    pod = wait_until(f"{ns} client pod Ready", lambda: ready_pod(kube, ns, "app=client"),
                     timeout=90, interval=0.25)  # fmt: skip
    assert pod["spec"]["nodeName"] == NODE
    built = plane.kubelet.pods[f"{ns}/{pod['metadata']['name']}"]
    SEEN.add(netns_of(built.holder.pid))
    # the pod IP in the API server is the address of the pod's eth0
    assert pod["status"]["podIP"] == built.ip
    addresses = netns.run(netns.in_ns(built.holder.pid, ["ip", "-4", "-o", "addr", "show", "eth0"]),
                          what="addr")  # fmt: skip
    assert f"{built.ip}/24" in addresses
    # Istio's rules, from the injected istio-init arguments
    rules = netns.iptables_save(built.holder.pid)
    assert "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001" in rules
    assert "--uid-owner 1337" in rules
    init = next(c for c in pod["status"]["initContainerStatuses"] if c["name"] == "istio-init")
    assert init["state"]["terminated"]["exitCode"] == 0
    # pilot-agent runs as 1337
    agent = plane.cluster.plane.processes.get(f"{built.stem}/istio-proxy")  # type: ignore[union-attr]
    assert agent is not None
    # (the Proc is nsenter; pilot-agent is its child, in the pod's PID namespace)
    child = Path(f"/proc/{agent.pid}/task/{agent.pid}/children").read_text().split()[0]
    status = Path(f"/proc/{child}/status").read_text()
    assert "Name:\tpilot-agent" in status
    assert "Uid:\t1337\t1337" in status
    # exec: as the curl image's user, in the pod's network, through the sidecar
    out = kube.exec(ns, pod["metadata"]["name"],
                    ["sh", "-c", "id -u && head -1 /etc/meshconform/ca.pem"],
                    container="client")  # fmt: skip
    assert out.rc == 0, out
    assert out.stdout.splitlines() == ["100", "-----BEGIN CERTIFICATE-----"]
    holder, inode = built.holder.pid, netns_of(built.holder.pid)
    kube.delete_namespace(ns)
    wait_until("pod torn down", lambda: Done(None) if not pid_alive(holder) and
               built.key not in plane.kubelet.pods else Pending("still there"),
               timeout=30, interval=0.1)  # fmt: skip
    assert not in_namespaces({inode}), "processes outlived the deleted pod"


def ready_pod(kube: Kube, namespace: str, selector: str) -> Decision[dict[str, Any]]:
    pods_ = kube.list("v1", "Pod", namespace, label_selector=selector)
    for pod in pods_:
        status = pod.get("status") or {}
        if status.get("reason") == "ProcessPodFailed":
            return Failed(str(status.get("message")))
        conditions = status.get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            return Done(pod)
    return Pending(f"pods: {[p.get('status') for p in pods_]}")


# -- egress: the live checks' observations on process pods, conforming and faulty -----

HTTP_HOST = "http.external.meshconform.test"
TLS_HOST = "tls.external.meshconform.test"
UNREGISTERED = "unregistered.meshconform.test"


@dataclass
class Egress:
    namespace: str
    client: PodClient
    external_ip: str
    ca: TestCA

    def resolve(self, host: str, port: int) -> str:
        return f"{host}:{port}:{self.external_ip}"


@pytest.fixture(scope="module")
def egress(plane: Plane, tmp_path_factory: pytest.TempPathFactory) -> Egress:
    """The live checks' external servers (outside the mesh) and an in-mesh client under a
    REGISTRY_ONLY Sidecar, all process pods."""
    kube = plane.cluster.kube
    ca = TestCA.create(tmp_path_factory.mktemp("ca"))
    outside = f"mc-pp-out-{secrets.token_hex(3)}"
    kube.create_namespace(outside, {})
    cert = ca.issue([TLS_HOST], stem="external")
    kube.apply_all(manifests.load_manifests(
        "workloads/tls-secret.yaml", NAME="external-tls",
        TLS_CRT_B64=b64(cert.cert_pem()), TLS_KEY_B64=b64(cert.key_pem())), outside)  # fmt: skip
    kube.apply_all(manifests.load_manifests("workloads/external.yaml"), outside)
    external = wait_until("external pod Ready", lambda: ready_pod(kube, outside, "app=external"),
                          timeout=90, interval=0.25)  # fmt: skip
    ns = f"mc-pp-egress-{secrets.token_hex(3)}"
    kube.create_namespace(ns, {"istio-injection": "enabled"})
    kube.apply_all(manifests.load_manifests(
        "workloads/run-ca.yaml", CA_PEM_B64=b64(ca.cert_path.read_bytes())), ns)  # fmt: skip
    kube.apply_all(manifests.load_manifests("egress/sidecar-registry-only.yaml"), ns)
    kube.apply_all(manifests.load_manifests("workloads/client.yaml"), ns)
    pod = wait_until("client Ready", lambda: ready_pod(kube, ns, "app=client"), timeout=90,
                     interval=0.25)  # fmt: skip
    client = PodClient(kube, ns, str(pod["metadata"]["name"]), plane.timeouts)
    return Egress(ns, client, str(external["status"]["podIP"]), ca)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def blocked_or_reached(blocked: Any) -> Any:
    """The live check's verdict: True when blocked (the claim holds), False when reached."""
    return lambda r: True if blocked(r) else (False if reached(r) else None)


def reached_or_blocked(blocked: Any) -> Any:
    return lambda r: True if reached(r) else (False if blocked(r) else None)


def registry_mode(plane: Plane, ns: str, mode: str) -> None:
    body = manifests.load_manifests("egress/sidecar-registry-only.yaml")[0]
    body["spec"]["outboundTrafficPolicy"]["mode"] = mode
    plane.cluster.kube.apply(body, ns)


def observe(what: str, attempt: Any, verdict: Any, expect: bool, timeouts: Timeouts) -> bool | None:
    seen = settle(what, attempt, verdict, expect=expect, timeouts=timeouts,
                  describe=CurlResult.describe)  # fmt: skip
    return seen.observed


@pytest.mark.parametrize("policy", ["REGISTRY_ONLY", "ALLOW_ANY"])
def test_registry_only_fault(plane: Plane, egress: Egress, policy: str) -> None:
    """egress-registry-only-blocks: holds under REGISTRY_ONLY (HTTP 502, TLS refused);
    fails under ALLOW_ANY because the unregistered host is reached."""
    registry_mode(plane, egress.namespace, policy)
    conforming = policy == "REGISTRY_ONLY"
    http = observe("HTTP to an unregistered host",
                   lambda: egress.client.curl(f"http://{UNREGISTERED}/get",
                                              resolve=egress.resolve(UNREGISTERED, 80)),
                   blocked_or_reached(registry_blocked_http), conforming,
                   plane.timeouts)  # fmt: skip
    tls = observe("TLS to an unregistered host",
                  lambda: egress.client.curl(f"https://{UNREGISTERED}/get", extra=["-k"],
                                             resolve=egress.resolve(UNREGISTERED, 443)),
                  blocked_or_reached(registry_blocked_tls), conforming, plane.timeouts)  # fmt: skip
    assert (http, tls) == (conforming, conforming)
    registry_mode(plane, egress.namespace, "REGISTRY_ONLY")


@pytest.mark.parametrize("entry", ["present", "removed"])
def test_service_entry_fault(plane: Plane, egress: Egress, entry: str) -> None:
    """egress-service-entry-allows-http/-tls: hold with the ServiceEntries; with them
    removed both fail because REGISTRY_ONLY blocks the hosts."""
    kube = plane.cluster.kube
    http_entry = manifests.load_manifests("egress/service-entry-http.yaml", HOST=HTTP_HOST,
                                          ENDPOINT=egress.external_ip)  # fmt: skip
    tls_entry = manifests.load_manifests("egress/service-entry-tls.yaml", HOST=TLS_HOST)
    if entry == "present":
        kube.apply_all([*http_entry, *tls_entry], egress.namespace)
    else:
        for obj in [*http_entry, *tls_entry]:
            kube.delete("networking.istio.io/v1", "ServiceEntry", obj["metadata"]["name"],
                        egress.namespace)  # fmt: skip
    conforming = entry == "present"
    http = observe("HTTP to the ServiceEntry host",
                   lambda: egress.client.curl(f"http://{HTTP_HOST}/get",
                                              resolve=egress.resolve(HTTP_HOST, 80)),
                   reached_or_blocked(registry_blocked_http), conforming,
                   plane.timeouts)  # fmt: skip
    tls = observe("TLS to the ServiceEntry host",
                  lambda: egress.client.curl(f"https://{TLS_HOST}/get", cacert=CA_IN_POD,
                                             resolve=egress.resolve(TLS_HOST, 443)),
                  reached_or_blocked(registry_blocked_tls), conforming, plane.timeouts)  # fmt: skip
    assert (http, tls) == (conforming, conforming)


CA_IN_POD = "/etc/meshconform/ca.pem"
