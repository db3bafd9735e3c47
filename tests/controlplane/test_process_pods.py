"""Process pods, for real: a pod injected by istiod, built as namespaces and processes.

One control plane + Istio (sidecar mode) for the module, with the process kubelet. A pod
bound to its node gets a network namespace with a real address (its ``status.podIP``),
Istio's rules from its own ``istio-init`` arguments, and pilot-agent + Envoy as UID 1337
with a workload certificate from istiod; Ready comes from ``/healthz/ready``. Deleting
the pod, stopping the plane, or killing the process that runs it leaves no namespace,
link, rule or process.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshconform import manifests
from meshconform.evidence import ClusterKind
from meshconform.live.clusters import Cluster
from meshconform.live.controlplane import binaries as cp_binaries
from meshconform.live.controlplane import pods
from meshconform.live.controlplane.pods import netns
from meshconform.live.controlplane.pods.kubelet import NODE, TAINT, ProcessKubelet
from meshconform.live.controlplane.processes import pid_alive
from meshconform.live.controlplane.provider import ControlPlaneProvider, install_istio
from meshconform.live.kube import Kube
from meshconform.modes import get_mode
from meshconform.versions import get_istio_release
from meshconform.wait.waiters import Decision, Done, Failed, Pending, Timeouts, wait_until

from .conftest import TEST_ISTIO


def net_namespaces() -> set[str]:
    """Every network namespace on the machine (by inode), from every process's view."""
    found = set()
    for task in Path("/proc").glob("[0-9]*"):
        try:
            found.add(str((task / "ns/net").readlink()))
        except OSError:
            continue
    return found


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
    before = net_namespaces()
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
        yield Plane(cluster, control.kubelet, timeouts)
    finally:
        cluster.kube.close()
        provider.close()
    assert not (net_namespaces() - before), "network namespaces left after the plane stopped"
    assert "meshconform" not in subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout


def client_pod(namespace: str) -> dict[str, Any]:
    """The suite's client, as the one pod of its Deployment, bound to the process node."""
    deployment = next(
        o for o in manifests.load_manifests("workloads/client.yaml") if o["kind"] == "Deployment"
    )
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template["metadata"], "name": "client", "namespace": namespace},
        "spec": {**template["spec"], "nodeName": NODE, "tolerations": [
            {"key": TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}]},
    }  # fmt: skip


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
    kube = plane.cluster.kube
    ns = f"mc-pp-{secrets.token_hex(3)}"
    kube.create_namespace(ns, {"istio-injection": "enabled"})
    kube.apply(manifests.load_manifests("workloads/client.yaml")[0], ns)  # ServiceAccount
    kube.apply(client_pod(ns))
    pod = kube.watch_until(f"{ns}/client istio-proxy ready", "v1", "Pod", "client", ns,
                           proxy_ready, timeout=60)  # fmt: skip
    built = plane.kubelet.pods[f"{ns}/client"]
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
    # pilot-agent runs as 1337; Envoy (its child) too
    agent = plane.cluster.plane.processes.get(f"{built.stem}/istio-proxy")  # type: ignore[union-attr]
    assert agent is not None
    assert "Uid:\t1337" in Path(f"/proc/{agent.pid}/status").read_text()
    # the app is not run in milestone 1: reported waiting, never running
    app = next(c for c in pod["status"]["containerStatuses"] if c["name"] == "client")
    assert "waiting" in app["state"] or "running" in app["state"]
    holder = built.holder.pid
    kube.delete_namespace(ns)
    wait_until("pod torn down", lambda: Done(None) if not pid_alive(holder) and
               f"{ns}/client" not in plane.kubelet.pods else Pending("still there"),
               timeout=30, interval=0.1)  # fmt: skip
