"""The product recipe loader, secrets handling, manifest validity and static-check faults."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml

from meshconform import paths
from meshconform.claims import Outcome
from meshconform.errors import ProvisioningError, UsageError
from meshconform.modes import MODES
from meshconform.products import checks as product_checks
from meshconform.products import known_products
from meshconform.products.recipes import (
    helm_argv,
    helm_values_document,
    install_product,
    load_recipe,
    redact_secrets,
)
from meshconform.products.static import product_install
from meshconform.static import evaluate
from meshconform.static.analyze import analyze, resources_of
from meshconform.static.inject import admit_objects
from meshconform.static.install import generate
from meshconform.versions import DEFAULT_KUBERNETES

PRODUCTS = ["deploykf", "kubeflow-istio", "speedscale", "testkube"]
ALL_MODES = list(MODES)


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
    objects = recipe.render_workload(recipe.workloads[0], "sidecar")
    met = product_install(istioctl, MODES["sidecar"], recipe)
    (pod,) = admit_objects(met, "dashboard", objects, DEFAULT_KUBERNETES)
    assert product_checks.deploykf_requirement_gaps(met, pod) == []
    plain = generate(istioctl, MODES["sidecar"])
    (pod,) = admit_objects(plain, "dashboard", objects, DEFAULT_KUBERNETES)
    gaps = product_checks.deploykf_requirement_gaps(plain, pod)
    assert "mesh config lacks holdApplicationUntilProxyStarts" in gaps
    assert "classic istio-proxy is not first with postStart pilot-agent wait" in gaps


def test_speedscale_dns_resolution_entry_fails_the_check():
    entry = {"spec": {"location": "MESH_EXTERNAL", "resolution": "DNS",
                      "ports": [{"number": 443, "protocol": "TLS"}]}}
    assert product_checks.service_entry_problems(entry) == ["resolution DNS"]


class RecordingKube:
    """Records what install_product applies, in order; answers list() with API-shaped objects."""

    def __init__(self, kubeconfig, deployments):
        self.kubeconfig = kubeconfig
        self.context = None
        self.applied = []
        self.deployments = deployments

    def apply(self, obj, namespace=None):
        if obj["kind"] != "ConfigMap":  # the product record (test_product_isolation.py)
            self.applied.append((obj["kind"], obj["metadata"]["name"], namespace))
        return obj

    def get(self, api_version, kind, name, namespace=None):
        return None

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


# ---------------------------------------------------------------- issue 12: pins and faults


def test_speedscale_pins_a_current_chart_with_the_documented_values():
    """operator-helm index.yaml lists 2.5.x only (0.12.10 was removed in April 2024)."""
    recipe = load_recipe("speedscale")
    assert recipe.install.version.startswith("2.5.")
    for mode in MODES:
        values = recipe.values_for(mode)
        assert values["deployDemo"] == ""
        assert values["clusterName"] == "meshconform"
    assert [c.value for c in recipe.install.credentials] == ["apiKey"]


def _facts(istioctl, mode, recipe, **kwargs):
    return product_checks.ProductFacts(istioctl, MODES[mode], recipe, **kwargs)


def _with_resources(tmp_path, recipe, name, docs):
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs))
    return dataclasses.replace(recipe, istio_resources=(path,))


def test_speedscale_service_entry_without_downloads_host_fails(istioctl, tmp_path):
    recipe = load_recipe("speedscale")
    good = _facts(istioctl, "sidecar", recipe)
    assert product_checks.speedscale_service_entries(good).outcome is Outcome.HOLDS
    docs = [o for p in recipe.istio_resources for o in yaml.safe_load_all(p.read_text()) if o]
    docs[0]["spec"]["hosts"].remove("downloads.speedscale.com")
    bad = _facts(istioctl, "sidecar", _with_resources(tmp_path, recipe, "se.yaml", docs))
    result = product_checks.speedscale_service_entries(bad)
    assert result.outcome is Outcome.BROKEN
    assert "downloads.speedscale.com" in result.evidence


def test_speedscale_pre_install_job_without_the_trap_hangs(istioctl, tmp_path):
    recipe = load_recipe("speedscale")
    assert product_checks.speedscale_pre_install_job(
        _facts(istioctl, "cni", recipe)).outcome is Outcome.HOLDS
    assert product_checks.speedscale_pre_install_job(
        _facts(istioctl, "cni-native-sidecar", recipe)).outcome is Outcome.HOLDS
    (doc,) = [d for d in yaml.safe_load_all(
        (recipe.directory / "workloads" / "pre-install-job.yaml").read_text()) if d]
    doc["spec"]["template"]["spec"]["containers"][0]["args"] = ["echo no trap"]
    path = tmp_path / "pre-install-job.yaml"
    path.write_text(yaml.safe_dump(doc))
    shapes = tuple(dataclasses.replace(s, path=path) if s.path.name == "pre-install-job.yaml"
                   else s for s in recipe.workloads)
    bad = dataclasses.replace(recipe, workloads=shapes)
    assert product_checks.speedscale_pre_install_job(
        _facts(istioctl, "cni", bad)).outcome is Outcome.BROKEN


def test_speedscale_cni_annotation_must_be_on_the_user_workload(istioctl):
    recipe = load_recipe("speedscale")
    assert product_checks.speedscale_cni_annotation(
        _facts(istioctl, "cni", recipe)).outcome is Outcome.HOLDS
    # the annotation left out of the user's workload (what the recipe got wrong before)
    shapes = tuple(dataclasses.replace(s, mode_annotations={}) for s in recipe.workloads)
    missing = dataclasses.replace(recipe, workloads=shapes)
    result = product_checks.speedscale_cni_annotation(_facts(istioctl, "cni", missing))
    assert result.outcome is Outcome.BROKEN, result.evidence
    # on the operator side (the chart's hook Job) instead of the user's workload
    moved = tuple(dataclasses.replace(
        s, mode_annotations={"cni": {product_checks.SPEEDSCALE_CNI_ANNOTATION: "true"}}
        if s.path.name == "pre-install-job.yaml" else {}) for s in recipe.workloads)
    result = product_checks.speedscale_cni_annotation(
        _facts(istioctl, "cni", dataclasses.replace(recipe, workloads=moved)))
    assert result.outcome is Outcome.BROKEN, result.evidence


def test_kubeflow_egress_pruning_is_hidden_by_registry_only(istioctl, tmp_path):
    recipe = load_recipe("kubeflow-istio")
    kubeflow_mesh = _facts(istioctl, "cni-native-sidecar", recipe)
    assert product_checks.sidecar_egress_pruning(kubeflow_mesh).outcome is Outcome.HOLDS
    suite_mesh = _facts(istioctl, "cni-native-sidecar", recipe, with_requirements=False)
    result = product_checks.sidecar_egress_pruning(suite_mesh)
    assert result.outcome is Outcome.BROKEN
    assert "502" in result.evidence
    docs = [o for p in recipe.istio_resources for o in yaml.safe_load_all(p.read_text()) if o]
    for doc in docs:
        if doc["kind"] == "Sidecar":
            doc["spec"]["egress"][0]["hosts"].append("*/*")
    wide = _facts(istioctl, "cni", _with_resources(tmp_path, recipe, "kf.yaml", docs))
    assert product_checks.sidecar_egress_pruning(wide).outcome is Outcome.BROKEN


def test_deploykf_gateway_service_entry_faults(istioctl, tmp_path):
    recipe = load_recipe("deploykf")
    assert product_checks.deploykf_gateway_service_entry(
        _facts(istioctl, "sidecar", recipe)).outcome is Outcome.HOLDS
    entry = {"spec": {"location": "MESH_EXTERNAL", "resolution": "DNS",
                      "addresses": ["10.0.0.1"]}}
    assert product_checks.gateway_service_entry_problems(entry) == [
        "location MESH_EXTERNAL", "resolution DNS", "no workloadSelector",
        "addresses ['10.0.0.1'] (deployKF relies on auto-allocation)"]
    # a mesh without DNS capture: meshed pods cannot resolve the public hostname
    no_dns = tmp_path / "no-dns.yaml"
    no_dns.write_text(yaml.safe_dump({
        "apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
        "spec": {"meshConfig": {"defaultConfig": {"proxyMetadata": {
            "ISTIO_META_DNS_CAPTURE": "false"}}}}}))
    bad = _facts(istioctl, "sidecar", recipe, extra_config=(no_dns,), with_requirements=False)
    result = product_checks.deploykf_gateway_service_entry(bad)
    assert result.outcome is Outcome.BROKEN
    assert "ISTIO_META_DNS_CAPTURE='false'" in result.evidence


def test_deploykf_https_redirect_faults():
    recipe = load_recipe("deploykf")
    objects = [o for p in recipe.istio_resources for o in yaml.safe_load_all(p.read_text()) if o]
    services = [o for o in objects if o["kind"] == "VirtualService"]
    gateways = [o for o in objects if o["kind"] == "Gateway"]
    assert product_checks.https_redirect_problems(services, gateways) == []
    as_301 = yaml.safe_load(yaml.safe_dump(services))
    as_301[0]["spec"]["http"][0]["redirect"]["redirectCode"] = 301
    assert product_checks.https_redirect_problems(as_301, gateways)
    redirecting = yaml.safe_load(yaml.safe_dump(gateways))
    for gateway in redirecting:
        for server in gateway["spec"]["servers"]:
            server.setdefault("tls", {})["httpsRedirect"] = True
    problems = product_checks.https_redirect_problems(services, redirecting)
    assert any("httpsRedirect" in p for p in problems)


def test_deploykf_permissive_statement_is_shown_incorrect_not_held():
    """The claim records deployKF's statement as incorrect: a 403 from the DENY confirms it;
    a plaintext request getting through (the statement holding) fails the check."""
    from meshconform.claimcheck import ClaimCheck, ClaimMismatch  # noqa: PLC0415
    from meshconform.claims import Verdict, get_catalog  # noqa: PLC0415
    from meshconform.report import ClaimResult  # noqa: PLC0415
    from meshconform.traffic.curl import CurlResult  # noqa: PLC0415
    from meshconform.wait.probes import expect_holds  # noqa: PLC0415

    module_path = paths.repo_root() / "suites/products/deploykf/test_permissive_authz_live.py"
    namespace: dict[str, object] = {}
    exec(compile(module_path.read_text(), str(module_path), "exec"), namespace)
    verdict = namespace["permissive_authz_verdict"]
    denied = CurlResult(0, 403, body="RBAC: access denied")
    through = CurlResult(0, 200, body="{}")
    assert verdict(denied) is False
    assert verdict(through) is True

    claim = get_catalog()["deploykf-permissive-bypasses-authz"]
    check = ClaimCheck(claim, "cni-native-sidecar", "live")
    assert expect_holds(check) is False  # settle waits for the policy being applied
    check.conclude(verdict(denied))
    assert any(e.startswith("documentation incorrect") for e in check.evidence)
    row = ClaimResult(claim.id, "cni-native-sidecar", "live", Verdict.PASS, "holds", "broken")
    assert row.finding == "documentation incorrect"
    with pytest.raises(ClaimMismatch, match="recorded as incorrect held"):
        ClaimCheck(claim, "sidecar", "live").conclude(verdict(through))


def test_deploykf_unsupported_in_the_product_matrix():
    from meshconform.plan import product_matrix  # noqa: PLC0415

    cells = product_matrix(ALL_MODES, ["1.29", "1.31"])
    deploykf = [c for c in cells if c.product == "deploykf"]
    assert {(c.status, c.reason) for c in deploykf} == {
        ("unsupported", "needs Istio 1.15\u20131.20")}
    speedscale_ambient = next(c for c in cells if c.product == "speedscale"
                              and c.mode == "ambient")
    assert speedscale_ambient.status == "supported"
    assert "SPEEDSCALE_API_KEY" in speedscale_ambient.live


def test_offline_inventory_lists_every_recipe_file_rendered_for_the_mode():
    from meshconform.products.recipes import offline_manifests, unobtainable  # noqa: PLC0415

    items = offline_manifests("cni")
    assert {i.product for i in items} == set(PRODUCTS)
    user = next(i.obj for i in items if i.obj["metadata"]["name"] == "user-app")
    annotations = user["spec"]["template"]["metadata"]["annotations"]
    assert annotations["sidecar.speedscale.com/istio-cni"] == "true"
    kinds = {i.obj["kind"] for i in items if i.product == "deploykf"}
    assert {"Gateway", "VirtualService", "ServiceEntry", "PeerAuthentication"} <= kinds
    assert set(unobtainable()) == {"deploykf", "speedscale", "testkube"}


def test_kubeflow_pruned_egress_classifier_reads_the_documented_failures():
    """The live check's classifier: the README's errors are the documented failure; a 200
    (mTLS kept, no pruning in effect) is the non-conforming case and fails the check."""
    from meshconform.claimcheck import ClaimCheck, ClaimMismatch  # noqa: PLC0415
    from meshconform.claims import get_catalog  # noqa: PLC0415
    from meshconform.traffic.curl import CurlResult  # noqa: PLC0415

    path = paths.repo_root() / "suites/products/kubeflow-istio/test_egress_pruning_live.py"
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    classify = namespace["pruned_egress_failure"]
    reset_text = ("upstream connect error or disconnect/reset before headers. reset reason: "
                  "connection termination")
    assert classify(CurlResult(0, 503, body=reset_text)) is True
    assert classify(CurlResult(0, 403, body="RBAC: access denied")) is True
    assert classify(CurlResult(56, None, error="curl: (56) Recv failure: Connection reset "
                                             "by peer")) is True
    assert classify(CurlResult(0, 200, body="{}")) is False
    claim = get_catalog()["kubeflow-sidecar-egress-pruning"]
    with pytest.raises(ClaimMismatch):
        ClaimCheck(claim, "cni-native-sidecar", "live").conclude(classify(
            CurlResult(0, 200, body="{}")))
