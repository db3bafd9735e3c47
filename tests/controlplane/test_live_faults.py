"""The live tier on a real control plane: conforming overlays pass, each fault fails.

Each test runs the suite itself (``pytest suites --tier live --cluster controlplane``) in a
subprocess with a mesh configuration given through ``--istio-config``, on a control plane
and istiod of its own, and reads the verdicts from report.json. The faults are the ones a
platform team makes: native sidecars switched off, namespaces injected by default,
ENABLE_NATIVE_SIDECARS left at ``auto`` in a classic mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from meshconform import paths

from .conftest import TEST_ISTIO

# Helm values, as a team would pass them (an IstioOperator works too)
NATIVE_OFF = "pilot:\n  env:\n    ENABLE_NATIVE_SIDECARS: \"false\"\n"
INJECT_ALL = "sidecarInjectorWebhook:\n  enableNamespacesByDefault: true\n"
NATIVE_AUTO = "pilot:\n  env:\n    ENABLE_NATIVE_SIDECARS: auto\n"


def run_suite(tmp_path: Path, mode: str, checks: str, config: str | None = None,
              plant: str | None = None) -> dict[str, dict[str, Any]]:
    """Run the live checks matching ``checks`` on a fresh controlplane; verdicts by check."""
    argv = [sys.executable, "-m", "pytest", "suites", "--tier", "live", "--cluster",
            "controlplane", "--mesh-mode", mode, "--istio-version", TEST_ISTIO,
            "--report-dir", str(tmp_path / "report"), "-k", checks, "-p", "no:randomly",
            "-p", "no:cacheprovider", "-q"]
    if config is not None:
        team = tmp_path / "team.yaml"
        team.write_text(config, "utf-8")
        argv += ["--istio-config", str(team)]
    env = dict(os.environ)
    if plant is not None:
        # tests/controlplane/plant.py: a fault in what the check hands the real API server
        argv += ["-p", "tests.controlplane.plant"]
        env["MESHCONFORM_TEST_PLANT"] = plant
    done = subprocess.run(argv, cwd=paths.repo_root(), capture_output=True, text=True,
                          check=False, timeout=900, env=env)
    report = tmp_path / "report" / "report.json"
    assert report.is_file(), f"no report (exit {done.returncode}):\n{done.stdout[-3000:]}" \
                             f"\n{done.stderr[-2000:]}"
    data = json.loads(report.read_text("utf-8"))
    assert data["cluster"] == "controlplane"
    found = {c["check"].split("::")[-1].split("[")[0]: c for c in data["claims"]}
    for claim in found.values():
        if claim["verdict"] == "error":  # setup trouble: show why, or the assert says "error"
            print(f"{claim['check']}: error:\n{claim['evidence'][-3000:]}\n{done.stdout[-3000:]}")
    return found


def test_conforming_native_sidecar_mode_passes(tmp_path: Path) -> None:
    found = run_suite(tmp_path, "native-sidecar",
                      "injection or injected or opt_out or admitted or job_completes")
    verdicts = {name: c["verdict"] for name, c in found.items()}
    assert verdicts["test_native_sidecar_injected_as_init"] == "pass", found
    assert verdicts["test_injection_not_by_default"] == "pass", found
    assert verdicts["test_istio_resources_admitted"] == "pass", found
    assert verdicts["test_job_opt_out_pods_not_injected"] == "pass", found
    assert verdicts["test_hold_annotation_injected_shape"] == "pass", found
    assert verdicts["test_init_container_injected_order"] == "pass", found
    # needs a kubelet: skipped with the reason, never decided by kwok's status
    assert verdicts["test_job_completes"] == "skip"
    assert "needs a data plane" in found["test_job_completes"]["evidence"]
    # every evidence line says where it came from
    evidence = found["test_native_sidecar_injected_as_init"]["evidence"].splitlines()
    assert evidence
    assert all(line.startswith("[controlplane] ") for line in evidence[:-1]), evidence
    assert "istio-proxy native" in found["test_native_sidecar_injected_as_init"]["evidence"]


def test_native_sidecars_switched_off_fail_native_injection(tmp_path: Path) -> None:
    found = run_suite(tmp_path, "native-sidecar", "native_sidecar_injected_as_init", NATIVE_OFF)
    result = found["test_native_sidecar_injected_as_init"]
    assert result["verdict"] == "fail", result
    assert result["observed"] == "broken"


def test_namespaces_injected_by_default_fail_injection_not_by_default(tmp_path: Path) -> None:
    found = run_suite(tmp_path, "sidecar", "injection_not_by_default", INJECT_ALL)
    result = found["test_injection_not_by_default"]
    assert result["verdict"] == "fail", result
    assert "unlabelled namespace" in result["evidence"]


def test_native_sidecars_left_at_auto_fail_classic_sidecar_forced(tmp_path: Path) -> None:
    found = run_suite(tmp_path, "sidecar", "classic_sidecar_forced", NATIVE_AUTO)
    result = found["test_classic_sidecar_forced"]
    assert result["verdict"] == "fail", result
    assert "kubelets: ['v1.35" in result["evidence"]


@pytest.mark.parametrize("mesh_mode", ["sidecar", "cni"])
def test_conforming_classic_modes_force_classic_sidecars(tmp_path: Path, mesh_mode: str) -> None:
    found = run_suite(tmp_path, mesh_mode, "classic_sidecar_forced")
    assert found["test_classic_sidecar_forced"]["verdict"] == "pass", found


def test_admitted_invalid_probe_fails_resources_admitted(tmp_path: Path) -> None:
    """If the webhook let the invalid probe through, the admissions prove nothing: fail."""
    found = run_suite(tmp_path, "sidecar", "istio_resources_admitted", plant="admitting-probe")
    result = found["test_istio_resources_admitted"]
    assert result["verdict"] == "fail", result
    assert "ADMITTED" in result["evidence"]


def test_invalid_product_manifest_fails_product_manifests_admitted(tmp_path: Path) -> None:
    found = run_suite(tmp_path, "sidecar", "product_manifests_admitted",
                      plant="invalid-product-manifest")
    result = found["test_product_manifests_admitted"]
    assert result["verdict"] == "fail", result
    # refused by istiod's validation webhook, with its own words
    assert "REFUSED planted planted.yaml VirtualService meshconform-planted-invalid" in \
        result["evidence"], result
    assert "denied the request" in result["evidence"], result


def test_allow_any_fails_registry_only_on_process_pods_with_their_logs(tmp_path: Path) -> None:
    """The live egress check itself, on process pods: ALLOW_ANY instead of REGISTRY_ONLY is
    a FAIL, and its artifacts hold the process pods' own logs and the node's DNS log (no
    kubelet serves logs there)."""
    found = run_suite(tmp_path, "sidecar", "test_registry_only_blocks_unknown_host",
                      plant="allow-any")
    row = found["test_registry_only_blocks_unknown_host"]
    assert row["verdict"] == "fail", row
    assert "expected blocked-by-registry, got HTTP 200" in row["evidence"], row["evidence"]
    folder = tmp_path / "report" / "artifacts"
    logs = {p.relative_to(folder).as_posix() for p in folder.rglob("*.log")}
    client = [p for p in logs if "/controlplane/pods/" in p and ".client-" in p]
    assert any(p.endswith("/istio-proxy.log") for p in client), sorted(logs)
    # (it may be empty: this check's requests name their address, nothing asks the node's DNS)
    assert any(p.endswith("/controlplane/cluster-dns.log") for p in logs), sorted(logs)
