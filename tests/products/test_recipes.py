"""The product recipe loader, secrets handling, manifest validity and static-check faults."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from meshconform import paths
from meshconform.claims import Outcome
from meshconform.errors import ProvisioningError, UsageError
from meshconform.modes import MODES
from meshconform.product_recipes import (
    helm_argv,
    helm_values_document,
    install_product,
    load_recipe,
    redact_secrets,
)
from meshconform.product_static import product_install
from meshconform.products import known_products
from meshconform.static import evaluate
from meshconform.static.analyze import analyze, resources_of
from meshconform.static.inject import admit_objects
from meshconform.static.install import generate
from meshconform.versions import DEFAULT_KUBERNETES

PRODUCTS = ["deploykf", "kubeflow-istio", "speedscale", "testkube"]


def _check_module(relpath: str) -> ModuleType:
    """A product check file of suites/, loaded to call its pure helpers."""
    path = paths.repo_root() / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_product_is_listed_and_loads():
    assert known_products() == PRODUCTS
    for name in PRODUCTS:
        assert load_recipe(name).name == name


def _copy(tmp_path: Path, name: str) -> Path:
    root = tmp_path / "products"
    shutil.copytree(paths.fixtures_dir() / "products" / name, root / name)
    return root


@pytest.mark.parametrize(("edit", "message"), [
    (lambda r: r["install"].update(method="pip"), "install.method 'pip' is not one of"),
    (lambda r: r["install"]["mode_values"].pop("cni"), "lacks modes ['cni']"),
    (lambda r: r.update(claims=["job-completes"]), "lists claim 'job-completes'"),
    (lambda r: r.update(name="other"), "differs from its folder"),
    (lambda r: r["workloads"].append({"file": "workloads/nope.yaml"}), "does not exist"),
])
def test_malformed_recipe_is_one_line_error(tmp_path, edit, message):
    root = _copy(tmp_path, "testkube")
    path = root / "testkube" / "product.yaml"
    raw = yaml.safe_load(path.read_text())
    edit(raw)
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(UsageError) as error:
        load_recipe("testkube", root)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_deploykf_live_install_is_refused_with_the_reason():
    with pytest.raises(UsageError, match="ArgoCD"):
        load_recipe("deploykf").require_installable()


def test_speedscale_without_key_is_refused(monkeypatch):
    monkeypatch.delenv("SPEEDSCALE_API_KEY", raising=False)
    with pytest.raises(UsageError, match="SPEEDSCALE_API_KEY is not set"):
        load_recipe("speedscale").require_installable()


def test_speedscale_key_never_in_argv_and_redacted(monkeypatch, tmp_path):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("SPEEDSCALE_API_KEY", secret)
    recipe = load_recipe("speedscale")

    class FakeKube:  # only the two attributes helm_argv reads
        kubeconfig = tmp_path / "kubeconfig"
        context = None

    argv = helm_argv(recipe, Path("/usr/bin/helm"), FakeKube(), 600)
    assert secret not in " ".join(argv)
    assert "-f" in argv
    assert argv[argv.index("-f") + 1] == "-"
    assert yaml.safe_load(helm_values_document(recipe, "sidecar"))["apiKey"] == secret
    assert secret not in redact_secrets(f"Error: key {secret} rejected", recipe)


def test_workload_shapes_are_valid_kubernetes():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for name in PRODUCTS:
        recipe = load_recipe(name)
        for shape in recipe.workloads:
            for mode in MODES:
                for obj in recipe.render_workload(shape, mode):
                    kubernetes_validate.validate(obj, "1.35.0", strict=True)


def test_istio_resources_pass_real_analyze(istioctl, tmp_path):
    for name in PRODUCTS:
        files = load_recipe(name).istio_resources
        if files:
            result = analyze(istioctl, tmp_path, resources_of(files))
            assert not result.problems, result.output


def test_broken_istio_resource_fails_real_analyze(istioctl, tmp_path):
    """Fault: a Sidecar whose egress host has no namespace is an analyzer Error."""
    broken = tmp_path / "sidecar.yaml"
    broken.write_text(yaml.safe_dump({
        "apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
        "metadata": {"name": "default", "namespace": "istio-system"},
        "spec": {"egress": [{"hosts": ["no-namespace"]}]}}))
    result = analyze(istioctl, tmp_path, resources_of([broken]))
    assert result.problems, result.output


def test_testkube_without_annotation_gets_a_sidecar(istioctl):
    """Fault: drop the documented annotation and the classic-mode claim flips."""
    recipe = load_recipe("testkube")
    shape = recipe.workloads[0]
    install = generate(istioctl, MODES["sidecar"])
    (with_values,) = admit_objects(install, "with", recipe.render_workload(shape, "sidecar"),
                                   DEFAULT_KUBERNETES)
    (without,) = admit_objects(install, "without",
                               recipe.render_workload(shape, "native-sidecar"),
                               DEFAULT_KUBERNETES)
    assert evaluate.proxy_layout(with_values) == "none"
    assert evaluate.job_completes(with_values).outcome is Outcome.HOLDS
    assert evaluate.proxy_layout(without) == "classic", without.describe()
    assert evaluate.job_completes(without).outcome is Outcome.BROKEN


def test_deploykf_requirements_met_and_missing(istioctl):
    """With deployKF's mesh requirements no gap; the mode's mesh without them fails the check."""
    recipe = load_recipe("deploykf")
    module = _check_module("suites/products/deploykf/test_mesh_requirements_static.py")
    objects = recipe.render_workload(recipe.workloads[0], "sidecar")
    met = product_install(istioctl, MODES["sidecar"], recipe)
    (pod,) = admit_objects(met, "dashboard", objects, DEFAULT_KUBERNETES)
    assert module.requirement_gaps(met, pod) == []
    plain = generate(istioctl, MODES["sidecar"])
    (pod,) = admit_objects(plain, "dashboard", objects, DEFAULT_KUBERNETES)
    gaps = module.requirement_gaps(plain, pod)
    assert "mesh config lacks holdApplicationUntilProxyStarts" in gaps
    assert "classic istio-proxy is not first with postStart pilot-agent wait" in gaps


def test_speedscale_dns_resolution_entry_fails_the_check():
    module = _check_module("suites/products/speedscale/test_egress_static.py")
    entry = {"spec": {"location": "MESH_EXTERNAL", "resolution": "DNS",
                      "ports": [{"number": 443, "protocol": "TLS"}]}}
    assert module.entry_problems(entry) == ["resolution DNS"]


class RecordingKube:
    """Records what install_product applies, in order; answers list() with API-shaped objects."""

    def __init__(self, kubeconfig, deployments):
        self.kubeconfig = kubeconfig
        self.context = None
        self.applied = []
        self.deployments = deployments

    def apply(self, obj, namespace=None):
        self.applied.append((obj["kind"], obj["metadata"]["name"], namespace))
        return obj

    def list(self, api_version, kind, namespace=None, label_selector=None):
        return self.deployments if kind == "Deployment" else []


def _recording_helm(tmp_path):
    log = tmp_path / "helm.log"
    helm = tmp_path / "helm"
    helm.write_text(f'#!/bin/sh\necho "argv: $*" >> {log}\necho "stdin: $(cat)" >> {log}\n'
                    'echo "STATUS: deployed"\n')
    helm.chmod(0o755)
    return helm, log


def test_speedscale_install_applies_service_entries_before_helm(monkeypatch, tmp_path):
    monkeypatch.setenv("SPEEDSCALE_API_KEY", "ss-live-key-0123456789")
    helm, log = _recording_helm(tmp_path)
    ready = {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "speedscale-operator", "namespace": "speedscale"},
             "spec": {"replicas": 1}, "status": {"replicas": 1, "readyReplicas": 1}}
    kube = RecordingKube(tmp_path / "kubeconfig", [ready])
    result = install_product(load_recipe("speedscale"), "native-sidecar", kube, helm, 60,
                             enroll_labels={"istio-injection": "enabled"})
    kinds = [kind for kind, _, _ in kube.applied]
    assert kinds[0] == "Namespace"
    assert set(kinds[1:]) == {"ServiceEntry"}
    assert all(ns == "speedscale" for _, _, ns in kube.applied[1:])
    recorded = log.read_text()
    assert "upgrade" in recorded or "install" in recorded
    argv_line = next(line for line in recorded.splitlines() if line.startswith("argv:"))
    assert "ss-live-key-0123456789" not in argv_line
    assert "ss-live-key-0123456789" in recorded  # handed over on stdin only
    assert "ss-live-key-0123456789" not in result.detail


def test_install_fails_when_a_deployment_is_not_ready(monkeypatch, tmp_path):
    monkeypatch.setenv("SPEEDSCALE_API_KEY", "ss-live-key-0123456789")
    helm, _ = _recording_helm(tmp_path)
    unready = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "speedscale-operator", "namespace": "speedscale"},
               "spec": {"replicas": 1}, "status": {"replicas": 1, "unavailableReplicas": 1}}
    kube = RecordingKube(tmp_path / "kubeconfig", [unready])
    with pytest.raises(ProvisioningError, match="not ready after helm --wait: speedscale-operator"):
        install_product(load_recipe("speedscale"), "cni", kube, helm, 60,
                        enroll_labels={"istio-injection": "enabled"})
