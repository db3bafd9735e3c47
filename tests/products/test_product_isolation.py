"""Defect 11 (issue 10): a product install stays inside its own namespace and its run.

- The namespace it creates gets the mode's enrollment labels, but a system namespace
  (kubeflow-istio's is istio-system) is never labelled: in ambient that would enroll
  istiod and ztunnel themselves.
- What a run installed is recorded in the cluster and removed at the end of the session;
  a later run on the same cluster (``--reuse-cluster``) with another or no product
  refuses to run on a mesh a product changed (kubeflow's global deny-all).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from meshconform.errors import ProvisioningError
from meshconform.products.recipes import install_product, load_recipe

AMBIENT = {"istio.io/dataplane-mode": "ambient"}


class StoreKube:
    """An object store with the KubeAPI read/write calls install_product makes."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.context = None
        self.closed = False
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.applied: list[tuple[str, str, str | None]] = []
        self.deleted: list[tuple[str, str, str | None]] = []

    def apply(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        body = copy.deepcopy(obj)
        ns = None if body["kind"] in ("Namespace",) else (
            namespace or body["metadata"].get("namespace"))
        self.applied.append((body["kind"], body["metadata"]["name"], ns))
        self.objects[(body["kind"], ns, body["metadata"]["name"])] = body
        return body

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        return []

    def delete(self, api_version: str, kind: str, name: str,
               namespace: str | None = None) -> None:
        self.deleted.append((kind, name, namespace))
        self.objects.pop((kind, namespace, name), None)


def test_a_product_install_never_labels_a_system_namespace(tmp_path: Path) -> None:
    kube = StoreKube(tmp_path / "kubeconfig")
    install_product(load_recipe("kubeflow-istio"), "ambient", kube, None, 60,
                    enroll_labels=AMBIENT)
    labelled = [o for (kind, _, name), o in kube.objects.items()
                if kind == "Namespace" and (o["metadata"].get("labels") or {})]
    assert labelled == [], "istio-system must not get the mode's enrollment labels"
    assert ("Namespace", "istio-system", None) not in kube.applied


def test_a_product_namespace_of_its_own_is_enrolled(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPEEDSCALE_API_KEY", "ss-live-key-0123456789")
    helm = tmp_path / "helm"
    helm.write_text("#!/bin/sh\ncat >/dev/null\necho deployed\n")
    helm.chmod(0o755)
    kube = StoreKube(tmp_path / "kubeconfig")
    install_product(load_recipe("speedscale"), "ambient", kube, helm, 60, enroll_labels=AMBIENT)
    assert kube.objects[("Namespace", None, "speedscale")]["metadata"]["labels"] == AMBIENT


def test_an_installed_product_is_recorded_and_removed(tmp_path: Path) -> None:
    from meshconform.products.recipes import (  # noqa: PLC0415 - added by the fix
        PRODUCTS_RECORD,
        installed_products,
        refuse_foreign_products,
        uninstall_product,
    )

    kube = StoreKube(tmp_path / "kubeconfig")
    recipe = load_recipe("kubeflow-istio")
    install_product(recipe, "cni", kube, None, 60, enroll_labels={"istio-injection": "enabled"})
    assert set(installed_products(kube)) == {"kubeflow-istio"}
    with pytest.raises(ProvisioningError, match="earlier run: kubeflow-istio"):
        refuse_foreign_products(kube, selected=None)
    refuse_foreign_products(kube, selected="kubeflow-istio")  # the same product: fine

    uninstall_product(recipe, kube, None, 60)
    removed = {(kind, name) for kind, name, _ in kube.deleted}
    assert {("AuthorizationPolicy", "global-deny-all"), ("Sidecar", "default")} <= removed
    assert ("Namespace", "istio-system") not in removed
    assert installed_products(kube) == {}
    refuse_foreign_products(kube, selected=None)
    kind, namespace, name = ("ConfigMap", *PRODUCTS_RECORD)
    assert kube.objects[(kind, namespace, name)].get("data") in ({}, None)


def test_the_session_removes_what_it_installed(tmp_path: Path) -> None:
    from meshconform.plugin.products import ProductInstalls  # noqa: PLC0415
    from meshconform.products.recipes import installed_products  # noqa: PLC0415

    kube = StoreKube(tmp_path / "kubeconfig")
    recipe = load_recipe("kubeflow-istio")
    installs = ProductInstalls()
    installs.done["meshconform-cni"] = (recipe, kube, None)  # type: ignore[assignment]
    install_product(recipe, "cni", kube, None, 60, enroll_labels={})
    installs.remove_all(60)
    assert installed_products(kube) == {}  # type: ignore[arg-type]
    assert installs.done == {}


def test_the_session_leaves_a_released_clusters_installs_alone(tmp_path: Path) -> None:
    """A cluster released after its mode's last check is gone (or kept): no uninstall."""
    from meshconform.plugin.products import ProductInstalls  # noqa: PLC0415
    from meshconform.products.recipes import installed_products  # noqa: PLC0415

    kube = StoreKube(tmp_path / "kubeconfig")
    recipe = load_recipe("kubeflow-istio")
    installs = ProductInstalls()
    installs.done["meshconform-cni"] = (recipe, kube, None)  # type: ignore[assignment]
    install_product(recipe, "cni", kube, None, 60, enroll_labels={})
    kube.closed = True
    installs.remove_all(60)
    assert installed_products(kube) != {}  # type: ignore[arg-type]
    assert kube.deleted == []
    assert installs.done == {}


def test_the_live_tier_refuses_a_cluster_with_a_foreign_product() -> None:
    import inspect  # noqa: PLC0415

    from meshconform.plugin import live  # noqa: PLC0415

    assert "refuse_foreign_products(" in inspect.getsource(live.LiveState.cluster)
