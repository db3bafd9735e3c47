"""Diagnostics for a failed live check, written to ``<artifacts_dir>/<check id>/``.

For each of the check's namespaces (its own, the shared apps' it used, and istio-system,
whose container logs are cut to their last lines): every pod as YAML, the logs of every container
(init containers included: istio-init, istio-validation, a native istio-proxy)
and of its previous instance when it restarted, the namespace's events, the Jobs
as YAML; ``istioctl proxy-status`` and ``proxy-config all -o json`` of each
proxied pod where istioctl is at hand. Every text passes through
:func:`meshconform.redact.redact`, every object through ``redact_object``
(Secrets keep their keys only). Kubeconfigs are never written.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client.exceptions import ApiException

from meshconform.live.clusters import Runner, run_command
from meshconform.live.kubeapi import KubeAPI
from meshconform.redact import redact, redact_object

Objects = list[dict[str, Any]]
PROXY = "istio-proxy"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class IstioctlAccess:
    binary: Path
    kubeconfig: Path
    context: str | None

    def argv(self, *args: str) -> list[str]:
        argv = [str(self.binary), *args, "--kubeconfig", str(self.kubeconfig)]
        return argv + (["--context", self.context] if self.context else [])


def safe_name(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._") or "_"


def containers_of(pod: dict[str, Any]) -> list[tuple[str, bool]]:
    """(container name, restarted) for init and regular containers, in pod order."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    restarts = {
        cs.get("name"): cs.get("restartCount", 0) > 0
        for cs in [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]
    }
    names = [
        c["name"] for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    ]
    return [(name, restarts.get(name, False)) for name in names]


def has_proxy(pod: dict[str, Any]) -> bool:
    return any(name == PROXY for name, _ in containers_of(pod))


def event_lines(events: Sequence[dict[str, Any]]) -> str:
    lines = []
    for e in events:
        involved = e.get("involvedObject") or {}
        when = e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or ""
        lines.append(
            f"{when} {e.get('type', '')} {involved.get('kind', '')}/"
            f"{involved.get('name', '')} {e.get('reason', '')} x{e.get('count', 1)}: "
            f"{e.get('message', '')}"
        )
    return "\n".join(lines) + "\n"


class ArtifactWriter:
    """Writes redacted files under one folder and remembers what it wrote."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.written: list[Path] = []
        self.errors: list[str] = []

    def text(self, relpath: str, content: str) -> None:
        path = self.dest / relpath
        if "kubeconfig" in path.name.lower():
            raise ValueError(f"refusing to write a kubeconfig as an artifact: {relpath}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redact(content), "utf-8")
        self.written.append(path)

    def obj(self, relpath: str, obj: dict[str, Any]) -> None:
        clean = redact_object(_drop_managed_fields(obj))
        self.text(relpath, yaml.safe_dump(clean, sort_keys=False))

    def finish(self) -> None:
        if self.errors:
            self.text("collection-errors.txt", "\n".join(self.errors) + "\n")


def _drop_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


def collect(
    kube: KubeAPI,
    namespaces: Sequence[str],
    dest: Path,
    *,
    istioctl: IstioctlAccess | None = None,
    runner: Runner = run_command,
    timeout: float = 30.0,
    container_logs: bool = True,
    log_tail: Mapping[str, int] | None = None,
) -> ArtifactWriter:
    """Write everything useful about ``namespaces``; collection errors are recorded, not raised.

    ``container_logs=False`` where no kubelet serves logs (the controlplane cluster).
    ``log_tail`` limits the log lines per container in some namespaces (istio-system).
    """
    out = ArtifactWriter(dest)
    proxied: list[tuple[str, str]] = []
    for ns in namespaces:
        base = safe_name(ns)
        try:
            pods = kube.list("v1", "Pod", ns)
            for job in kube.list("batch/v1", "Job", ns):
                out.obj(f"{base}/jobs/{safe_name(job['metadata']['name'])}.yaml", job)
            out.text(f"{base}/events.txt", event_lines(kube.events(ns)))
        except (ApiException, OSError) as error:
            out.errors.append(f"{ns}: {str(error).splitlines()[0]}")
            continue
        for pod in pods:
            name = pod["metadata"]["name"]
            out.obj(f"{base}/pods/{safe_name(name)}.yaml", pod)
            if has_proxy(pod):
                proxied.append((ns, name))
            tail = (log_tail or {}).get(ns)
            for container, restarted in containers_of(pod) if container_logs else []:
                _logs(kube, out, ns, name, container, previous=False, tail=tail)
                if restarted:
                    _logs(kube, out, ns, name, container, previous=True, tail=tail)
    if istioctl is not None:
        _istioctl(istioctl, out, proxied, runner, timeout)
    out.finish()
    return out


def _logs(
    kube: KubeAPI,
    out: ArtifactWriter,
    ns: str,
    pod: str,
    container: str,
    *,
    previous: bool,
    tail: int | None = None,
) -> None:
    suffix = ".previous.log" if previous else ".log"
    try:
        text = kube.logs(ns, pod, container=container, tail=tail, previous=previous)
    except (ApiException, OSError) as error:
        out.errors.append(
            f"logs {ns}/{pod}/{container}{' (previous)' if previous else ''}: "
            f"{str(error).splitlines()[0]}"
        )
        return
    out.text(f"{safe_name(ns)}/logs/{safe_name(pod)}.{safe_name(container)}{suffix}", text)


def _istioctl(
    access: IstioctlAccess,
    out: ArtifactWriter,
    proxied: Sequence[tuple[str, str]],
    runner: Runner,
    timeout: float,
) -> None:
    jobs = [("proxy-status.txt", access.argv("proxy-status"))]
    jobs += [
        (
            f"{safe_name(ns)}/proxy-config/{safe_name(pod)}.json",
            access.argv("proxy-config", "all", f"{pod}.{ns}", "-o", "json"),
        )
        for ns, pod in proxied
    ]
    for relpath, argv in jobs:
        try:
            done = runner(argv, timeout)
        except (OSError, subprocess.TimeoutExpired) as error:
            out.errors.append(f"{' '.join(argv[1:4])}: {error}")
            continue
        if done.returncode != 0:
            out.errors.append(
                f"{' '.join(argv[1:4])}: exit {done.returncode}: {done.stderr.strip()[:300]}"
            )
            continue
        out.text(relpath, done.stdout)
