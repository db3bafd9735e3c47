"""A real Kubernetes control plane as processes: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, and kwok for fake nodes.

Flags and timings: shared/research/controlplane.md. Everything listens on 127.0.0.1 on
ports the kernel picks; the cluster's folder holds its PKI, etcd data, logs, kubeconfig
and ``pids.json``. Readiness is waited on through the one wait module: ``/readyz`` (no
watch exists for it, so it is polled), then by watching: the ``default`` ServiceAccount
(the controllers work) and every fake node Ready (kwok works).

What is real here: admission (the default plugins, the webhooks), storage, validation,
the controllers (Job, ReplicaSet, EndpointSlice, ServiceAccount), the scheduler. What
is not: kubelets. kwok writes node and pod status by rule (fixtures/controlplane/
kwok-stages.yaml); that status lets controllers and waits proceed and is never evidence.
"""

from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshconform import paths
from meshconform.errors import ProvisioningError
from meshconform.live.controlplane.binaries import ControlPlaneBinaries
from meshconform.live.controlplane.pki import SERVICE_CIDR, ClusterPKI, create_pki, kubeconfig_text
from meshconform.live.controlplane.processes import Processes, free_port
from meshconform.live.kube import Kube
from meshconform.wait import (
    Decision,
    Done,
    Failed,
    Pending,
    WaitFailed,
    WaitTimeout,
    wait_until,
)

#: kwok manages only nodes with this annotation (kwok --manage-nodes-with-annotation-selector)
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
#: pod IPs kwok hands out (never routed: kwok pods run nothing)
POD_CIDR = "10.244.0.0/16"
STATE_FILE = "controlplane.json"


@dataclass
class ControlPlane:
    """One running control plane; :meth:`stop` ends every process it started."""

    name: str
    folder: Path
    pki: ClusterPKI
    processes: Processes
    ports: dict[str, int]
    kubeconfig: Path
    version: str
    #: seconds per start-up step, for the benchmark and the report
    timings: dict[str, float] = field(default_factory=dict)
    #: the process kubelet (meshconform.live.controlplane.pods), when it runs
    kubelet: Any = None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    def save(self) -> None:
        data = {"name": self.name, "ports": self.ports, "version": self.version}
        (self.folder / STATE_FILE).write_text(json.dumps(data), "utf-8")

    def stop(self, *, remove: bool = True) -> list[str]:
        """Stop every process (reverse start order); remove the folder unless ``remove=False``."""
        if self.kubelet is not None:
            self.kubelet.stop()  # its pods first, from the thread that started them
            self.kubelet = None
        killed = self.processes.stop()
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)
        return killed


def state_root() -> Path:
    """Where control planes keep their folders; outside the report folder CI uploads."""
    return paths.cache_dir() / "controlplanes"


def _ssl_context(pki: ClusterPKI) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    return context


def _readyz(server: str, pki: ClusterPKI, processes: Processes) -> Decision[None]:
    try:
        processes.check_alive()
    except ProvisioningError as error:
        return Failed(str(error))
    try:
        with urllib.request.urlopen(  # noqa: S310 (our own https URL)
            f"{server}/readyz", context=_ssl_context(pki), timeout=2
        ) as answer:
            body = answer.read().decode()
            return Done(None, body) if answer.status == 200 else Pending(body[:200])
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        failing = [line for line in detail.splitlines() if "failed" in line]
        return Pending(f"/readyz {error.code}: {'; '.join(failing[:4]) or detail[:200]}")
    except (urllib.error.URLError, OSError) as error:
        return Pending(f"/readyz not answering: {error}")


def apiserver_argv(binary: Path, pki: ClusterPKI, etcd_port: int, port: int) -> list[str]:
    return [
        str(binary),
        "kube-apiserver",
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_cert}",
        f"--service-account-key-file={pki.sa_public}",
        f"--service-account-signing-key-file={pki.sa_private}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        # istio-init (NET_ADMIN) and istio-cni/ztunnel pods are privileged: as on kind
        "--allow-privileged=true",
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        # Debian's etcd 3.4.23 has no progress notifications (needs 3.4.31 / 3.5.13), so the
        # watch cache refuses watch-list streams ("the required storage feature
        # RequestWatchProgress is disabled"). kwok (client-go 0.36) kept asking for them: its
        # pod watch ended every few seconds and a new pod on a fake node waited 6-8 s for
        # its status (the gateway Deployment: 8 s of istioctl's wait in every install). With
        # the feature off the server says so up front and clients list and watch as before.
        "--feature-gates=WatchList=false",
        # default admission plugins stay on: the webhooks are what the checks observe
    ]


def controller_manager_argv(binary: Path, pki: ClusterPKI, kubeconfig: Path) -> list[str]:
    return [
        str(binary),
        "kube-controller-manager",
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--service-account-private-key-file={pki.sa_private}",
        f"--root-ca-file={pki.ca_cert}",
        f"--cluster-signing-cert-file={pki.ca_cert}",
        f"--cluster-signing-key-file={pki.ca_key}",
        "--leader-elect=false",
        # no node IPAM (kwok assigns pod IPs), no node lifecycle (kwok keeps nodes Ready)
        "--controllers=*,-nodeipam,-nodelifecycle",
        "--secure-port=0",
    ]


def scheduler_argv(binary: Path, kubeconfig: Path) -> list[str]:
    return [
        str(binary),
        "kube-scheduler",
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--secure-port=0",
    ]


def kwok_argv(binary: Path, kubeconfig: Path, stages: Path) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
        f"--cidr={POD_CIDR}",
        "--node-ip=127.0.0.1",
        f"--config={stages}",
        "--server-address=",
    ]


def etcd_argv(binary: Path, data: Path, client_port: int, peer_port: int) -> list[str]:
    return [
        str(binary),
        "--name=meshconform",
        f"--data-dir={data}",
        f"--listen-client-urls=http://127.0.0.1:{client_port}",
        f"--advertise-client-urls=http://127.0.0.1:{client_port}",
        f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
        f"--initial-cluster=meshconform=http://127.0.0.1:{peer_port}",
        "--log-level=warn",
    ]


def fake_node(name: str, kubelet_version: str, labels: dict[str, str]) -> dict[str, Any]:
    """A Node kwok manages; its nodeInfo carries the pinned Kubernetes version.

    istiod reads ``kubeletVersion`` to resolve ``ENABLE_NATIVE_SIDECARS=auto`` (every
    node >= 1.33 -> native), so the fake nodes report the version the cluster runs.
    """
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                **labels,
            },
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "nodeInfo": {
                "architecture": "amd64",
                "kubeletVersion": kubelet_version,
                "operatingSystem": "linux",
            },
        },
    }


def _node_ready(node: dict[str, Any] | None) -> Decision[None]:
    if node is None:
        return Pending("the node does not exist yet")
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is not None and ready.get("status") == "True":
        return Done(None, "Ready")
    return Pending(f"Ready condition: {ready or 'absent (kwok has not initialised it)'}")


def _untaint(kube: Kube, name: str) -> None:
    """Drop the ``not-ready`` taint the TaintNodesByCondition admission puts on a new node.

    On a real cluster the node lifecycle controller lifts it once the kubelet reports
    Ready; that controller is off here (kwok keeps the nodes Ready, no lease heartbeats),
    so the taint would keep every pod Pending.
    """
    resource = kube.dynamic.resources.get(api_version="v1", kind="Node")
    kube.dynamic.patch(
        resource,
        name=name,
        body={"spec": {"taints": None}},
        content_type="application/merge-patch+json",
    )


def _default_sa(sa: dict[str, Any] | None) -> Decision[None]:
    return Done(None) if sa is not None else Pending("no ServiceAccount default/default yet")


@dataclass(frozen=True)
class NodeSpec:
    name: str
    labels: dict[str, str] = field(default_factory=dict)


def start_control_plane(
    name: str,
    binaries: ControlPlaneBinaries,
    *,
    nodes: Sequence[NodeSpec],
    kubelet_version: str,
    ready_timeout: float,
    folder: Path | None = None,
    die_with_parent: bool = True,
) -> ControlPlane:
    """Start every process and return once the API server, controllers and nodes are ready.

    On any failure (or an interrupt) everything started so far is stopped and the folder
    removed; the error names the process and quotes its log.
    """
    folder = folder or state_root() / name
    if folder.exists():
        running = [p.name for p in Processes.reattach(folder).procs if p.alive()]
        if running:
            raise ProvisioningError(
                f"control plane {name} is running ({', '.join(running)} in {folder}): "
                "another run uses this name. Stop it (meshconform controlplane stop) or "
                "wait for that run to end"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    processes = Processes(folder, die_with_parent=die_with_parent)
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        pki = create_pki(folder / "pki")
        ports = {
            "etcd": free_port(),
            "etcd_peer": free_port(),
            "apiserver": free_port(),
        }
        kubeconfig = folder / "kubeconfig"
        server = f"https://127.0.0.1:{ports['apiserver']}"
        kubeconfig.write_text(kubeconfig_text(pki, server, name), "utf-8")
        kubeconfig.chmod(0o600)
        plane = ControlPlane(
            name, folder, pki, processes, ports, kubeconfig, kubelet_version, timings
        )
        plane.save()
        processes.start(
            "etcd", etcd_argv(binaries.etcd, folder / "etcd", ports["etcd"], ports["etcd_peer"])
        )
        processes.start(
            "kube-apiserver", apiserver_argv(binaries.kube, pki, ports["etcd"], ports["apiserver"])
        )
        wait_until(
            f"kube-apiserver of {name} ready (/readyz)",
            lambda: _readyz(server, pki, processes),
            timeout=ready_timeout,
            interval=0.25,
        )
        timings["apiserver"] = time.monotonic() - started
        processes.start(
            "kube-controller-manager", controller_manager_argv(binaries.kube, pki, kubeconfig)
        )
        processes.start("kube-scheduler", scheduler_argv(binaries.kube, kubeconfig))
        processes.start(
            "kwok",
            kwok_argv(
                binaries.kwok,
                kubeconfig,
                paths.fixtures_dir() / "controlplane" / "kwok-stages.yaml",
            ),
        )
        kube = Kube(kubeconfig, name)
        try:
            for node in nodes:
                kube.apply(fake_node(node.name, kubelet_version, node.labels))
            for node in nodes:
                kube.watch_until(
                    f"fake node {node.name} Ready (kwok)",
                    "v1",
                    "Node",
                    node.name,
                    None,
                    _node_ready,
                    ready_timeout,
                )
                _untaint(kube, node.name)
            kube.watch_until(
                "ServiceAccount default/default (the controllers run)",
                "v1",
                "ServiceAccount",
                "default",
                "default",
                _default_sa,
                ready_timeout,
            )
        finally:
            kube.close()
        processes.check_alive()
    except (WaitFailed, WaitTimeout) as error:
        logs = "\n".join(f"--- {p.name}:\n{p.log_tail(6)}" for p in processes.procs)
        processes.stop(grace=5)
        shutil.rmtree(folder, ignore_errors=True)
        raise ProvisioningError(f"control plane {name} did not come up: {error}\n{logs}") from None
    except BaseException:
        processes.stop(grace=5)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    timings["ready"] = time.monotonic() - started
    return plane


def reattach(name: str, folder: Path | None = None) -> ControlPlane | None:
    """A kept control plane whose processes all still run, or None."""
    folder = folder or state_root() / name
    try:
        data = json.loads((folder / STATE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    processes = Processes.reattach(folder)
    if not processes.procs or not all(p.alive() for p in processes.procs):
        return None
    pki = ClusterPKI(folder / "pki")
    plane = ControlPlane(
        name,
        folder,
        pki,
        processes,
        {k: int(v) for k, v in data["ports"].items()},
        folder / "kubeconfig",
        str(data.get("version", "")),
    )
    try:
        wait_until(
            f"kept control plane {name} answers /readyz",
            lambda: _readyz(plane.server, pki, processes),
            timeout=5,
            interval=0.25,
        )
    except (WaitFailed, WaitTimeout):
        return None
    return plane
