"""Target products as data: load and check ``fixtures/products/<name>/product.yaml``.

A recipe says how a product installs in each mesh mode, exactly as its Istio guide
prescribes (``install.mode_values``), which workload shapes and Istio resources it
documents, and which claims apply. The live install runs the real ``helm`` (or applies the
product's Istio resources) and returns its duration for the report's ``product`` phase.
Credentials (Speedscale's API key) are read from the environment and handed to helm on
stdin only: never argv, files, logs or reports.
"""

from __future__ import annotations

import copy
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshconform.errors import ProvisioningError, UsageError
from meshconform.live.kubeapi import KubeAPI
from meshconform.manifests import load_manifests
from meshconform.modes import MODES
from meshconform.redact import redact

INSTALL_METHODS = ("helm", "manifests", "none")
READY_KINDS = ("deployments", "none")


@dataclass(frozen=True)
class Credential:
    env: str
    #: the helm value the secret goes to (e.g. ``apiKey``)
    value: str
    how: str


@dataclass(frozen=True)
class WorkloadShape:
    path: Path
    #: dotted path into the mode's values whose mapping the chart copies into the pod
    #: template's annotations; empty when the shape takes no values
    pod_annotations_from: str = ""
    #: annotations the product's guide tells users to add to this workload in a mode
    mode_annotations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Install:
    method: str
    namespace: str
    repo: str = ""
    chart: str = ""
    version: str = ""
    release: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    mode_values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    credentials: tuple[Credential, ...] = ()
    ready: str = "none"
    unsupported: str = ""
    #: the Istio minors the product supports, "1.15-1.20"; empty: every version the suite runs
    istio_versions: str = ""

    def supports_istio(self, minor: str) -> bool:
        if not self.istio_versions:
            return True
        low, _, high = self.istio_versions.partition("-")
        key = _minor_key(minor)
        return _minor_key(low) <= key <= _minor_key(high or low)


def _minor_key(version: str) -> tuple[int, int]:
    major, minor = (int(p) for p in version.strip().split(".")[:2])
    return major, minor


@dataclass(frozen=True)
class ProductRecipe:
    name: str
    summary: str
    directory: Path
    docs: tuple[tuple[str, str], ...]
    install: Install
    workloads: tuple[WorkloadShape, ...]
    istio_resources: tuple[Path, ...]
    claims: tuple[str, ...]
    mesh_requirements: Mapping[str, Any] = field(default_factory=dict)

    def values_for(self, mode: str) -> dict[str, Any]:
        """The helm values for ``mode``: the common values with the mode's merged over them."""
        return deep_merge(self.install.values, self.install.mode_values.get(mode, {}))

    def pod_annotations(self, shape: WorkloadShape, mode: str) -> dict[str, str]:
        found: dict[str, str] = {}
        if shape.pod_annotations_from:
            values = dig(self.values_for(mode), shape.pod_annotations_from)
            found = {str(k): str(v) for k, v in (values or {}).items()}
        return {**found, **shape.mode_annotations.get(mode, {})}

    def render_workload(
        self, shape: WorkloadShape, mode: str, **variables: str
    ) -> list[dict[str, Any]]:
        """The workload's objects as the chart renders them with the mode's values."""
        objs = load_manifests(shape.path, **variables)
        annotations = self.pod_annotations(shape, mode)
        for obj in objs:
            if annotations:
                template_meta(obj).setdefault("annotations", {}).update(annotations)
        return objs

    def require_installable(self) -> None:
        """Raise a UsageError saying why this product cannot be installed live here."""
        if self.install.unsupported or self.install.method == "none":
            raise UsageError(
                f"product {self.name} cannot be installed by the live tier: "
                f"{self.install.unsupported or 'no install method'}",
                f"Run its static checks instead: --tier static --product {self.name}",
            )
        for cred in self.install.credentials:
            if not os.environ.get(cred.env):
                raise UsageError(
                    f"product {self.name} needs a credential: {cred.env} is not set",
                    f"Export {cred.env} ({cred.how}); it is passed to helm on stdin and "
                    "never written to disk, logs or reports",
                )


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def dig(values: Mapping[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def template_meta(obj: dict[str, Any]) -> dict[str, Any]:
    """The metadata that ends up on the pod: a Pod's own, or a Job/Deployment template's."""
    if obj.get("kind") == "Pod":
        meta: dict[str, Any] = obj.setdefault("metadata", {})
        return meta
    template = obj.setdefault("spec", {}).setdefault("template", {})
    tmeta: dict[str, Any] = template.setdefault("metadata", {})
    return tmeta


def _bad(name: str, what: str) -> UsageError:
    return UsageError(
        f"product {name}: product.yaml {what}",
        f"Fix fixtures/products/{name}/product.yaml (see docs/products.md)",
    )


def _mapping(raw: Any, name: str, key: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _bad(name, f"field {key} must be a mapping")
    return raw


def _str(raw: Mapping[str, Any], key: str, name: str, *, required: bool = True) -> str:
    value = raw.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str | int | float) or (required and not str(value).strip()):
        raise _bad(name, f"field {key} is missing or not a string")
    return str(value).strip()


def _file(directory: Path, rel: Any, name: str, key: str) -> Path:
    if not isinstance(rel, str) or not rel:
        raise _bad(name, f"{key} entries must be file paths")
    path = directory / rel
    if not path.is_file():
        raise _bad(name, f"{key} names {rel}, which does not exist")
    return path


def parse_recipe(raw: Any, directory: Path) -> ProductRecipe:  # noqa: PLR0912, PLR0915
    """Check one product.yaml document; every problem is one UsageError naming the field."""
    folder = directory.name
    if not isinstance(raw, dict):
        raise _bad(folder, "is not a mapping")
    name = _str(raw, "name", folder)
    if name != folder:
        raise _bad(folder, f"name {name!r} differs from its folder {folder!r}")
    inst = _mapping(raw.get("install"), name, "install")
    method = _str(inst, "method", name)
    if method not in INSTALL_METHODS:
        raise _bad(name, f"install.method {method!r} is not one of {', '.join(INSTALL_METHODS)}")
    mode_values = _mapping(inst.get("mode_values"), name, "install.mode_values")
    unknown = sorted(set(mode_values) - set(MODES))
    if unknown:
        raise _bad(name, f"install.mode_values has unknown modes {unknown}")
    if method == "helm":
        for key in ("repo", "chart", "version", "release"):
            _str(inst, key, name)
        missing = sorted(set(MODES) - set(mode_values))
        if missing:
            raise _bad(name, f"install.mode_values lacks modes {missing} (use {{}} for none)")
    creds: list[Credential] = []
    for item in inst.get("credentials") or []:
        if not isinstance(item, dict):
            raise _bad(name, "install.credentials entries must be mappings")
        creds.append(
            Credential(_str(item, "env", name), _str(item, "value", name), _str(item, "how", name))
        )
    ready = _str(inst, "ready", name, required=False) or "none"
    if ready not in READY_KINDS:
        raise _bad(name, f"install.ready {ready!r} is not one of {', '.join(READY_KINDS)}")
    unsupported = _str(inst, "unsupported", name, required=False)
    istio_versions = _str(inst, "istio_versions", name, required=False)
    if istio_versions:
        try:
            low, _, high = istio_versions.partition("-")
            _minor_key(low), _minor_key(high or low)
        except ValueError:
            what = f"install.istio_versions {istio_versions!r} is not like 1.15-1.20"
            raise _bad(name, what) from None
    if method == "none" and not unsupported:
        raise _bad(name, "install.method none needs install.unsupported saying why")
    install = Install(
        method=method,
        namespace=_str(inst, "namespace", name, required=method != "none"),
        repo=_str(inst, "repo", name, required=False),
        chart=_str(inst, "chart", name, required=False),
        version=_str(inst, "version", name, required=False),
        release=_str(inst, "release", name, required=False),
        values=_mapping(inst.get("values"), name, "install.values"),
        mode_values={
            m: _mapping(v, name, f"install.mode_values.{m}") for m, v in mode_values.items()
        },
        credentials=tuple(creds),
        ready=ready,
        unsupported=unsupported,
        istio_versions=istio_versions,
    )
    shapes: list[WorkloadShape] = []
    for item in raw.get("workloads") or []:
        if not isinstance(item, dict):
            raise _bad(name, "workloads entries must be mappings with a file")
        by_mode = _mapping(item.get("mode_annotations"), name, "workloads[].mode_annotations")
        unknown_modes = sorted(set(by_mode) - set(MODES))
        if unknown_modes:
            raise _bad(name, f"workloads[].mode_annotations has unknown modes {unknown_modes}")
        shapes.append(
            WorkloadShape(
                _file(directory, item.get("file"), name, "workloads"),
                _str(item, "pod_annotations_from", name, required=False),
                {
                    m: {str(k): str(v) for k, v in _mapping(a, name, "mode_annotations").items()}
                    for m, a in by_mode.items()
                },
            )
        )
    resources = tuple(
        _file(directory, rel, name, "istio_resources") for rel in raw.get("istio_resources") or []
    )
    if method == "manifests" and not resources:
        raise _bad(name, "install.method manifests needs istio_resources to apply")
    claims = raw.get("claims")
    if not isinstance(claims, list) or not claims or not all(isinstance(c, str) for c in claims):
        raise _bad(name, "claims must be a non-empty list of claim ids")
    docs = []
    for item in raw.get("docs") or []:
        if not isinstance(item, dict):
            raise _bad(name, "docs entries must be mappings with title and source")
        docs.append((_str(item, "title", name), _str(item, "source", name)))
    if not docs:
        raise _bad(name, "docs must list at least one documentation source")
    return ProductRecipe(
        name=name,
        summary=_str(raw, "summary", name),
        directory=directory,
        docs=tuple(docs),
        install=install,
        workloads=tuple(shapes),
        istio_resources=resources,
        claims=tuple(claims),
        mesh_requirements=_mapping(raw.get("mesh_requirements"), name, "mesh_requirements"),
    )


def load_recipe(name: str, root: Path | None = None) -> ProductRecipe:
    """Load and check a recipe's ``product.yaml`` and its claim ids.

    The recipe comes from the ``meshconform.products`` entry points (built-ins included);
    ``root`` instead reads ``<root>/<name>/product.yaml`` (tests of malformed recipes).
    """
    if root is None:
        from meshconform.products import get_source  # noqa: PLC0415 - entry points load lazily

        directory = get_source(name).directory
    else:
        directory = root / name
    path = directory / "product.yaml"
    if not path.is_file():
        raise UsageError(
            f"unknown product {name!r}: {path} does not exist",
            "Use one of the folders of fixtures/products/ that has a product.yaml",
        )
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as error:
        raise _bad(name, f"is not valid YAML ({str(error).splitlines()[0]})") from None
    recipe = parse_recipe(raw, directory)
    from meshconform.claims import get_catalog  # noqa: PLC0415 - catalog loads lazily

    catalog = get_catalog()
    for claim_id in recipe.claims:
        claim = catalog.get(claim_id)
        if claim is None or claim.product != recipe.name:
            raise _bad(
                name,
                f"lists claim {claim_id!r}, which is not a claim with "
                f"product: {recipe.name} in claims.yaml",
            )
    return recipe


# ---------------------------------------------------------------- live install


@dataclass(frozen=True)
class InstallResult:
    product: str
    mode: str
    duration_s: float
    detail: str


def helm_argv(recipe: ProductRecipe, helm: Path, kube: KubeAPI, timeout: float) -> list[str]:
    """The helm command line; every value comes on stdin (``-f -``), nothing secret in argv."""
    inst = recipe.install
    argv = [
        str(helm),
        "upgrade",
        "--install",
        inst.release,
        inst.chart,
        "--repo",
        inst.repo,
        "--version",
        inst.version,
        "--namespace",
        inst.namespace,
        "--create-namespace",
        "--kubeconfig",
        str(kube.kubeconfig),
        "--wait",
        "--timeout",
        f"{int(timeout)}s",
        "-f",
        "-",
    ]
    if kube.context:
        argv += ["--kube-context", kube.context]
    return argv


def helm_values_document(
    recipe: ProductRecipe, mode: str, environ: Mapping[str, str] | None = None
) -> str:
    """The values YAML fed to helm on stdin: the mode's values plus credentials from env."""
    env = os.environ if environ is None else environ
    values = recipe.values_for(mode)
    for cred in recipe.install.credentials:
        values[cred.value] = env[cred.env]
    return yaml.safe_dump(values, sort_keys=True)


def install_product(
    recipe: ProductRecipe,
    mode: str,
    kube: KubeAPI,
    helm: Path | None,
    timeout: float,
    *,
    enroll_labels: Mapping[str, str],
) -> InstallResult:
    """Install ``recipe`` into the cluster for ``mode``; return how long it took.

    helm's own ``--wait`` watches the release's Deployments/Jobs become ready (helm waits on
    the API, it does not sleep); the namespace is created first with the mode's enrollment
    labels so the product runs inside the mesh.
    """
    recipe.require_installable()
    started = time.monotonic()
    inst = recipe.install
    _record(kube, recipe.name, f"mode {mode}, namespace {inst.namespace}")
    if inst.namespace not in SYSTEM_NAMESPACES:
        # a system namespace (kubeflow-istio's is istio-system) is never enrolled: in
        # ambient that would put istiod and ztunnel themselves into the mesh
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": inst.namespace, "labels": dict(enroll_labels)},
            }
        )
    # The product's documented Istio resources go in first: under REGISTRY_ONLY a chart's
    # pre-install hook (Speedscale's API key check) needs its ServiceEntries to get out.
    for path in recipe.istio_resources:
        for obj in load_manifests(path):
            namespace = obj.get("metadata", {}).get("namespace") or inst.namespace
            kube.apply(obj, namespace)
    if inst.method == "manifests":
        detail = f"applied {len(recipe.istio_resources)} Istio resource files"
    else:
        if helm is None:
            raise UsageError(
                f"product {recipe.name} installs with helm, but no helm was given",
                "Pass --helm /path/to/helm or put helm on PATH",
            )
        argv = helm_argv(recipe, helm, kube, timeout)
        try:
            done = subprocess.run(
                argv,
                input=helm_values_document(recipe, mode),
                capture_output=True,
                text=True,
                timeout=timeout + 60,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ProvisioningError(
                f"product {recipe.name}: helm did not return within {timeout + 60:.0f}s"
            ) from None
        if done.returncode != 0:
            raise ProvisioningError(
                f"product {recipe.name}: helm install of {inst.chart} {inst.version} failed "
                f"(exit {done.returncode}): {redact_secrets(done.stderr, recipe)[-2000:]}"
            )
        detail = f"helm {inst.chart} {inst.version}: {redact_secrets(done.stdout, recipe)[:200]}"
    if inst.ready == "deployments":
        unready = [
            d["metadata"]["name"]
            for d in kube.list("apps/v1", "Deployment", inst.namespace)
            if (d.get("status") or {}).get("readyReplicas", 0)
            < (d.get("spec") or {}).get("replicas", 1)
        ]
        if unready:
            raise ProvisioningError(
                f"product {recipe.name}: Deployments not ready after "
                f"helm --wait: {', '.join(unready)}"
            )
    return InstallResult(recipe.name, mode, round(time.monotonic() - started, 3), detail)


#: namespaces a product install never labels, creates or deletes
SYSTEM_NAMESPACES = frozenset(
    {"istio-system", "kube-system", "kube-public", "kube-node-lease", "local-path-storage"}
)
#: (namespace, name) of the ConfigMap that records the products installed in a cluster
PRODUCTS_RECORD = ("kube-system", "meshconform-products")


def installed_products(kube: KubeAPI) -> dict[str, str]:
    """product name -> what was installed, as recorded in the cluster."""
    namespace, name = PRODUCTS_RECORD
    record = kube.get("v1", "ConfigMap", name, namespace) or {}
    return dict(record.get("data") or {})


def _record(kube: KubeAPI, product: str, note: str | None) -> None:
    """Add (``note``) or remove (None) ``product`` in the cluster's record."""
    namespace, name = PRODUCTS_RECORD
    data = installed_products(kube)
    if note is None:
        data.pop(product, None)
    else:
        data[product] = note
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": data,
        },
        namespace,
    )


def refuse_foreign_products(kube: KubeAPI, selected: str | None) -> None:
    """Raise unless the cluster carries no product but ``selected``: a product an earlier
    run left behind (``--keep``, an interrupted run) changes the mesh the core checks see
    (kubeflow-istio's global deny-all)."""
    foreign = {p: n for p, n in installed_products(kube).items() if p != selected}
    if foreign:
        listed = "; ".join(f"{p} ({n})" for p, n in sorted(foreign.items()))
        namespace, name = PRODUCTS_RECORD
        raise ProvisioningError(
            f"the cluster still has product(s) installed by an earlier run: {listed} "
            f"(recorded in ConfigMap {namespace}/{name}). They change what every check "
            "sees; delete the cluster, or run with --product for that product"
        )


def uninstall_product(
    recipe: ProductRecipe, kube: KubeAPI, helm: Path | None, timeout: float
) -> None:
    """Remove what :func:`install_product` put in: the helm release, the Istio resources,
    the product's own namespace (never a system namespace); then drop the record."""
    inst = recipe.install
    if inst.method == "helm" and helm is not None:
        argv = [
            str(helm),
            "uninstall",
            inst.release,
            "--namespace",
            inst.namespace,
            "--kubeconfig",
            str(kube.kubeconfig),
            "--wait",
            "--timeout",
            f"{int(timeout)}s",
        ]
        if kube.context:
            argv += ["--kube-context", kube.context]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout + 60, check=False
        )
        if done.returncode != 0 and "not found" not in done.stderr:
            raise ProvisioningError(
                f"product {recipe.name}: helm uninstall failed (exit {done.returncode}): "
                f"{redact_secrets(done.stderr, recipe)[-1000:]}"
            )
    for path in reversed(recipe.istio_resources):
        for obj in load_manifests(path):
            namespace = obj.get("metadata", {}).get("namespace") or inst.namespace
            kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], namespace)
    if inst.namespace and inst.namespace not in SYSTEM_NAMESPACES:
        kube.delete("v1", "Namespace", inst.namespace)
    _record(kube, recipe.name, None)


def redact_secrets(
    text: str, recipe: ProductRecipe, environ: Mapping[str, str] | None = None
) -> str:
    """``redact`` plus the literal values of the recipe's credentials, wherever they appear."""
    env = os.environ if environ is None else environ
    for cred in recipe.install.credentials:
        secret = env.get(cred.env)
        if secret:
            text = text.replace(secret, "<redacted>")
    return redact(text)


# ---------------------------------------------------------------- offline inventory


@dataclass(frozen=True)
class OfflineManifest:
    """One product object the suite has without network access, rendered for a mode."""

    product: str
    source: Path
    obj: dict[str, Any]


def offline_manifests(mode: str, products: list[str] | None = None) -> list[OfflineManifest]:
    """Every product manifest and Istio resource the suite can obtain offline, rendered with
    ``mode``'s values and annotations: the recipes' Istio resources and workload shapes (for
    admission by a real API server, e.g. a server-side dry-run against the real CRDs and
    istiod's validation). Charts themselves (helm repositories) are not here: see
    :func:`unobtainable`."""
    from meshconform.products import known_products  # noqa: PLC0415 - entry points load lazily

    found: list[OfflineManifest] = []
    for name in products if products is not None else known_products():
        recipe = load_recipe(name)
        for path in recipe.istio_resources:
            found.extend(OfflineManifest(name, path, obj) for obj in load_manifests(path))
        for shape in recipe.workloads:
            found.extend(
                OfflineManifest(name, shape.path, obj)
                for obj in recipe.render_workload(shape, mode)
            )
    return found


def unobtainable(products: list[str] | None = None) -> dict[str, str]:
    """Per product, what the suite cannot obtain offline, and why."""
    from meshconform.products import known_products  # noqa: PLC0415

    missing: dict[str, str] = {}
    for name in products if products is not None else known_products():
        inst = load_recipe(name).install
        if inst.method == "helm":
            missing[name] = (
                f"helm chart {inst.chart} {inst.version} from {inst.repo}: fetched over the "
                "network at install time (only its workload shapes are kept in the recipe)"
            )
        elif inst.method == "none":
            missing[name] = f"no install manifests: {inst.unsupported}"
    return missing
