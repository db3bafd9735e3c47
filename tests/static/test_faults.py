"""Fault detection: deliberately non-conforming configurations, run through the real
istioctl, flip exactly the claims they should and no others."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshconform.claims import Outcome
from meshconform.modes import MODES
from meshconform.static import evaluate
from meshconform.static.facts import StaticFacts
from meshconform.static.inject import pod_shapes
from meshconform.static.istioctl import Istioctl
from meshconform.static.workloads import REFERENCE, workload_text
from tests.static.conftest import expected, outcomes


def _faulty(mode: str, tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """The suite's overlay for ``mode``, parsed, edited, written to tmp_path."""
    overlay = yaml.safe_load(MODES[mode].istio_overlay.read_text("utf-8"))
    edit(overlay["spec"])
    path = tmp_path / f"{mode}-faulty.yaml"
    path.write_text(yaml.safe_dump(overlay), "utf-8")
    return path


def _flipped(istioctl: Istioctl, mode: str, overlay: Path,
             kubernetes: str = "1.35") -> dict[str, tuple[Outcome, Outcome]]:
    facts = StaticFacts(istioctl, MODES[mode], (overlay,), replace_overlay=True,
                        kubernetes=kubernetes)
    want = expected(mode)
    got = outcomes(facts)
    return {cid: (want[cid], got[cid]) for cid in want if want[cid] != got[cid]}


def test_native_sidecars_off_in_native_mode(istioctl: Istioctl, tmp_path: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["values"]["pilot"]["env"]["ENABLE_NATIVE_SIDECARS"] = "false"
    flips = _flipped(istioctl, "native-sidecar", _faulty("native-sidecar", tmp_path, edit))
    assert set(flips) == {"job-completes", "init-container-network",
                          "native-sidecar-injected-as-init"}


def test_classic_overlay_left_on_auto(istioctl: Istioctl, tmp_path: Path) -> None:
    """Research 0.1: with 'auto' on 1.35 nodes a 'classic' install injects native sidecars."""
    def edit(spec: dict[str, Any]) -> None:
        del spec["values"]["pilot"]
    path = _faulty("sidecar", tmp_path, edit)
    flips = _flipped(istioctl, "sidecar", path)
    assert set(flips) == {"classic-sidecar-forced", "job-completes", "init-container-network",
                          "job-completes-with-quitquitquit"}
    assert flips["job-completes"] == (Outcome.BROKEN, Outcome.HOLDS)
    # on 1.32 nodes 'auto' means classic: only the configuration claim notices
    assert set(_flipped(istioctl, "sidecar", path, kubernetes="1.32")) == {
        "classic-sidecar-forced"}


def test_registry_only_missing(istioctl: Istioctl, tmp_path: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        del spec["meshConfig"]["outboundTrafficPolicy"]
    flips = _flipped(istioctl, "sidecar", _faulty("sidecar", tmp_path, edit))
    assert flips == {"egress-registry-only-blocks": (Outcome.HOLDS, Outcome.BROKEN)}


@pytest.mark.parametrize("mode_name", ["sidecar", "native-sidecar"])
def test_dns_capture_off(istioctl: Istioctl, tmp_path: Path, mode_name: str) -> None:
    def edit(spec: dict[str, Any]) -> None:
        del spec["meshConfig"]["defaultConfig"]["proxyMetadata"]["ISTIO_META_DNS_CAPTURE"]
    flips = _flipped(istioctl, mode_name, _faulty(mode_name, tmp_path, edit))
    assert flips == {"dns-proxy-resolves-service-entry": (Outcome.HOLDS, Outcome.BROKEN)}


def test_ambient_dns_capture_off(istioctl: Istioctl, tmp_path: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["values"]["cni"]["ambient"]["dnsCapture"] = False
    flips = _flipped(istioctl, "ambient", _faulty("ambient", tmp_path, edit))
    assert flips == {"dns-proxy-resolves-service-entry": (Outcome.HOLDS, Outcome.BROKEN)}


def test_cni_disabled_in_cni_mode(istioctl: Istioctl, tmp_path: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["components"]["cni"]["enabled"] = False
    flips = _flipped(istioctl, "cni", _faulty("cni", tmp_path, edit))
    assert flips == {"init-container-bypass-workaround": (Outcome.HOLDS, Outcome.BROKEN)}


def test_auto_allocate_disabled(istioctl: Istioctl, tmp_path: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["values"]["pilot"]["env"]["PILOT_ENABLE_IP_AUTOALLOCATE"] = "false"
    flips = _flipped(istioctl, "sidecar", _faulty("sidecar", tmp_path, edit))
    assert flips == {"dns-auto-allocate": (Outcome.HOLDS, Outcome.BROKEN)}


def test_namespaces_injected_by_default(istioctl: Istioctl, tmp_path: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["values"]["sidecarInjectorWebhook"]["enableNamespacesByDefault"] = True
    flips = _flipped(istioctl, "cni", _faulty("cni", tmp_path, edit))
    assert flips == {"injection-not-by-default": (Outcome.HOLDS, Outcome.BROKEN)}


def test_hold_annotation_dropped(facts_for: Callable[[str], StaticFacts]) -> None:
    """Without the annotation and without the mesh-wide setting, nothing holds the app."""
    facts = facts_for("sidecar")
    text = yaml.safe_dump_all([
        {**doc, "metadata": {k: v for k, v in doc["metadata"].items() if k != "annotations"}}
        for doc in yaml.safe_load_all(workload_text(REFERENCE["hold-app"])) if doc])
    bare = pod_shapes(facts.install, "hold-app-bare", text, "1.35")[0]
    assert bare.container_names() == ["app", "istio-proxy"]
    result = evaluate.proxy_ready_before_app(bare, bare)
    assert result.outcome is Outcome.BROKEN
    # one of the two ways missing is enough to fail
    half = evaluate.proxy_ready_before_app(facts.shape("hold-app"), bare)
    assert half.outcome is Outcome.BROKEN


def test_inject_false_label_dropped(facts_for: Callable[[str], StaticFacts]) -> None:
    facts = facts_for("sidecar")
    docs = [d for d in yaml.safe_load_all(workload_text(REFERENCE["job-no-inject"])) if d]
    docs[0]["spec"]["template"]["metadata"]["labels"].pop("sidecar.istio.io/inject")
    pod = pod_shapes(facts.install, "job-inject-dropped", yaml.safe_dump_all(docs), "1.35")[0]
    assert pod.injected
    assert evaluate.job_completes_without_injection(pod).outcome is Outcome.BROKEN
    assert evaluate.job_completes_without_injection(
        facts.shape("job-no-inject")).outcome is Outcome.HOLDS
