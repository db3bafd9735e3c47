"""Generate a mode's install manifest with the real istioctl, cache it, and read it.

The cache key is the istioctl binary (path, mtime, size), the content of every
overlay, and the ``--set`` flags; entries live under ``<cache>/static/``. From the
manifest we take what istiod would use to inject pods: the injector config and
values (ConfigMap ``istio-sidecar-injector``), the mesh config (ConfigMap ``istio``)
and the istiod Deployment's env.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

from meshconform import paths
from meshconform.errors import UsageError
from meshconform.modes import Mode
from meshconform.static.istioctl import Istioctl, IstioctlError

Obj = dict[str, Any]

#: libyaml when present: the manifest is ~1 MB and the pure-Python loader takes seconds
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class StaticInstall:
    """What ``istioctl manifest generate`` produced for one (version, mode, config)."""

    istioctl: Istioctl
    mode: Mode
    objects: tuple[Obj, ...]
    #: the directory holding manifest.yaml and the three kube-inject config files
    workdir: Path
    overlays: tuple[Path, ...]
    sets: tuple[str, ...] = ()
    #: istioctl's warnings while generating (e.g. deprecations)
    warnings: tuple[str, ...] = field(default=())

    def find(self, kind: str, name: str | None = None) -> list[Obj]:
        return [
            o
            for o in self.objects
            if o.get("kind") == kind and (name is None or o.get("metadata", {}).get("name") == name)
        ]

    def get(self, kind: str, name: str) -> Obj:
        found = self.find(kind, name)
        if not found:
            raise LookupError(f"the generated install has no {kind} {name}")
        return found[0]

    def configmap(self, name: str) -> Mapping[str, str]:
        data: Mapping[str, str] = self.get("ConfigMap", name).get("data") or {}
        return data

    @property
    def injector_config(self) -> str:
        return self.configmap("istio-sidecar-injector")["config"]

    @property
    def values(self) -> Obj:
        loaded: Obj = yaml.safe_load(self.configmap("istio-sidecar-injector")["values"])
        return loaded

    @property
    def mesh(self) -> Obj:
        loaded: Obj = yaml.safe_load(self.configmap("istio")["mesh"]) or {}
        return loaded

    @property
    def istiod_env(self) -> dict[str, str]:
        deploy = self.get("Deployment", "istiod")
        container = deploy["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}

    @property
    def cni_config(self) -> Mapping[str, str]:
        found = self.find("ConfigMap", "istio-cni-config")
        return (found[0].get("data") or {}) if found else {}

    @property
    def daemonsets(self) -> list[str]:
        return [o["metadata"]["name"] for o in self.find("DaemonSet")]

    def config_files(self) -> tuple[Path, Path, Path]:
        """injector config, values, mesh config as files for kube-inject (written once)."""
        files = (
            self.workdir / "inject-config.yaml",
            self.workdir / "inject-values.yaml",
            self.workdir / "mesh.yaml",
        )
        contents = (
            self.injector_config,
            self.configmap("istio-sidecar-injector")["values"],
            self.configmap("istio")["mesh"],
        )
        for path, text in zip(files, contents, strict=True):
            if not path.is_file():
                _atomic_write(path, text)
        return files


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    Path(tmp).replace(path)


def as_istio_operator(path: Path) -> str:
    """A user config file as an IstioOperator overlay.

    An IstioOperator document is used as is; any other YAML mapping is taken as
    istiod Helm values and wrapped as ``spec.values`` (its ``meshConfig`` as
    ``spec.meshConfig``, which istioctl would otherwise let the suite's overlay override).
    """
    if not path.is_file():
        raise UsageError(
            f"Istio config file {path} does not exist",
            "Pass an IstioOperator or Helm values YAML file",
        )
    text = path.read_text("utf-8")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UsageError(
            f"{path} is not valid YAML ({error})".replace("\n", " "), "Fix the file"
        ) from None
    if not isinstance(doc, dict):
        raise UsageError(
            f"{path} is not a YAML mapping", "Pass an IstioOperator or Helm values YAML file"
        )
    if doc.get("kind") == "IstioOperator":
        return text
    spec: dict[str, Any] = {"values": {k: v for k, v in doc.items() if k != "meshConfig"}}
    if "meshConfig" in doc:  # spec.meshConfig wins over values.meshConfig in istioctl
        spec["meshConfig"] = doc["meshConfig"]
    wrapped = {"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "spec": spec}
    return yaml.safe_dump(wrapped, sort_keys=False)


def overlay_files(
    mode: Mode, extra: Sequence[Path] = (), *, replace_overlay: bool = False
) -> list[Path]:
    """The suite's overlay, then the user's files (later files win); or only theirs."""
    if replace_overlay and not extra:
        raise UsageError(
            "--replace-overlay needs at least one --istio-config file",
            "Pass your IstioOperator/values file(s) with --istio-config",
        )
    return [*([] if replace_overlay else [mode.istio_overlay]), *extra]


def generate(
    istioctl: Istioctl,
    mode: Mode,
    extra: Sequence[Path] = (),
    *,
    replace_overlay: bool = False,
    sets: Sequence[str] = (),
) -> StaticInstall:
    """``istioctl manifest generate -f <overlay>... --set ...``, cached on disk."""
    files = overlay_files(mode, extra, replace_overlay=replace_overlay)
    texts = [
        f.read_text("utf-8") if f == mode.istio_overlay else as_istio_operator(f) for f in files
    ]
    key = hashlib.sha256(
        "\0".join([istioctl.fingerprint, mode.name, *texts, "--set", *sets]).encode()
    ).hexdigest()[:24]
    workdir = paths.cache_dir() / "static" / istioctl.release.minor / key
    workdir.mkdir(parents=True, exist_ok=True)
    manifest = workdir / "manifest.yaml"
    warnings_file = workdir / "warnings.txt"
    with FileLock(str(workdir / ".lock")):
        if not manifest.is_file():
            inputs = []
            for i, text in enumerate(texts):
                overlay = workdir / f"overlay-{i}.yaml"
                _atomic_write(overlay, text)
                inputs += ["-f", str(overlay)]
            proc = istioctl.run(manifest_generate_args(inputs, sets))
            _atomic_write(warnings_file, _warnings(proc.stderr))
            try:
                parsed = [o for o in yaml.load_all(proc.stdout, Loader=_LOADER) if o]
            except yaml.YAMLError as error:
                raise IstioctlError(
                    f"istioctl {istioctl.release.minor} manifest generate printed no YAML "
                    f"({str(error).splitlines()[0]}): {proc.stdout[:200]!r}"
                ) from None
            # the parsed form, to skip re-parsing ~1 MB of YAML on every run
            _atomic_write(workdir / "manifest.json", json.dumps(parsed))
            _atomic_write(manifest, proc.stdout)
    objects = tuple(json.loads((workdir / "manifest.json").read_text("utf-8")))
    warnings = tuple(w for w in warnings_file.read_text("utf-8").split("\n\n") if w.strip())
    return StaticInstall(istioctl, mode, objects, workdir, tuple(files), tuple(sets), warnings)


def manifest_generate_args(inputs: Sequence[str], sets: Sequence[str] = ()) -> list[str]:
    """``manifest generate -f F... --set K=V... --log_target stderr``; the manifest is stdout.

    Not ``-o FILE``: istioctl has that flag only from 1.31 (1.30 answers "unknown
    shorthand flag: 'o' in -o"); stdout works with every release. istioctl logs to stdout
    by default (its warnings would precede the YAML), so ``--log_target stderr`` (a hidden
    flag of istioctl's root command, istioctl/cmd/root.go, in every release) moves them.
    """
    args = ["manifest", "generate", *inputs]
    for s in sets:
        args += ["--set", s]
    return [*args, "--log_target", "stderr"]


def _warnings(output: str) -> str:
    """Distinct warning blocks of istioctl's log output (it repeats them)."""
    blocks: list[str] = []
    for block in output.strip().split("\n\n"):
        text = " ".join(line.split("\t")[-1].strip() for line in block.splitlines()).strip()
        if text and text not in blocks:
            blocks.append(text)
    return "\n\n".join(blocks)
