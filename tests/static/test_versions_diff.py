"""``meshconform diff`` between the real 1.30 and 1.31 static reports, checked against the
differences confirmed in Istio's own source and release notes.

Both reports are produced here by ``meshconform static`` with each version's real istioctl
(tools/istio/<minor>, the 1.30 build with the substitutions of versions.py).

Confirmed differences between release-1.30 at 9739e10eb9d7 and release-1.31 at eed52ebb66ad
(istio/istio; each release note is in 1.31's ``releasenotes/notes/`` and not in 1.30's):

- ``manifest-generate-output.yaml``: "Added an ``-o/--output`` flag to ``istioctl manifest
  generate``" (operator/cmd/mesh/manifest-generate.go). The flag whose absence crashed the
  1.30 static tier.
- ``60899.yaml``: "Added ``ZTUNNEL_RESOURCE_CPU_LIMIT`` and ``ZTUNNEL_RESOURCE_CPU_REQUEST``
  environment variables to the ztunnel DaemonSet, populated from the configured
  ``resources.limits.cpu`` / ``resources.requests.cpu`` when set"
  (manifests/charts/ztunnel/templates/daemonset.yaml; values.yaml requests ``cpu: 200m``).
- ``zone-aware-load-balancing.yaml``: "a new ``zoneAwareLbSetting`` field on
  ``DestinationRule.TrafficPolicy.LoadBalancerSettings``"
  (manifests/charts/base/files/crd-all.gen.yaml).

None of the 60 release notes new in 1.31 changes a behaviour a static claim checks: the
1.31 compatibility profile (manifests/helm-profiles/compatibility-version-1.30.yaml) lists
its behavioural changes as PILOT_ENABLE_STRICT_GATEWAY_MERGING,
PILOT_SPAWN_UPSTREAM_SPAN_FOR_GATEWAY and PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS, all istiod
runtime defaults (gateway merging, tracing, EDS) that no static claim reads. So the expected
diff has no flipped verdict, and the differences are asserted on the facts both versions
render: the install objects of ``manifest generate`` and istioctl's own flags.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from meshconform.cli import main
from meshconform.modes import MODES
from meshconform.static.install import StaticInstall, generate
from meshconform.static.istioctl import get_istioctl
from meshconform.versions import ISTIO_RELEASES

OLD, NEW = "1.30", "1.31"

#: (claim, mode) -> (old outcome, new outcome) that the release notes lead us to expect
EXPECTED_FLIPS: dict[tuple[str, str], tuple[str, str]] = {}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``meshconform static --istio-version <v> --mesh-mode all`` for both versions."""
    found = {}
    for minor in (OLD, NEW):
        out = tmp_path_factory.mktemp(f"static-{minor}")
        code = main(["static", "--istio-version", minor, "--mesh-mode", "all",
                     "--report-dir", str(out), "--format", "json"])
        report = json.loads((out / "report.json").read_text("utf-8"))
        bad = [f"{r['id']} {r['mode']}: {r['verdict']}: {r['evidence'][:300]}"
               for r in report["claims"] if r["verdict"] in ("fail", "error")]
        assert code == 0, f"meshconform static {minor}:\n" + "\n".join(bad)
        found[minor] = out / "report.json"
    return found


@pytest.fixture(scope="module")
def diff(reports: dict[str, Path]) -> dict[str, Any]:
    """``meshconform diff <1.30>/report.json <1.31>/report.json --format json``, as printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["diff", str(reports[OLD]), str(reports[NEW]), "--format", "json"])
    assert code == 0
    loaded: dict[str, Any] = json.loads(out.getvalue())
    return loaded


def test_diff_names_both_versions_and_the_substituted_build(diff: dict[str, Any]) -> None:
    old, new = diff["versions_changed"]["istio"]
    assert (old["version"], new["version"]) == (OLD, NEW)
    for substitution in ISTIO_RELEASES[OLD].substitutions:
        assert substitution.sentence() in old["build"]
    assert "instead of" not in new["build"]


def test_diff_flips_exactly_the_confirmed_verdicts(diff: dict[str, Any]) -> None:
    """No 1.31 release note changes a statically checked behaviour: nothing flips."""
    flips = {(f["id"], f["mode"]): (f["old"]["observed"], f["new"]["observed"])
             for f in diff["flipped"]}
    assert flips == EXPECTED_FLIPS
    assert diff["added"] == []
    assert diff["removed"] == []


def _install(minor: str, mode: str) -> StaticInstall:
    return generate(get_istioctl(ISTIO_RELEASES[minor], build=False), MODES[mode])


def _ztunnel_env(install: StaticInstall) -> set[str]:
    for obj in install.objects:
        if obj["kind"] == "DaemonSet" and obj["metadata"]["name"] == "ztunnel":
            containers = obj["spec"]["template"]["spec"]["containers"]
            return {e["name"] for c in containers for e in c.get("env", [])}
    raise AssertionError("no ztunnel DaemonSet in the ambient install")


def test_ztunnel_cpu_env_is_new_in_1_31(reports: dict[str, Path]) -> None:
    """releasenotes/notes/60899.yaml: ZTUNNEL_RESOURCE_CPU_REQUEST from requests.cpu."""
    cpu = {"ZTUNNEL_RESOURCE_CPU_REQUEST"}
    assert not cpu & _ztunnel_env(_install(OLD, "ambient"))
    assert cpu <= _ztunnel_env(_install(NEW, "ambient"))


def _load_balancer_fields(install: StaticInstall) -> set[str]:
    for obj in install.objects:
        if (obj["kind"] == "CustomResourceDefinition"
                and obj["metadata"]["name"] == "destinationrules.networking.istio.io"):
            version = next(v for v in obj["spec"]["versions"] if v["name"] == "v1")
            spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
            policy = spec["properties"]["trafficPolicy"]["properties"]
            return set(policy["loadBalancer"]["properties"])
    raise AssertionError("no DestinationRule CRD in the install")


def test_destination_rule_zone_aware_lb_is_new_in_1_31(reports: dict[str, Path]) -> None:
    """releasenotes/notes/zone-aware-load-balancing.yaml: DestinationRule zoneAwareLbSetting."""
    assert "zoneAwareLbSetting" not in _load_balancer_fields(_install(OLD, "sidecar"))
    assert "zoneAwareLbSetting" in _load_balancer_fields(_install(NEW, "sidecar"))
    assert "localityLbSetting" in _load_balancer_fields(_install(OLD, "sidecar"))


def test_manifest_generate_output_flag_is_new_in_1_31() -> None:
    """releasenotes/notes/manifest-generate-output.yaml: ``-o/--output`` from 1.31 on."""
    def flags(minor: str) -> str:
        istioctl = get_istioctl(ISTIO_RELEASES[minor], build=False)
        return istioctl.run(["manifest", "generate", "--help"]).stdout
    assert "--output" not in flags(OLD)
    assert "-o, --output" in flags(NEW)
