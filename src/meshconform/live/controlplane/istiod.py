"""Istio on the controlplane cluster: the live tier's real install, with istiod as a process.

The order, and why:

1. ``istioctl manifest generate`` of the mode's overlay (and ``--istio-config`` files),
   the same render the static tier uses, gives the istiod Deployment's env and args and
   the CRDs;
2. the CRDs and the ``istio-system`` namespace are applied and the CRDs waited on, so
   istiod finds them when it starts;
3. istiod (``pilot-discovery``, built from the release's source) starts as a process
   against the API server with the Deployment's own env (``ENABLE_NATIVE_SIDECARS`` and
   the rest), field references resolved as a kubelet would, its listeners on loopback
   ports, and ``ISTIOD_CUSTOM_HOST=127.0.0.1`` so its webhook certificate covers the
   URL the API server calls;
4. the live tier's own :class:`~meshconform.live.istio.IstioInstaller` runs ``istioctl
   install`` with the same files plus ``values.istiodRemote.injectionURL`` and
   ``values.base.validationURL`` pointing at that process, then its real waits:
   CRDs Established, istiod available, the validation webhook DENYING an invalid
   object, node agents and the gateway.

What differs from a kind install (docs/controlplane.md): istiod's and the gateway's pods
exist only as kwok-simulated pods (their Ready status is kwok's, never evidence); the
webhooks call the istiod process by URL instead of the ``istiod`` Service; istiod runs
with the suite's admin kubeconfig instead of its ServiceAccount token.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshconform.errors import ProvisioningError
from meshconform.live.controlplane.cluster import ControlPlane
from meshconform.live.controlplane.processes import free_port
from meshconform.live.controlplane.upstream_envoy import istiod_env_alterations
from meshconform.live.kube import Kube
from meshconform.static.install import StaticInstall
from meshconform.wait import (
    Decision,
    Done,
    Failed,
    Pending,
    WaitFailed,
    WaitTimeout,
    wait_until,
)
from meshconform.wait.conditions import crd_established

ISTIO_NAMESPACE = "istio-system"
#: the identity a kubelet would give istiod's pod (fieldRef values)
POD_NAME = "istiod-process"
SERVICE_ACCOUNT = "istiod"
#: istiod listens on these; the values are replaced by free loopback ports
_ADDRESS_FLAGS = ("httpAddr", "httpsAddr", "grpcAddr", "secureGRPCAddr", "monitoringAddr")


@dataclass(frozen=True)
class IstiodPorts:
    http: int
    webhook: int
    grpc: int
    secure_grpc: int
    monitoring: int

    @classmethod
    def pick(cls) -> IstiodPorts:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())

    @property
    def injection_url(self) -> str:
        return f"https://127.0.0.1:{self.webhook}/inject"

    @property
    def validation_url(self) -> str:
        return f"https://127.0.0.1:{self.webhook}/validate"

    def install_sets(self) -> tuple[str, ...]:
        """The ``--set`` flags that route istioctl's webhooks to the istiod process."""
        return (
            f"values.istiodRemote.injectionURL={self.injection_url}",
            f"values.base.validationURL={self.validation_url}",
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "istiod_http": self.http,
            "istiod_webhook": self.webhook,
            "istiod_grpc": self.grpc,
            "istiod_secure_grpc": self.secure_grpc,
            "istiod_monitoring": self.monitoring,
        }

    @classmethod
    def from_dict(cls, ports: Mapping[str, int]) -> IstiodPorts:
        return cls(
            ports["istiod_http"],
            ports["istiod_webhook"],
            ports["istiod_grpc"],
            ports["istiod_secure_grpc"],
            ports["istiod_monitoring"],
        )


def _field_value(path: str) -> str | None:
    return {
        "metadata.name": POD_NAME,
        "metadata.namespace": ISTIO_NAMESPACE,
        "spec.serviceAccountName": SERVICE_ACCOUNT,
        "spec.nodeName": "controlplane",
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }.get(path)


def istiod_container(install: StaticInstall) -> dict[str, Any]:
    deploy = install.get("Deployment", "istiod")
    containers: list[dict[str, Any]] = deploy["spec"]["template"]["spec"]["containers"]
    return next((c for c in containers if c.get("name") == "discovery"), containers[0])


def istiod_env(install: StaticInstall) -> tuple[dict[str, str], list[str]]:
    """The Deployment's env as a kubelet would resolve it for our process, and what was left out.

    Field references get the process's identity; resource references (GOMAXPROCS,
    GOMEMLIMIT from limits) and Secret/ConfigMap references are left unset and listed.
    """
    env: dict[str, str] = {}
    skipped: list[str] = []
    for entry in istiod_container(install).get("env") or []:
        name = str(entry["name"])
        if "value" in entry:
            env[name] = str(entry["value"])
            continue
        source = entry.get("valueFrom") or {}
        path = (source.get("fieldRef") or {}).get("fieldPath")
        value = _field_value(str(path)) if path else None
        if value is None:
            skipped.append(f"{name} ({next(iter(source), 'valueFrom')})")
            continue
        env[name] = value
    return env, skipped


def istiod_argv(
    binary: Path, install: StaticInstall, kubeconfig: Path, ports: IstiodPorts
) -> list[str]:
    """The Deployment's args, with our kubeconfig and every listener on a loopback port."""
    args = [str(a) for a in istiod_container(install).get("args") or ["discovery"]]
    kept: list[str] = []
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
            continue
        flag = arg.lstrip("-").split("=", 1)[0]
        if flag in _ADDRESS_FLAGS or flag == "kubeconfig":
            skip_next = "=" not in arg
            continue
        kept.append(arg)
    if not kept or kept[0] != "discovery":
        kept.insert(0, "discovery")
    return [
        str(binary),
        *kept,
        f"--kubeconfig={kubeconfig}",
        f"--httpAddr=127.0.0.1:{ports.http}",
        f"--httpsAddr=127.0.0.1:{ports.webhook}",
        f"--grpcAddr=127.0.0.1:{ports.grpc}",
        f"--secureGRPCAddr=127.0.0.1:{ports.secure_grpc}",
        f"--monitoringAddr=127.0.0.1:{ports.monitoring}",
    ]


def process_env(install: StaticInstall, plane: ControlPlane, ports: IstiodPorts) -> dict[str, str]:
    env, _ = istiod_env(install)
    return {
        **env,
        # settings for upstream Envoy, recorded in the evidence (upstream_envoy.ALTERATIONS)
        **istiod_env_alterations(),
        # the webhook certificate must name the host the API server dials
        "ISTIOD_CUSTOM_HOST": "127.0.0.1,localhost",
        "KUBECONFIG": str(plane.kubeconfig),
        "POD_NAMESPACE": ISTIO_NAMESPACE,
        "POD_NAME": POD_NAME,
        # istiod's own address for the proxies' discoveryAddress in injected pods is the
        # Service (istiod.istio-system.svc:15012), as on kind; nothing here dials it
    }


def _ready(url: str, plane: ControlPlane) -> Decision[None]:
    proc = plane.processes.get("istiod")
    if proc is not None and not proc.alive():
        return Failed(proc.describe_exit())
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (loopback http)
            return Done(None) if answer.status == 200 else Pending(f"/ready {answer.status}")
    except urllib.error.HTTPError as error:
        return Pending(f"/ready {error.code}")
    except (urllib.error.URLError, OSError) as error:
        return Pending(f"/ready not answering: {error}")


#: ConfigMaps istiod reads when it starts: without the injector's, istiod logs "Skipping
#: sidecar injector, template not found" and never injects (pilot/pkg/bootstrap/
#: sidecarinjector.go); on kind they exist before istiod's pod starts (mounted files)
STARTUP_CONFIGMAPS = ("istio", "istio-sidecar-injector")


def prepare_crds(kube: Kube, install: StaticInstall, timeout: float) -> int:
    """Apply the namespace, the rendered CRDs (waited on until Established) and the
    ConfigMaps istiod needs at start; ``istioctl install`` applies them again later."""
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ISTIO_NAMESPACE}})
    for name in STARTUP_CONFIGMAPS:
        kube.apply(install.get("ConfigMap", name))
    crds = install.find("CustomResourceDefinition")
    for crd in crds:
        kube.apply(crd)
    for crd in crds:
        kube.watch_until(
            f"CRD {crd['metadata']['name']} established",
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            crd["metadata"]["name"],
            None,
            crd_established,
            timeout,
        )
    return len(crds)


def start_istiod(
    plane: ControlPlane, binary: Path, install: StaticInstall, timeout: float
) -> IstiodPorts:
    """Start istiod as a process of ``plane`` and wait for its ``/ready``."""
    ports = IstiodPorts.pick()
    workdir = plane.folder / "istiod"
    workdir.mkdir(exist_ok=True)
    plane.processes.start(
        "istiod",
        istiod_argv(binary, install, plane.kubeconfig, ports),
        env=process_env(install, plane, ports),
        cwd=workdir,
    )
    plane.ports.update(ports.as_dict())
    plane.save()
    try:
        wait_until(
            "istiod process ready (/ready)",
            lambda: _ready(f"http://127.0.0.1:{ports.http}/ready", plane),
            timeout=timeout,
            interval=0.25,
        )
    except (WaitFailed, WaitTimeout) as error:
        proc = plane.processes.get("istiod")
        tail = proc.log_tail() if proc is not None else ""
        raise ProvisioningError(f"istiod did not become ready: {error}\n{tail}") from None
    return ports


def describe_istiod(install: StaticInstall, source: str) -> list[str]:
    """Evidence lines: what istiod runs and which env a kubelet would have set differently."""
    env, skipped = istiod_env(install)
    shown = {k: env[k] for k in sorted(env) if k.startswith(("ENABLE_", "PILOT_", "REVISION"))}
    lines = [f"istiod: a process on the controlplane cluster ({source})"]
    lines.append(f"istiod env from the rendered Deployment: {shown}")
    if skipped:
        lines.append(f"istiod env left unset (no kubelet): {', '.join(skipped)}")
    return lines


def env_flag(install: StaticInstall, name: str) -> str | None:
    env, _ = istiod_env(install)
    return env.get(name)
