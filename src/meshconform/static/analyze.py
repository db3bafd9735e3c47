"""``istioctl analyze --use-kube=false`` on every Istio resource the suite applies.

Found at run time: any ``fixtures/**/*.yaml`` document whose apiVersion is
``<group>.istio.io/<version>``, except the install overlays (install.istio.io).
Placeholders are filled with plausible values (static/workloads.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from meshconform import paths
from meshconform.static.istioctl import Istioctl
from meshconform.static.workloads import workload_text


def is_applied_istio_resource(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    group = str(doc.get("apiVersion", "")).rpartition("/")[0]
    return group.endswith(".istio.io") and group != "install.istio.io"


@dataclass(frozen=True)
class IstioResources:
    files: tuple[Path, ...]
    objects: tuple[dict[str, Any], ...]


def istio_resources() -> IstioResources:
    """Every Istio resource document under fixtures/, placeholders filled."""
    root = paths.fixtures_dir()
    files: list[Path] = []
    objects: list[dict[str, Any]] = []
    for path in sorted(root.rglob("*.yaml")):
        rel = path.relative_to(root)
        docs = [d for d in yaml.safe_load_all(workload_text(rel)) if d]
        found = [d for d in docs if is_applied_istio_resource(d)]
        if found:
            files.append(rel)
            objects.extend(found)
    return IstioResources(tuple(files), tuple(objects))


def resources_of(files: Sequence[Path]) -> IstioResources:
    """The Istio resource documents of these files (e.g. a product's), placeholders filled."""
    objects = tuple(
        d
        for f in files
        for d in yaml.safe_load_all(workload_text(f))
        if is_applied_istio_resource(d)
    )
    return IstioResources(tuple(files), objects)


#: the suite applies namespaced resources into a per-check namespace; stand-in for it
CHECK_NAMESPACE = "meshconform-static"


@dataclass(frozen=True)
class AnalyzeResult:
    files: tuple[Path, ...]
    #: analyzer messages at Error level (istioctl's own failure threshold), one per line
    problems: tuple[str, ...]
    #: Warning-level messages: reported, not failing (products ship some, e.g. Kubeflow)
    warnings: tuple[str, ...]
    output: str


def analyze_args(bundle: Path) -> list[str]:
    """Offline analysis of one file; exit 79 when an Error-level message is found."""
    return [
        "analyze",
        "--use-kube=false",
        "--all-namespaces",
        "--failure-threshold",
        "Error",
        "--output-threshold",
        "Warning",
        str(bundle),
    ]


def analyze(istioctl: Istioctl, workdir: Path, resources: IstioResources) -> AnalyzeResult:
    """Run the analyzers offline over all resources at once (cross-resource checks)."""
    if not resources.objects:
        return AnalyzeResult((), (), (), "no Istio resources under fixtures/")
    fd, name = tempfile.mkstemp(dir=workdir, prefix="suite-istio-resources-", suffix=".yaml")
    bundle = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yaml.safe_dump_all([_namespaced(o) for o in resources.objects], out, sort_keys=False)
        proc = istioctl.run(analyze_args(bundle), check=False)
    finally:
        bundle.unlink()
    output = (proc.stdout + proc.stderr).strip()
    lines = proc.stdout.splitlines()
    problems = tuple(line for line in lines if line.startswith("Error ["))
    warnings = tuple(line for line in lines if line.startswith("Warning ["))
    if proc.returncode not in (0, 79) and not problems:
        problems = (f"istioctl analyze exited {proc.returncode}: {output}",)
    return AnalyzeResult(resources.files, problems, warnings, output)


def _namespaced(obj: dict[str, Any]) -> dict[str, Any]:
    """As applied: a resource without a namespace lands in the check's namespace."""
    metadata = obj.get("metadata") or {}
    if metadata.get("namespace"):
        return obj
    return {**obj, "metadata": {**metadata, "namespace": CHECK_NAMESPACE}}
