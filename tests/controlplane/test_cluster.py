"""A real control plane as processes: it comes up, its components work, it leaves nothing.

Uses the provisioned binaries (CI runs ``python -m meshconform.live.controlplane.provision``);
a missing one makes these tests ERROR with the reason, never skip.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshconform.live.controlplane.binaries import ControlPlaneBinaries, provision
from meshconform.live.controlplane.cluster import ControlPlane, NodeSpec, start_control_plane
from meshconform.live.controlplane.processes import pid_alive
from meshconform.live.kube import Kube
from meshconform.versions import CONTROL_PLANE_KUBERNETES, get_istio_release
from meshconform.wait import Timeouts
from meshconform.wait.workloads import get_pod_name

from .conftest import TEST_ISTIO


@pytest.fixture(scope="module")
def binaries() -> ControlPlaneBinaries:
    return provision(get_istio_release(TEST_ISTIO), build=False)


@pytest.fixture(scope="module")
def plane(binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[ControlPlane]:
    folder = tmp_path_factory.mktemp("cp") / "meshconform-cp-test"
    started = start_control_plane(
        "meshconform-cp-test", binaries,
        nodes=[NodeSpec("cp-test-node-a", {"ingress-ready": "true"}), NodeSpec("cp-test-node-b")],
        kubelet_version=CONTROL_PLANE_KUBERNETES, ready_timeout=120, folder=folder)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def kube(plane: ControlPlane) -> Iterator[Kube]:
    client = Kube(plane.kubeconfig, plane.name)
    yield client
    client.close()


def test_server_reports_the_pinned_version(plane: ControlPlane, kube: Kube) -> None:
    assert kube.server_version() == "1.35"
    context = ssl.create_default_context(cafile=str(plane.pki.ca_cert))
    context.load_cert_chain(str(plane.pki.admin_cert), str(plane.pki.admin_key))
    with urllib.request.urlopen(f"{plane.server}/version", context=context) as answer:
        # set by the build's version ldflags; without them /version is empty
        assert json.load(answer)["gitVersion"] == CONTROL_PLANE_KUBERNETES


def test_fake_nodes_are_ready_and_report_the_pinned_kubelet(kube: Kube) -> None:
    nodes = {n["metadata"]["name"]: n for n in kube.list("v1", "Node")}
    assert set(nodes) == {"cp-test-node-a", "cp-test-node-b"}
    for node in nodes.values():
        assert node["status"]["nodeInfo"]["kubeletVersion"] == CONTROL_PLANE_KUBERNETES
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready[0]["status"] == "True"


def test_job_controller_and_scheduler_work(kube: Kube) -> None:
    """A Job gets a pod from the real Job controller, bound by the real scheduler."""
    kube.create_namespace("cp-job", {})
    job: dict[str, Any] = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "app", "image": "example.invalid/app:1"}]}}}}
    kube.apply(job, "cp-job")
    name = get_pod_name(kube, "cp-job", "job-name=j", Timeouts())
    pod = kube.watch_until("pod scheduled", "v1", "Pod", name, "cp-job",
                           _scheduled, timeout=60)
    assert pod["spec"]["nodeName"] in {"cp-test-node-a", "cp-test-node-b"}


def _scheduled(pod: dict[str, Any] | None) -> Any:
    from meshconform.wait import Done, Pending  # noqa: PLC0415

    if pod is not None and (pod.get("spec") or {}).get("nodeName"):
        return Done(pod)
    return Pending("not scheduled yet")


def test_kwok_watches_without_watch_list_errors(plane: ControlPlane, kube: Kube) -> None:
    """kwok's pod watch holds: the API server refuses watch-list streams up front (Debian's
    etcd cannot serve them), so kwok never drops its watch and re-lists after a back-off,
    which made every new pod on a fake node wait 6-8 s for its status."""
    kube.create_namespace("cp-kwok", {})
    pod: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]}}
    kube.apply(pod, "cp-kwok")
    kube.watch_until("pod scheduled", "v1", "Pod", "p", "cp-kwok", _scheduled, timeout=60)
    time.sleep(3)  # several of kwok's former watch round trips
    kwok = plane.processes.get("kwok")
    assert kwok is not None
    log = kwok.log_tail(100_000)
    assert "RequestWatchProgress" not in log, log[-2000:]
    assert "watch ended with error" not in log, log[-2000:]


def test_private_keys_stay_in_the_clusters_folder(plane: ControlPlane) -> None:
    for key in plane.folder.rglob("*.key"):
        assert key.stat().st_mode & 0o077 == 0


def test_stop_leaves_no_process_and_no_folder(binaries: ControlPlaneBinaries,
                                              tmp_path: Path) -> None:
    folder = tmp_path / "meshconform-cp-stop"
    started = start_control_plane("meshconform-cp-stop", binaries, nodes=[NodeSpec("n")],
                                  kubelet_version=CONTROL_PLANE_KUBERNETES, ready_timeout=120,
                                  folder=folder)
    pids = [p.pid for p in started.processes.procs]
    assert len(pids) == 5  # etcd, kube-apiserver, controller-manager, scheduler, kwok
    started.stop()
    assert not [pid for pid in pids if pid_alive(pid)]
    assert not folder.exists()


def test_kept_plane_is_reattached_then_stopped(binaries: ControlPlaneBinaries,
                                               tmp_path: Path) -> None:
    """--keep-cluster leaves it running; --reuse-cluster adopts the same processes; a
    plain run refuses to start a second one over it; `controlplane stop` ends it."""
    from meshconform.errors import ProvisioningError  # noqa: PLC0415
    from meshconform.live.controlplane.provider import (  # noqa: PLC0415
        ControlPlaneProvider,
        stop_kept,
    )
    from meshconform.modes import MODES  # noqa: PLC0415

    mode = MODES["cni"]
    kept = ControlPlaneProvider(binaries, Timeouts(), keep=True, reuse=True, root=tmp_path)
    first, ours = kept.plane(mode)
    assert ours
    pids = [p.pid for p in first.processes.procs]
    assert kept.close() == []  # kept: nothing stopped
    assert all(pid_alive(pid) for pid in pids)
    again, ours = ControlPlaneProvider(binaries, Timeouts(), reuse=True, root=tmp_path).plane(mode)
    assert not ours
    assert [p.pid for p in again.processes.procs] == pids
    with pytest.raises(ProvisioningError, match="pass --reuse-cluster"):
        ControlPlaneProvider(binaries, Timeouts(), keep=True, root=tmp_path).plane(mode)
    assert stop_kept(mode, tmp_path) == "meshconform-cp-cni"
    for proc in first.processes.procs:  # our children: reap them
        assert proc.popen is not None
        proc.popen.wait(10)
    assert not [pid for pid in pids if pid_alive(pid)]
