"""The gateway's pure parts: the upstream-Envoy alterations, NACK detection, pilot-agent inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from meshconform.evidence import PROVIDES, ClusterKind, Evidence, missing_evidence
from meshconform.live.controlplane import gateway, upstream_envoy

# Envoy's own message for the default istiod output (shared/research/controlplane.md)
NACK_LOG = (
    "2026-12-02T15:00:00Z warning envoy config external/envoy/source/extensions/config_"
    "subscription/grpc/grpc_subscription_impl.cc:138 gRPC config for type.googleapis.com/"
    "envoy.config.cluster.v3.Cluster rejected: Didn't find a registered implementation for "
    "'istio.metadata_exchange' with type URL: 'envoy.tcp.metadataexchange.config."
    "MetadataExchange'\n"
)


def test_alterations_are_the_three_supported_settings() -> None:
    assert upstream_envoy.istiod_env_alterations() == {
        "PILOT_ENABLE_METADATA_EXCHANGE": "false",
        "PILOT_ENABLE_ALPN_FILTER": "false",
    }
    lines = upstream_envoy.describe_alterations()
    assert len(lines) == len(upstream_envoy.ALTERATIONS) == 3
    assert all(line.startswith("upstream Envoy: ") for line in lines)
    assert any("istio.stats" in line for line in lines)


def test_mesh_overlay_switches_off_the_stats_provider(tmp_path: Path) -> None:
    path = upstream_envoy.mesh_overlay(tmp_path)
    overlay = yaml.safe_load(path.read_text("utf-8"))
    assert overlay["kind"] == "IstioOperator"
    assert overlay["spec"]["meshConfig"] == {"defaultProviders": {"metrics": []}}


def test_a_rejection_is_reported_with_envoys_message() -> None:
    stats = "cluster_manager.cds.update_rejected: 2\nlistener_manager.lds.update_rejected: 0\n"
    found = upstream_envoy.rejections(stats, NACK_LOG)
    assert found[0] == "Envoy rejected config (cluster_manager.cds.update_rejected=2)"
    assert "istio.metadata_exchange" in found[1]


def test_no_rejection_when_every_counter_is_zero() -> None:
    stats = "cluster_manager.cds.update_rejected: 0\nlistener_manager.lds.update_rejected: 0\n"
    assert upstream_envoy.rejections(stats, NACK_LOG) == []


def test_istiod_process_env_carries_the_alterations() -> None:
    from meshconform.live.controlplane import istiod  # noqa: PLC0415

    source = Path(istiod.__file__).read_text("utf-8")
    assert "**istiod_env_alterations()" in source


def test_labels_file_is_the_downward_api_format() -> None:
    text = gateway.labels_file({"istio": "ingressgateway", "app": "istio-ingressgateway"})
    assert text == 'app="istio-ingressgateway"\nistio="ingressgateway"\n'


def test_agent_env_puts_every_port_where_pilot_agent_reads_it(tmp_path: Path) -> None:
    identity = gateway.GatewayIdentity("istio-system", {"istio": "ingressgateway"}, "gw-sa")
    ports = gateway.GatewayPorts(1001, 1002, 1003, 1004, 1005, 1006)
    env = gateway.agent_env(identity, ports, 1500, Path("/bin/envoy"), tmp_path)
    proxy = json.loads(env["PROXY_CONFIG"])
    assert proxy["discoveryAddress"] == env["CA_ADDR"] == "127.0.0.1:1500"
    assert (proxy["proxyAdminPort"], proxy["statusPort"]) == (1005, 1006)
    assert (env["ENVOY_STATUS_PORT"], env["ENVOY_PROMETHEUS_PORT"]) == ("1003", "1004")
    assert env["SERVICE_ACCOUNT"] == "gw-sa"
    assert gateway.GatewayPorts.from_dict(ports.as_dict()) == ports
    assert ports.endpoint().https_port == 1002


def gateway_pod(name: str, phase: str, deleting: bool = False) -> dict[str, Any]:
    """A gateway pod as the API server lists it (fields trimmed)."""
    meta: dict[str, Any] = {"name": name, "namespace": "istio-system",
                            "labels": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
                            "ownerReferences": [{"kind": "ReplicaSet",
                                                 "name": "istio-ingressgateway-58548dd968"}]}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-02T18:21:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": "meshconform-sidecar-worker"},
            "status": {"phase": phase, "podIP": "10.244.0.2"}}


def test_gateway_reports_a_live_pod_of_its_deployment() -> None:
    """Istio 1.30 gives a proxy without a pod object no Service targets (its listeners
    land on 80/443): the processes must report a live pod's name, never a dead one's."""
    pods = [gateway_pod("istio-ingressgateway-58548dd968-zz", "Running"),
            gateway_pod("istio-ingressgateway-58548dd968-aa", "Running", deleting=True),
            gateway_pod("istio-ingressgateway-58548dd968-bb", "Failed"),
            gateway_pod("istio-ingressgateway-58548dd968-cc", "Pending")]
    assert gateway.pick_gateway_pod(pods) == "istio-ingressgateway-58548dd968-cc"
    assert gateway.pick_gateway_pod(pods[:1]) == "istio-ingressgateway-58548dd968-zz"
    assert gateway.pick_gateway_pod(pods[1:3]) is None
    identity = gateway.GatewayIdentity("istio-system", {}, "sa")
    env = gateway.agent_env(identity, gateway.GatewayPorts(1, 2, 3, 4, 5, 6), 7,
                            Path("/bin/envoy"), Path("/w"), "istio-ingressgateway-58548dd968-cc")
    assert env["POD_NAME"] == "istio-ingressgateway-58548dd968-cc"


def test_gateway_identity_keeps_the_deployments_selector() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
                  "spec": {"selector": {"matchLabels": {"app": "istio-ingressgateway",
                                                        "istio": "ingressgateway"}},
                           "template": {"metadata": {"labels": {
                               "app": "istio-ingressgateway", "istio": "ingressgateway",
                               "sidecar.istio.io/inject": "false"}},
                               "spec": {"serviceAccountName":
                                        "istio-ingressgateway-service-account"}}}}

    class Install:
        def get(self, kind: str, name: str) -> dict[str, Any]:
            assert (kind, name) == ("Deployment", "istio-ingressgateway")
            return deployment

    identity = gateway.gateway_identity(Install())  # type: ignore[arg-type]
    assert identity.selector == {"app": "istio-ingressgateway", "istio": "ingressgateway"}
    assert identity.service_account == "istio-ingressgateway-service-account"


def test_controlplane_gives_gateway_evidence_not_in_pod_traffic() -> None:
    assert Evidence.GATEWAY in PROVIDES[ClusterKind.CONTROLPLANE]
    assert Evidence.GATEWAY in PROVIDES[ClusterKind.KIND]
    needs = frozenset({Evidence.ISTIOD, Evidence.GATEWAY})
    assert missing_evidence(ClusterKind.CONTROLPLANE, needs) is None
    reason = missing_evidence(ClusterKind.CONTROLPLANE, needs | {Evidence.TRAFFIC})
    assert reason is not None
    assert "traffic" in reason


def test_envoy_launcher_dies_with_its_parent(tmp_path: Path) -> None:
    """pilot-agent gives Envoy no death signal; the launcher does (no orphan Envoy)."""
    import shutil  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import time  # noqa: PLC0415

    from meshconform.live.controlplane.processes import wait_gone  # noqa: PLC0415

    sleep = shutil.which("sleep")
    assert sleep is not None
    launcher = gateway.envoy_launcher(tmp_path, Path(sleep))
    parent = subprocess.Popen(
        ["/bin/sh", "-c", f"{launcher} 300 & echo $!; wait"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 10
    while b"sleep" not in Path(f"/proc/{child}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the launcher never exec'd"
        time.sleep(0.05)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    assert wait_gone(child, 10), f"pid {child} outlived its parent"
