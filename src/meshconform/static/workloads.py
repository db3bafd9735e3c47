"""The workloads the static tier injects: the suite's reference workloads and the
products' documented workload shapes, with placeholders filled by plausible values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from meshconform import paths
from meshconform.manifests import placeholders, substitute

#: plausible values for the fixtures' placeholders (kind's Service CIDR, TEST-NET addresses)
WORKLOAD_VARIABLES = {
    "TARGET_URL": "http://mc-echo.meshconform-target.svc.cluster.local:8080/",
    "EXCLUDE_CIDR": "10.96.0.0/16",
    "MTLS_MODE": "STRICT",
}

#: by name suffix, for placeholders other engineers add (kube-inject/analyze need valid shapes)
_BY_SUFFIX = (
    ("URL", "http://mc-echo.meshconform-target.svc.cluster.local:8080/"),
    ("CIDR", "10.96.0.0/16"),
    ("ADDRESS", "198.51.100.10"),
    ("ENDPOINT", "198.51.100.11"),
    ("IP", "198.51.100.12"),
    ("HOST", "static.meshconform.example"),
    ("BACKEND", "mc-echo.meshconform-target.svc.cluster.local"),
    ("NAMESPACE", "meshconform-static"),
    ("PORT", "8080"),
    ("B64", "c3RhdGljLXRpZXI="),
)


def plausible_value(name: str) -> str:
    """A value of the right shape for placeholder ``name`` (static tier only)."""
    if name in WORKLOAD_VARIABLES:
        return WORKLOAD_VARIABLES[name]
    for suffix, value in _BY_SUFFIX:
        if name.endswith(suffix):
            if suffix == "HOST" and name != "HOST":
                return f"{name.lower().replace('_', '-')}.meshconform.example"
            return value
    return f"mc-{name.lower().replace('_', '-')}"


REFERENCE = {
    "job": "workloads/job.yaml",
    "job-no-inject": "workloads/job-no-inject.yaml",
    "job-no-inject-annotation": "workloads/job-no-inject-annotation.yaml",
    "job-envoy-quitquitquit": "workloads/job-envoy-quitquitquit.yaml",
    "job-quitquitquit": "workloads/job-quitquitquit.yaml",
    "hold-app": "workloads/hold-app.yaml",
    "init-network": "workloads/init-network.yaml",
    "init-network-uid1337": "workloads/init-network-uid1337.yaml",
    "init-network-exclude": "workloads/init-network-exclude.yaml",
    "init-network-host-uid1337": "workloads/init-network-host-uid1337.yaml",
    "init-network-host-exclude": "workloads/init-network-host-exclude.yaml",
}

POD_KINDS = {"Pod", "Job", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "CronJob"}


def workload_text(relpath: str | Path) -> str:
    """The file with every placeholder filled with a plausible value."""
    path = paths.fixtures_dir() / relpath
    variables = {name: plausible_value(name) for name in placeholders(path)}
    return substitute(path.read_text("utf-8"), variables, origin=str(relpath))


def product_workloads() -> list[Path]:
    """Every fixtures/products/**/*.yaml that holds a pod-bearing object."""
    found: list[Path] = []
    root = paths.fixtures_dir() / "products"
    for path in sorted(root.rglob("*.yaml")) if root.is_dir() else []:
        docs = [d for d in yaml.safe_load_all(path.read_text("utf-8")) if isinstance(d, dict)]
        if any(d.get("kind") in POD_KINDS for d in docs):
            found.append(path.relative_to(paths.fixtures_dir()))
    return found


def pod_template(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata, spec) of the pod an object creates."""
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("metadata") or {}, obj["spec"]
    spec = obj["spec"]
    if kind == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec["template"]
    return template.get("metadata") or {}, template["spec"]
