"""Schema validation: every object of the generated install against the pinned
Kubernetes version's schema, and Istio custom resources against the openAPIV3Schema
of the CRDs in the same generated install (the exact Istio version under test)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

import jsonschema

from meshconform.errors import UsageError
from meshconform.static.install import StaticInstall
from meshconform.versions import KUBECTL_VERSION

#: the Kubernetes schema version objects are validated against (the pinned kubectl's)
KUBERNETES_SCHEMA = KUBECTL_VERSION.lstrip("v")


def require_kubernetes_validate() -> ModuleType:
    """The ``kubernetes_validate`` module, imported on first use: a plain ``pip install
    meshconform`` (no extras) must still run ``merge``, ``plan`` and the live tier."""
    try:
        import kubernetes_validate  # noqa: PLC0415
    except ImportError:
        raise UsageError(
            "schema validation needs kubernetes-validate, which is not installed",
            "Install the offline extra: pip install 'meshconform[offline]'",
        ) from None
    module: ModuleType = kubernetes_validate
    return module


def crd_schemas(install: StaticInstall) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    """(group, version, kind) -> openAPIV3Schema, from the install's CRDs."""
    schemas: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for crd in install.find("CustomResourceDefinition"):
        spec = crd["spec"]
        for version in spec.get("versions") or []:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema:
                schemas[(spec["group"], version["name"], spec["names"]["kind"])] = schema
    return schemas


def _name(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def validate_objects(
    objects: Iterable[Mapping[str, Any]], install: StaticInstall, origin: str = ""
) -> list[str]:
    """Problems, one line each; empty when every object is valid."""
    crds = crd_schemas(install)
    problems: list[str] = []
    for obj in objects:
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        key = (group, version, str(obj.get("kind")))
        where = f"{origin}{' ' if origin else ''}{_name(obj)}"
        if key in crds:
            validator = jsonschema.Draft7Validator(crds[key])  # OpenAPI v3 ~ draft 4/7
            problems += [
                f"{where}: {e.json_path}: {e.message}" for e in validator.iter_errors(dict(obj))
            ]
            continue
        if group.endswith("istio.io"):
            problems.append(
                f"{where}: no CRD for {obj.get('apiVersion')} {key[2]} in the generated install"
            )
            continue
        kubernetes_validate = require_kubernetes_validate()
        try:
            kubernetes_validate.validate(dict(obj), KUBERNETES_SCHEMA, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{where}: no Kubernetes {KUBERNETES_SCHEMA} schema ({error})")
    return problems


def validate_install(install: StaticInstall) -> list[str]:
    """The install's problems; cached beside the manifest (same install, same schema)."""
    cached = install.workdir / f"schema-{KUBERNETES_SCHEMA}.json"
    if cached.is_file():
        problems: list[str] = json.loads(cached.read_text("utf-8"))
        return problems
    problems = validate_objects(install.objects, install, origin="install")
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(problems), "utf-8")
    partial.replace(cached)
    return problems
