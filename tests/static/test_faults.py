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
                          "job-completes-with-quitquitquit",
                          "job-completes-with-envoy-quitquitquit"}
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
    assert flips == {"init-container-bypass-workaround": (Outcome.HOLDS, Outcome.BROKEN),
                     "init-container-bypass-hostname-uid1337": (Outcome.HOLDS, Outcome.BROKEN)}


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


# ---------------------------------------------------------------- issue 12


def test_native_sidecars_off_in_cni_native_mode(istioctl: Istioctl, tmp_path: Path) -> None:
    """Kubeflow's layout with ENABLE_NATIVE_SIDECARS forced off is the cni mode: the three
    claims that need a native proxy flip, the rest of the mode's matrix is unchanged."""
    def edit(spec: dict[str, Any]) -> None:
        spec["values"]["pilot"]["env"]["ENABLE_NATIVE_SIDECARS"] = "false"
    flips = _flipped(istioctl, "cni-native-sidecar", _faulty("cni-native-sidecar", tmp_path, edit))
    assert set(flips) == {"job-completes", "init-container-network",
                          "native-sidecar-injected-as-init"}


def test_cni_native_mode_without_cni_is_native_sidecar(istioctl: Istioctl,
                                                        tmp_path: Path) -> None:
    """Without istio-cni, cni-native-sidecar's pods get istio-init: the static tier sees it."""
    def edit(spec: dict[str, Any]) -> None:
        spec["components"]["cni"]["enabled"] = False
    facts = StaticFacts(istioctl, MODES["cni-native-sidecar"],
                        (_faulty("cni-native-sidecar", tmp_path, edit),), replace_overlay=True)
    assert "istio-init" in facts.shape("init-network").init_names()
    assert "istio-cni-node" not in facts.install.daemonsets


def test_dns_capture_off_in_cni_mode(istioctl: Istioctl, tmp_path: Path) -> None:
    """Without DNS capture, Kubeflow's excludeOutboundIPRanges 0.0.0.0/0 does reach a hostname:
    the documented failure is tied to DNS capture, and the check sees the difference."""
    def edit(spec: dict[str, Any]) -> None:
        del spec["meshConfig"]["defaultConfig"]["proxyMetadata"]["ISTIO_META_DNS_CAPTURE"]
    flips = _flipped(istioctl, "cni", _faulty("cni", tmp_path, edit))
    assert flips == {
        "dns-proxy-resolves-service-entry": (Outcome.HOLDS, Outcome.BROKEN),
        "init-container-bypass-hostname-exclude-ranges": (Outcome.BROKEN, Outcome.HOLDS),
    }


def _edited_shape(facts: StaticFacts, key: str, edit: Callable[[dict[str, Any]], None]):
    docs = [d for d in yaml.safe_load_all(workload_text(REFERENCE[key])) if d]
    edit(docs[0])
    return pod_shapes(facts.install, f"{key}-edited", yaml.safe_dump_all(docs), "1.35")[0]


def test_hostname_uid_workaround_without_uid_fails(facts_for: Callable[[str], StaticFacts]
                                                   ) -> None:
    facts = facts_for("cni")
    assert evaluate.init_container_hostname_reach(
        facts.shape("init-network-host-uid1337"), facts.install).outcome is Outcome.HOLDS

    def drop_uid(doc: dict[str, Any]) -> None:
        doc["spec"]["initContainers"][0].pop("securityContext")
    bad = _edited_shape(facts, "init-network-host-uid1337", drop_uid)
    result = evaluate.init_container_hostname_reach(bad, facts.install)
    assert result.outcome is Outcome.BROKEN, result.evidence


def test_hostname_exclude_form_is_broken_only_with_dns_capture(
        facts_for: Callable[[str], StaticFacts]) -> None:
    facts = facts_for("cni")
    result = evaluate.init_container_hostname_reach(facts.shape("init-network-host-exclude"),
                                                    facts.install)
    assert result.outcome is Outcome.BROKEN
    assert "ISTIO_OUTPUT_DNS" in result.evidence
    assert "0.0.0.0/0" in result.evidence


def test_legacy_auto_allocate_flag_is_not_needed_from_1_25(istioctl: Istioctl,
                                                            tmp_path: Path) -> None:
    """Issue 12: the check passes with ISTIO_META_DNS_AUTO_ALLOCATE removed (istiod's
    controller allocates since 1.25); before 1.25 the same install would be broken."""
    def edit(spec: dict[str, Any]) -> None:
        del spec["meshConfig"]["defaultConfig"]["proxyMetadata"]["ISTIO_META_DNS_AUTO_ALLOCATE"]
    path = _faulty("sidecar", tmp_path, edit)
    assert _flipped(istioctl, "sidecar", path) == {}
    install = StaticFacts(istioctl, MODES["sidecar"], (path,), replace_overlay=True).install
    assert evaluate.dns_auto_allocate(install).outcome is Outcome.HOLDS
    old = evaluate.dns_auto_allocate(install, minor="1.24")
    assert old.outcome is Outcome.BROKEN, old.evidence
    with_flag = StaticFacts(istioctl, MODES["sidecar"]).install
    assert evaluate.dns_auto_allocate(with_flag, minor="1.24").outcome is Outcome.HOLDS


def test_inject_false_annotation_dropped(facts_for: Callable[[str], StaticFacts]) -> None:
    """The annotation form goes through the webhook; without it istiod injects."""
    facts = facts_for("cni")
    label, annotated = facts.shape("job-no-inject"), facts.shape("job-no-inject-annotation")
    assert not label.injected
    assert evaluate.proxy_layout(label) == "none"
    assert annotated.injected
    assert evaluate.proxy_layout(annotated) == "none"
    ok = evaluate.job_completes_without_injection(label, annotated)
    assert ok.outcome is Outcome.HOLDS
    assert "istiod declined" in ok.evidence
    assert "objectSelector skipped" in ok.evidence

    def drop(doc: dict[str, Any]) -> None:
        doc["spec"]["template"]["metadata"].pop("annotations")
    bad = _edited_shape(facts, "job-no-inject-annotation", drop)
    assert evaluate.job_completes_without_injection(label, bad).outcome is Outcome.BROKEN


def test_envoy_quitquitquit_needs_the_post_and_a_classic_proxy(
        facts_for: Callable[[str], StaticFacts]) -> None:
    facts = facts_for("sidecar")
    good = facts.shape("job-envoy-quitquitquit")
    assert evaluate.job_completes_with_envoy_quitquitquit(good).outcome is Outcome.HOLDS

    def no_post(doc: dict[str, Any]) -> None:
        doc["spec"]["template"]["spec"]["containers"][0]["command"] = ["sh", "-c", "echo done"]
    bad = _edited_shape(facts, "job-envoy-quitquitquit", no_post)
    assert evaluate.job_completes_with_envoy_quitquitquit(bad).outcome is Outcome.BROKEN
