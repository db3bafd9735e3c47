"""Inject a workload the way istiod's webhook would, with ``istioctl kube-inject``.

Offline, kube-inject decides native vs classic sidecars from its own process env
``ENABLE_NATIVE_SIDECARS`` (research section 7), so we pass the value of the
generated istiod Deployment, resolving ``auto`` as istiod would on the mode's
kind nodes (every node >= 1.33 -> native). ``--revision default`` keeps kube-inject
from looking for a cluster to find the default revision (it waits forever otherwise).
The webhook's selectors decide first whether the pod is injected at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from meshconform.static.install import StaticInstall
from meshconform.static.selectors import injecting_webhooks
from meshconform.static.workloads import POD_KINDS, pod_template

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: pkg/kube/inject/webhook.go DetectNativeSidecar: minVersion := 33
NATIVE_MIN_MINOR = 33


def native_sidecar_env(install: StaticInstall, kubernetes: str) -> tuple[str, str]:
    """(value for kube-inject's ENABLE_NATIVE_SIDECARS, how it was decided)."""
    raw = install.istiod_env.get("ENABLE_NATIVE_SIDECARS")
    declared = raw if raw is not None else "auto"
    origin = (
        f"istiod env ENABLE_NATIVE_SIDECARS={raw!r}"
        if raw is not None
        else "istiod env has no ENABLE_NATIVE_SIDECARS (default 'auto' since Istio 1.27)"
    )
    if declared.lower() in ("true", "false"):
        return declared.lower(), origin
    minor = int(kubernetes.split(".")[1])
    resolved = "true" if minor >= NATIVE_MIN_MINOR else "false"
    return resolved, (
        f"{origin}; 'auto' on kind nodes of Kubernetes {kubernetes} "
        f"(native from 1.{NATIVE_MIN_MINOR}) -> {resolved}"
    )


@dataclass(frozen=True)
class PodShape:
    """The pod a workload creates in the mode's enrolled namespace, after admission."""

    workload: str
    metadata: dict[str, Any]
    spec: dict[str, Any]
    injected: bool
    #: how injection was decided and run, for the evidence
    how: str

    @classmethod
    def from_pod(cls, pod: dict[str, Any], how: str) -> PodShape:
        """The shape of a Pod as the API server stored it (after the real admission chain)."""
        metadata: dict[str, Any] = pod.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        return cls(
            workload=str(metadata.get("name", "pod")),
            metadata=metadata,
            spec=pod.get("spec") or {},
            injected="sidecar.istio.io/status" in annotations,
            how=how,
        )

    def init_names(self) -> list[str]:
        return [c["name"] for c in self.spec.get("initContainers") or []]

    def container_names(self) -> list[str]:
        return [c["name"] for c in self.spec.get("containers") or []]

    def init(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.spec.get("initContainers") or [] if c["name"] == name), None)

    def container(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.spec.get("containers") or [] if c["name"] == name), None)

    @property
    def annotations(self) -> dict[str, str]:
        annotations: dict[str, str] = self.metadata.get("annotations") or {}
        return annotations

    def describe(self) -> str:
        inits = (
            ", ".join(
                c["name"] + ("(restartPolicy=Always)" if c.get("restartPolicy") == "Always" else "")
                for c in self.spec.get("initContainers") or []
            )
            or "none"
        )
        return (
            f"{self.workload}: initContainers [{inits}], "
            f"containers [{', '.join(self.container_names())}] ({self.how})"
        )


def pod_shapes(
    install: StaticInstall,
    workload: str,
    text: str,
    kubernetes: str,
    namespace_labels: dict[str, str] | None = None,
) -> list[PodShape]:
    """Admit every pod-bearing object of ``text`` into a namespace labelled like the mode's."""
    return admit_many(install, [(workload, text)], kubernetes, namespace_labels)[workload]


def admit_objects(
    install: StaticInstall,
    workload: str,
    objects: Sequence[Mapping[str, Any]],
    kubernetes: str,
    namespace_labels: dict[str, str] | None = None,
) -> list[PodShape]:
    """:func:`pod_shapes` for objects already parsed (e.g. a product's rendered chart)."""
    text = yaml.safe_dump_all([dict(o) for o in objects], sort_keys=False)
    return pod_shapes(install, workload, text, kubernetes, namespace_labels)


def admit_many(
    install: StaticInstall,
    workloads: Sequence[tuple[str, str]],
    kubernetes: str,
    namespace_labels: dict[str, str] | None = None,
) -> dict[str, list[PodShape]]:
    """Like :func:`pod_shapes` for several workloads, with ONE kube-inject call."""
    labels = dict(install.mode.namespace_labels if namespace_labels is None else namespace_labels)
    webhooks = install.find("MutatingWebhookConfiguration")
    originals = [
        (name, d)
        for name, text in workloads
        for d in yaml.safe_load_all(text)
        if isinstance(d, dict) and d.get("kind") in POD_KINDS
    ]
    selected = [
        injecting_webhooks(webhooks, labels, pod_template(o)[0].get("labels") or {})
        for _, o in originals
    ]
    env_value, env_how = native_sidecar_env(install, kubernetes)
    to_inject = [o for (_, o), hooks in zip(originals, selected, strict=True) if hooks]
    injected = iter(_kube_inject(install, to_inject, env_value) if to_inject else [])
    shapes: dict[str, list[PodShape]] = {name: [] for name, _ in workloads}
    for (name, original), hooks in zip(originals, selected, strict=True):
        if hooks:
            meta, spec = pod_template(next(injected))
            how = (
                f"webhook {hooks[0]} selects it in a namespace labelled {labels}; "
                f"kube-inject with ENABLE_NATIVE_SIDECARS={env_value} ({env_how})"
            )
        else:
            meta, spec = pod_template(original)
            how = f"no injection webhook selects it in a namespace labelled {labels or '{}'}"
        shapes[name].append(PodShape(name, meta, spec, bool(hooks), how))
    return shapes


def kube_inject_args(config: Path, values: Path, mesh: Path) -> list[str]:
    """``kube-inject`` offline: the injector, values and mesh config from files, YAML on stdin."""
    return [
        "kube-inject",
        "--revision",
        "default",
        "--injectConfigFile",
        str(config),
        "--valuesFile",
        str(values),
        "--meshConfigFile",
        str(mesh),
        "-f",
        "-",
    ]


def _kube_inject(
    install: StaticInstall, objects: list[dict[str, Any]], native: str
) -> list[dict[str, Any]]:
    config, values, mesh = install.config_files()
    text = yaml.safe_dump_all(objects, sort_keys=False)
    proc = install.istioctl.run(
        kube_inject_args(config, values, mesh),
        env={"ENABLE_NATIVE_SIDECARS": native},
        input_text=text,
    )
    out = [
        d
        for d in yaml.load_all(proc.stdout, Loader=_LOADER)
        if isinstance(d, dict) and d.get("kind") in POD_KINDS
    ]
    if len(out) != len(objects):
        raise LookupError(
            f"kube-inject returned {len(out)} pod-bearing objects for "
            f"{len(objects)}: {proc.stderr.strip()}"
        )
    return out
