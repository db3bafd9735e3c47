"""A pytest plugin that plants one fault into the inputs of the live resource checks.

Loaded only by the fault tests (``-p tests.controlplane.plant`` with
``MESHCONFORM_TEST_PLANT`` set), in a run of the suite itself on a real control plane:
the API server, the CRDs and istiod's validation webhook judge the planted objects for
real; only what the check hands them changes.

- ``admitting-probe``: the check's "invalid" probe is a VALID VirtualService, as if the
  webhook let invalid configuration through (the readiness wait keeps the real probe).
- ``invalid-product-manifest``: a product manifest that istiod's validation denies (a
  VirtualService whose HTTP route has no destination) joins the recipes' manifests.
- ``allow-any``: the egress checks' Sidecar says ``ALLOW_ANY`` where the fixture says
  ``REGISTRY_ONLY`` (a team that left the mesh open).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from meshconform.products.recipes import OfflineManifest

VALID_VIRTUAL_SERVICE: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "meshconform-planted-valid"},
    "spec": {"hosts": ["planted.example.com"],
             "http": [{"route": [{"destination": {"host": "planted.example.com"}}]}]},
}
#: an HTTP route without a destination: the CRD schema admits it, istiod's validation
#: denies it (the same rule the install's readiness probe relies on)
INVALID_VIRTUAL_SERVICE: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "meshconform-planted-invalid"},
    "spec": {"hosts": ["planted.example.com"], "http": [{"name": "no-route"}]},
}


def _allow_any() -> None:
    from meshconform import manifests  # noqa: PLC0415  (the apply fixture looks it up per call)

    real = manifests.load_manifests

    def planted(relpath: str, **variables: str) -> list[dict[str, Any]]:
        objs = real(relpath, **variables)
        if relpath == "egress/sidecar-registry-only.yaml":
            for obj in objs:
                obj["spec"]["outboundTrafficPolicy"]["mode"] = "ALLOW_ANY"
        return objs

    manifests.load_manifests = planted


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    plant = os.environ.get("MESHCONFORM_TEST_PLANT", "")
    if plant == "allow-any":
        _allow_any()
        return
    for item in items:
        module: Any = getattr(item, "module", None)
        if module is None or not module.__name__.endswith("test_resources_live"):
            continue
        if plant == "admitting-probe":
            module.WEBHOOK_PROBE = VALID_VIRTUAL_SERVICE
        elif plant == "invalid-product-manifest" and not hasattr(module, "PLANTED"):
            module.PLANTED = True  # once per module, not once per collected item
            real = module.offline_manifests

            def planted(mode: str, real: Any = real) -> list[OfflineManifest]:
                return [*real(mode), OfflineManifest("planted", Path("planted.yaml"),
                                                     INVALID_VIRTUAL_SERVICE)]

            module.offline_manifests = planted
