"""The controlplane cluster's pure parts: options, evidence skips, nodes, command lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshconform.errors import UsageError
from meshconform.evidence import (
    FULL_DATA_PLANE,
    NO_DATA_PLANE,
    ClusterKind,
    Evidence,
    missing_evidence,
)
from meshconform.live.controlplane.cluster import (
    KWOK_ANNOTATION,
    apiserver_argv,
    controller_manager_argv,
    fake_node,
)
from meshconform.live.controlplane.pki import create_pki, kubeconfig_text
from meshconform.live.controlplane.provider import nodes_for, outlives_run_reason, plane_name
from meshconform.modes import MODES
from meshconform.options import parse_options


def test_cluster_option() -> None:
    assert parse_options(tiers=["live"]).cluster is ClusterKind.KIND
    assert parse_options(tiers=["live"], cluster="controlplane").cluster is ClusterKind.CONTROLPLANE
    with pytest.raises(UsageError, match="unknown --cluster 'docker'"):
        parse_options(tiers=["live"], cluster="docker")


def test_cluster_and_kubeconfig_exclude_each_other(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\n", "utf-8")
    found = parse_options(tiers=["live"], mesh_modes=["cni"], kubeconfig=str(config))
    assert found.cluster is ClusterKind.KUBECONFIG
    with pytest.raises(UsageError, match="both name the cluster"):
        parse_options(tiers=["live"], mesh_modes=["cni"], kubeconfig=str(config),
                      cluster="controlplane")
    with pytest.raises(UsageError, match="bring their own Istio"):
        parse_options(tiers=["live"], mesh_modes=["cni"], kubeconfig=str(config),
                      istio_config=[str(config)])


def test_istio_config_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--istio-config .*missing\.yaml does not exist"):
        parse_options(tiers=["live"], cluster="controlplane",
                      istio_config=[str(tmp_path / "missing.yaml")])
    team = tmp_path / "team.yaml"
    team.write_text("meshConfig: {}\n", "utf-8")
    assert parse_options(tiers=["live"], cluster="controlplane",
                         istio_config=[str(team)]).istio_config == (team,)


def test_controlplane_gives_no_kubelet_or_traffic_evidence() -> None:
    admission = frozenset({Evidence.API_SERVER, Evidence.ISTIOD})
    assert missing_evidence(ClusterKind.CONTROLPLANE, admission) is None
    assert missing_evidence(ClusterKind.KIND, FULL_DATA_PLANE) is None
    assert missing_evidence(ClusterKind.KUBECONFIG, FULL_DATA_PLANE) is None
    reason = missing_evidence(ClusterKind.CONTROLPLANE, FULL_DATA_PLANE)
    assert reason is not None
    assert reason.startswith(NO_DATA_PLANE)
    assert "kubelet" in reason
    assert "traffic" in reason
    assert missing_evidence(ClusterKind.CONTROLPLANE, frozenset({Evidence.KUBELET})) is not None


def test_fake_nodes_mirror_the_kind_config() -> None:
    nodes = nodes_for(MODES["ambient"])
    assert [n.name for n in nodes] == ["meshconform-ambient-control-plane",
                                       "meshconform-ambient-worker"]
    assert nodes[0].labels == {"ingress-ready": "true"}
    assert plane_name(MODES["ambient"]) == "meshconform-cp-ambient"


def test_fake_node_reports_the_pinned_kubelet_and_is_kwoks() -> None:
    node = fake_node("n1", "v1.35.4", {"ingress-ready": "true"})
    assert node["metadata"]["annotations"] == {KWOK_ANNOTATION: "fake"}
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.35.4"
    assert node["metadata"]["labels"]["ingress-ready"] == "true"
    assert node["metadata"]["labels"]["kubernetes.io/os"] == "linux"


def test_apiserver_keeps_admission_and_allows_privileged(tmp_path: Path) -> None:
    pki = create_pki(tmp_path / "pki")
    argv = apiserver_argv(Path("/bin/kube"), pki, 2379, 6443)
    assert argv[:2] == ["/bin/kube", "kube-apiserver"]
    assert "--allow-privileged=true" in argv  # istio-init and istio-cni are privileged
    assert "--bind-address=127.0.0.1" in argv
    # the default admission plugins (the webhooks among them) are never switched off
    assert not [a for a in argv if a.startswith(("--disable-admission", "--admission-control"))]
    manager = controller_manager_argv(Path("/bin/kube"), pki, tmp_path / "kubeconfig")
    assert "--controllers=*,-nodeipam,-nodelifecycle" in manager


def test_pki_keys_are_private_and_kubeconfig_has_no_inline_secret(tmp_path: Path) -> None:
    pki = create_pki(tmp_path / "pki")
    assert pki.complete()
    for key in (pki.ca_key, pki.serving_key, pki.admin_key, pki.sa_private):
        assert key.stat().st_mode & 0o077 == 0, key
    text = kubeconfig_text(pki, "https://127.0.0.1:1", "cp")
    assert "client-key-data" not in text
    assert "PRIVATE KEY" not in text
    assert str(pki.admin_key) in text


def test_process_pods_reason_names_keep_or_reuse() -> None:
    """Process pods are refused on a plane that outlives the run, and the reason names
    the run's own option: --keep-cluster (started here) or --reuse-cluster (reattached)."""
    assert outlives_run_reason(dies_with_run=True, reattached=False) is None
    kept = outlives_run_reason(dies_with_run=False, reattached=False)
    assert kept is not None
    assert "started with --keep-cluster" in kept
    assert "--reuse-cluster" not in kept
    reused = outlives_run_reason(dies_with_run=False, reattached=True)
    assert reused is not None
    assert "reattached with --reuse-cluster" in reused
    assert "started with --keep-cluster" not in reused
