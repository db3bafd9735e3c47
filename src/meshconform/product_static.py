"""Offline istioctl for product checks: render a mode's mesh, kube-inject, analyze.

Everything here runs the real istioctl (research section 7): ``manifest generate`` for the
mode (the mode's overlay ``fixtures/istio/<mode>.yaml`` when it exists, else the flags of
research section 2), then ``kube-inject`` with the generated injector config, values and
mesh config and with istiod's ``ENABLE_NATIVE_SIDECARS`` in its environment, and
``analyze --use-kube=false``. ``--revision default`` is passed to kube-inject and analyze:
without it istioctl 1.31 looks up the default revision through a kube client and waits
forever when there is no cluster (istioctl/pkg/cli/context.go RevisionOrDefault).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from meshconform.errors import ProvisioningError
from meshconform.modes import Mode

TIMEOUT = 120.0
_LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\S+\s+(info|warn|error|debug)\s")

#: research section 2, used when fixtures/istio/<mode>.yaml does not exist (yet)
MODE_FLAGS: dict[str, tuple[str, ...]] = {
    "sidecar": ("profile=minimal", "values.pilot.env.ENABLE_NATIVE_SIDECARS=false"),
    "cni": ("profile=minimal", "components.cni.enabled=true",
            "values.pilot.env.ENABLE_NATIVE_SIDECARS=false"),
    "native-sidecar": ("profile=minimal", "values.pilot.env.ENABLE_NATIVE_SIDECARS=true"),
    "ambient": ("profile=ambient",),
}


@dataclass(frozen=True)
class MeshRender:
    mode: str
    folder: Path
    injector: Path
    values: Path
    mesh: Path
    mesh_config: dict[str, Any]
    native_env: str
    webhooks: list[dict[str, Any]]


def _run(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=TIMEOUT,
                          check=False, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise ProvisioningError(f"{' '.join(argv[:2])} failed (exit {done.returncode}): "
                                f"{done.stderr.strip()[-1500:]}")
    return done.stdout


def render_mesh(istioctl: Path, mode: Mode, folder: Path,
                extra: Mapping[str, Any] | None = None) -> MeshRender:
    """``istioctl manifest generate`` for ``mode`` (plus an IstioOperator ``spec`` overlay)."""
    argv = [str(istioctl), "manifest", "generate"]
    if mode.istio_overlay.is_file():
        argv += ["-f", str(mode.istio_overlay)]
    else:
        for flag in MODE_FLAGS[mode.name]:
            argv += ["--set", flag]
    folder.mkdir(parents=True, exist_ok=True)
    if extra:
        overlay = folder / "product-overlay.yaml"
        overlay.write_text(yaml.safe_dump({"apiVersion": "install.istio.io/v1alpha1",
                                           "kind": "IstioOperator", "spec": dict(extra)}))
        argv += ["-f", str(overlay)]
    # istioctl logs "warn ..." lines to stdout among the YAML; keep only the manifest
    text = "\n".join(line for line in _run(argv).splitlines()
                     if not _LOG_LINE.match(line) and not line.startswith("\t"))
    docs = [d for d in yaml.safe_load_all(text) if d]
    injector = values = mesh_text = None
    native = "false"
    webhooks: list[dict[str, Any]] = []
    for doc in docs:
        name = doc.get("metadata", {}).get("name")
        if doc["kind"] == "ConfigMap" and name == "istio-sidecar-injector":
            injector, values = doc["data"]["config"], doc["data"]["values"]
        elif doc["kind"] == "ConfigMap" and name == "istio":
            mesh_text = doc["data"]["mesh"]
        elif doc["kind"] == "Deployment" and name == "istiod":
            for env in doc["spec"]["template"]["spec"]["containers"][0].get("env", []):
                if env["name"] == "ENABLE_NATIVE_SIDECARS":
                    native = str(env.get("value", "false"))
        elif doc["kind"] == "MutatingWebhookConfiguration":
            webhooks.extend(doc.get("webhooks") or [])
    if injector is None or values is None or mesh_text is None:
        raise ProvisioningError(f"istioctl manifest generate for {mode.name} rendered no "
                                "istio-sidecar-injector / istio ConfigMaps")
    paths = {"injector": folder / "inject-config.yaml", "values": folder / "values.json",
             "mesh": folder / "mesh.yaml"}
    paths["injector"].write_text(injector)
    paths["values"].write_text(values)
    paths["mesh"].write_text(mesh_text)
    # "auto" resolves to native on the pinned kind nodes (>= 1.33, research section 0.1)
    native_env = "true" if native in ("true", "auto") else "false"
    return MeshRender(mode.name, folder, paths["injector"], paths["values"], paths["mesh"],
                      yaml.safe_load(mesh_text) or {}, native_env, webhooks)


def kube_inject(istioctl: Path, render: MeshRender,
                objs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects as istiod's webhook would inject them in ``render``'s mesh."""
    fd, name = tempfile.mkstemp(suffix=".yaml", dir=render.folder)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump_all(list(objs), handle)
    out = _run([str(istioctl), "kube-inject", "--revision", "default",
                "--injectConfigFile", str(render.injector), "--valuesFile", str(render.values),
                "--meshConfigFile", str(render.mesh), "-f", name],
               env={"ENABLE_NATIVE_SIDECARS": render.native_env})
    return [d for d in yaml.safe_load_all(out) if d]


def analyze(istioctl: Path, files: Sequence[Path]) -> tuple[bool, str]:
    """``istioctl analyze --use-kube=false``: (no issues at Error/Warning level, output)."""
    argv = [str(istioctl), "analyze", "--use-kube=false", "--revision", "default",
            *[str(f) for f in files]]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    if obj.get("kind") == "Pod":
        spec: Mapping[str, Any] = obj["spec"]
        return spec
    template_spec: Mapping[str, Any] = obj["spec"]["template"]["spec"]
    return template_spec


def proxy_container(obj: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """Where istio-proxy is: ("containers"|"initContainers", the container), or None."""
    spec = pod_spec(obj)
    for where in ("initContainers", "containers"):
        for container in spec.get(where) or []:
            if container.get("name") == "istio-proxy":
                return where, container
    return None


def injects_unlabelled_namespaces(webhooks: Sequence[Mapping[str, Any]]) -> list[str]:
    """Webhooks whose namespaceSelector matches a namespace with no labels at all."""
    hits = []
    for hook in webhooks:
        exprs = (hook.get("namespaceSelector") or {}).get("matchExpressions") or []
        labels = (hook.get("namespaceSelector") or {}).get("matchLabels") or {}
        if labels:
            continue
        if all(e.get("operator") in ("DoesNotExist", "NotIn") for e in exprs):
            objsel = (hook.get("objectSelector") or {}).get("matchExpressions") or []
            if all(e.get("operator") in ("DoesNotExist", "NotIn") for e in objsel):
                hits.append(str(hook.get("name")))
    return hits
