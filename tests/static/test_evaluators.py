"""The suite's own overlays, injected by the real istioctl, meet the catalog in every mode."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from meshconform.modes import MODES
from meshconform.static import evaluate
from meshconform.static.facts import StaticFacts
from tests.static.conftest import expected, outcomes


@pytest.mark.parametrize("mode_name", list(MODES))
def test_suite_overlay_meets_catalog(facts_for: Callable[[str], StaticFacts],
                                     mode_name: str) -> None:
    assert outcomes(facts_for(mode_name)) == expected(mode_name)


def test_classic_layout_in_sidecar(facts_for: Callable[[str], StaticFacts]) -> None:
    facts = facts_for("sidecar")
    pod = facts.shape("init-network")
    assert evaluate.proxy_layout(pod) == "classic"
    assert pod.init_names() == ["probe", "istio-init"]
    assert pod.container_names() == ["app", "istio-proxy"]


def test_cni_validation_first(facts_for: Callable[[str], StaticFacts]) -> None:
    pod = facts_for("cni").shape("init-network")
    assert pod.init_names() == ["istio-validation", "probe"]
    assert pod.container_names()[-1] == "istio-proxy"


def test_native_proxy_before_user_inits(facts_for: Callable[[str], StaticFacts]) -> None:
    pod = facts_for("native-sidecar").shape("init-network")
    assert pod.init_names() == ["istio-init", "istio-proxy", "probe"]
    assert pod.container_names() == ["app"]
    proxy = pod.init("istio-proxy")
    assert proxy is not None
    assert proxy["startupProbe"]["httpGet"] == {"path": "/healthz/ready", "port": 15021}


def test_hold_moves_proxy_first_with_wait_hook(facts_for: Callable[[str], StaticFacts]) -> None:
    for key in ("hold-app", "hold-mesh-wide"):
        pod = facts_for("sidecar").shape(key)
        assert pod.container_names()[0] == "istio-proxy", key
        hook = pod.container("istio-proxy")["lifecycle"]["postStart"]  # type: ignore[index]
        assert hook["exec"]["command"][:2] == ["pilot-agent", "wait"], key


def test_ambient_pods_are_not_injected(facts_for: Callable[[str], StaticFacts]) -> None:
    facts = facts_for("ambient")
    assert not facts.shape("job").injected
    assert "no injection webhook" in facts.shape("job").how


@pytest.mark.parametrize(("mode_name", "daemonsets"), [
    ("sidecar", []), ("native-sidecar", []), ("cni", ["istio-cni-node"]),
    ("cni-native-sidecar", ["istio-cni-node"]), ("ambient", ["istio-cni-node", "ztunnel"]),
])
def test_install_shape(facts_for: Callable[[str], StaticFacts], mode_name: str,
                       daemonsets: list[str]) -> None:
    install = facts_for(mode_name).install
    assert sorted(install.daemonsets) == daemonsets
    assert "Deployment/istio-ingressgateway" in evaluate.install_shape(install)


@pytest.mark.parametrize("mode_name", list(MODES))
def test_gateway_service_has_fixed_node_ports(facts_for: Callable[[str], StaticFacts],
                                              mode_name: str) -> None:
    service = facts_for(mode_name).install.get("Service", "istio-ingressgateway")
    assert service["metadata"]["namespace"] == "istio-system"
    assert service["spec"]["type"] == "NodePort"
    ports = {p["port"]: (p["targetPort"], p["nodePort"]) for p in service["spec"]["ports"]}
    assert ports == {80: (8080, 30080), 443: (8443, 30443), 15021: (15021, 30021)}


@pytest.mark.parametrize("mode_name", list(MODES))
def test_overlay_sets_mesh_config(facts_for: Callable[[str], StaticFacts], mode_name: str) -> None:
    install = facts_for(mode_name).install
    mesh = install.mesh
    assert mesh["outboundTrafficPolicy"]["mode"] == "REGISTRY_ONLY"
    assert mesh["defaultConfig"]["proxyMetadata"]["ISTIO_META_DNS_CAPTURE"] == "true"
    assert mesh["defaultConfig"]["proxyMetadata"]["ISTIO_META_DNS_AUTO_ALLOCATE"] == "true"
    assert "holdApplicationUntilProxyStarts" not in mesh["defaultConfig"]
    assert install.values["sidecarInjectorWebhook"]["enableNamespacesByDefault"] is False


def test_native_env_auto_resolution(facts_for: Callable[[str], StaticFacts]) -> None:
    from meshconform.static.inject import native_sidecar_env  # noqa: PLC0415

    install = facts_for("ambient").install  # no ENABLE_NATIVE_SIDECARS in istiod env
    assert native_sidecar_env(install, "1.35")[0] == "true"
    assert native_sidecar_env(install, "1.32")[0] == "false"
    assert "auto" in native_sidecar_env(install, "1.33")[1]
    assert native_sidecar_env(facts_for("sidecar").install, "1.35")[0] == "false"


@pytest.mark.parametrize("mode_name", list(MODES))
def test_every_product_workload_is_admitted(facts_for: Callable[[str], StaticFacts],
                                            mode_name: str) -> None:
    """kube-inject accepts every documented product workload shape; none is skipped."""
    from meshconform.static.workloads import product_workloads  # noqa: PLC0415

    shapes = facts_for(mode_name).product_shapes()
    assert {s.workload for s in shapes} == {str(p) for p in product_workloads()}
    for shape in shapes:
        assert shape.container_names(), shape.describe()
        if shape.injected:
            assert evaluate.proxy_layout(shape) != "none", shape.describe()
