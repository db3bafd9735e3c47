"""Every Kubernetes manifest the live checks apply validates against the 1.35 schema,
with the variables each check passes (Istio kinds: the static tier's istioctl analyze)."""

from __future__ import annotations

import pytest

kubernetes_validate = pytest.importorskip("kubernetes_validate")

from meshconform import manifests  # noqa: E402
from meshconform.paths import fixtures_dir  # noqa: E402

VARIABLES = {
    "NAMESPACE": "mc-ns", "TARGET_URL": "http://echo.mc-ns.svc.cluster.local/get",
    "EXCLUDE_CIDR": "10.96.0.10/32", "NAME": "mc-gw-mc-ns", "TLS_CRT_B64": "Y2VydA==",
    "TLS_KEY_B64": "a2V5", "CA_PEM_B64": "Y2E=", "HOST": "a.meshconform.test",
    "OTHER_HOST": "other-a.meshconform.test", "CREDENTIAL": "mc-gw-mc-ns",
    "BACKEND": "echo.mc-ns.svc.cluster.local", "ENDPOINT": "10.244.1.9",
    "ADDRESS": "198.51.100.9", "MTLS_MODE": "STRICT", "SOURCE_NAMESPACE": "mc-ns",
}
FILES = sorted(p.relative_to(fixtures_dir()).as_posix()
               for d in ("workloads", "egress", "gateway", "security")
               for p in (fixtures_dir() / d).glob("*.yaml"))


@pytest.mark.parametrize("relpath", FILES)
def test_manifest_validates(relpath: str) -> None:
    needed = manifests.placeholders(relpath)
    assert needed <= set(VARIABLES), f"{relpath} needs {needed - set(VARIABLES)}"
    objs = manifests.load_manifests(relpath, **{k: VARIABLES[k] for k in needed})
    assert objs
    for obj in objs:
        if "istio.io" in obj["apiVersion"]:
            assert obj["metadata"]["name"]
            assert obj["spec"]
            continue
        kubernetes_validate.validate(obj, "1.35.0", strict=True)


def test_every_image_is_pinned_by_digest() -> None:
    for ref in manifests.pinned_images():
        assert "@sha256:" in ref, ref
