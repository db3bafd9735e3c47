"""``--cluster controlplane``: one control plane per mesh mode, started, reused and stopped.

The live tier's ClusterPool asks :class:`ControlPlaneProvider` for a mode's cluster under
the mode's file lock (so xdist workers share it like a kind cluster). The provider:

- reattaches to a kept control plane of the same name with ``--reuse-cluster``;
- otherwise starts one (processes die with the starting process unless
  ``--keep-cluster``), with fake nodes mirroring the roles of ``clusters/<mode>.yaml``;
- stops the control planes it started, by PID, when the run ends, and removes their
  folders unless ``--keep-cluster``.

Istio is installed on it by :func:`install_istio`: the live tier's own installer and
waits, with istiod as a process (meshconform.live.controlplane.istiod).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshconform.errors import ProvisioningError
from meshconform.live.clusters import Cluster, run_id
from meshconform.live.controlplane import gateway as gateway_process
from meshconform.live.controlplane import istiod as istiod_process
from meshconform.live.controlplane import upstream_envoy
from meshconform.live.controlplane.binaries import ControlPlaneBinaries
from meshconform.live.controlplane.cluster import (
    ControlPlane,
    NodeSpec,
    reattach,
    start_control_plane,
    state_root,
)
from meshconform.live.istio import IstioInstaller
from meshconform.modes import Mode
from meshconform.static.install import StaticInstall, generate
from meshconform.static.istioctl import SOURCE_CACHE, Istioctl
from meshconform.versions import CONTROL_PLANE_KUBERNETES, IstioRelease
from meshconform.wait import Timeouts


def nodes_for(mode: Mode) -> list[NodeSpec]:
    """Fake nodes named and labelled like the kind cluster's (control plane, workers)."""
    config: dict[str, Any] = yaml.safe_load(mode.kind_config.read_text("utf-8"))
    specs: list[NodeSpec] = []
    workers = 0
    for node in config.get("nodes") or []:
        role = node.get("role", "worker")
        if role == "control-plane":
            name = f"{mode.cluster_name}-control-plane"
        else:
            workers += 1
            name = f"{mode.cluster_name}-worker{'' if workers == 1 else workers}"
        labels = {str(k): str(v) for k, v in (node.get("labels") or {}).items()}
        specs.append(NodeSpec(name, labels))
    return specs or [NodeSpec(f"{mode.cluster_name}-control-plane")]


def plane_name(mode: Mode) -> str:
    return f"meshconform-cp-{mode.name}"


@dataclass
class ControlPlaneProvider:
    binaries: ControlPlaneBinaries
    timeouts: Timeouts
    keep: bool = False
    reuse: bool = False
    root: Path = field(default_factory=state_root)
    #: control planes this process started (stopped by :meth:`close`)
    started: dict[str, ControlPlane] = field(default_factory=dict)
    #: every control plane this process uses, by mode
    planes: dict[str, ControlPlane] = field(default_factory=dict)

    def plane(self, mode: Mode) -> tuple[ControlPlane, bool]:
        """The mode's running control plane and whether this process started it.

        A plane that may be kept or reused has the mode's stable name; a throwaway one
        also carries the run's id, so two runs on one machine never meet.
        """
        if mode.name in self.planes:
            return self.planes[mode.name], mode.name in self.started
        name = plane_name(mode)
        if not (self.keep or self.reuse):
            name = f"{name}-{run_id()[:8]}"
        sweep_stale(self.root, plane_name(mode))
        folder = self.root / name
        kept = reattach(name, folder) if folder.exists() else None
        if kept is not None and self.reuse:
            self.planes[mode.name] = kept
            return kept, False
        if kept is not None:
            raise ProvisioningError(
                f"a kept control plane {name} is running ({folder}); pass --reuse-cluster to "
                "run on it, or stop it with 'meshconform controlplane stop "
                f"--mesh-mode {mode.name}'"
            )
        plane = start_control_plane(
            name,
            self.binaries,
            nodes=nodes_for(mode),
            kubelet_version=CONTROL_PLANE_KUBERNETES,
            ready_timeout=self.timeouts.controlplane_ready,
            folder=folder,
            die_with_parent=not self.keep,
        )
        self.planes[mode.name] = plane
        self.started[mode.name] = plane
        return plane, True

    def release(self, mode: Mode) -> list[str]:
        """Stop ``mode``'s plane now if this process started it and it is not kept."""
        self.planes.pop(mode.name, None)
        plane = self.started.pop(mode.name, None)
        if plane is None:
            return []
        if self.keep:
            self.started[mode.name] = plane  # kept: stays recorded, never stopped
            return []
        plane.stop(remove=True)
        return [plane.name]

    def close(self) -> list[str]:
        """Stop the control planes this process started (unless kept); returns their names."""
        stopped = []
        if not self.keep:
            for plane in self.started.values():
                plane.stop(remove=True)
                stopped.append(plane.name)
        self.started.clear()
        self.planes.clear()
        return stopped


def sweep_stale(root: Path, stem: str) -> list[str]:
    """Remove folders of throwaway planes whose processes are all gone.

    A run killed by SIGKILL or SIGTERM cannot remove its folder; the kernel ended its
    processes (PR_SET_PDEATHSIG), so the next run clears what is left.
    """
    from meshconform.live.controlplane.processes import Processes  # noqa: PLC0415

    removed = []
    for folder in root.glob(f"{stem}-*") if root.is_dir() else []:
        if time.time() - folder.stat().st_mtime < 600:
            continue  # maybe another run's plane being started right now
        procs = Processes.reattach(folder).procs
        if folder.is_dir() and not any(p.alive() for p in procs):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def stop_kept(mode: Mode, root: Path | None = None) -> str | None:
    """Stop a kept control plane of ``mode`` (``meshconform controlplane stop``)."""
    name = plane_name(mode)
    folder = (root or state_root()) / name
    if not folder.exists():
        return None
    from meshconform.live.controlplane.processes import Processes  # noqa: PLC0415

    Processes.reattach(folder).stop()
    shutil.rmtree(folder, ignore_errors=True)
    return name


def _ensure_gateway(  # noqa: PLR0917
    cluster: Cluster,
    binaries: ControlPlaneBinaries,
    release: IstioRelease,
    install: StaticInstall,
    ports: istiod_process.IstiodPorts,
    timeouts: Timeouts,
) -> list[str]:
    """Start the mode's ingress gateway as processes (or reattach to it); its evidence."""
    from meshconform.dataplane.envoy import get_envoy_path  # noqa: PLC0415

    plane = cluster.plane
    assert plane is not None
    if not gateway_process.has_gateway(install):
        return ["ingress gateway: the mode's install declares none"]
    envoy = get_envoy_path()
    running = gateway_process.reattach_gateway(plane)
    if running is None:
        running = gateway_process.start_gateway(
            plane,
            cluster.kube,
            binaries.pilot_agent,
            envoy,
            release,
            install,
            ports.secure_grpc,
            timeouts.deployment_ready,
        )
    cluster.gateway = running.endpoint
    cluster.gateway_rejections = running.rejected
    identity = gateway_process.gateway_identity(install)
    return gateway_process.describe_gateway(running, identity, envoy)


def outlives_run_reason(*, dies_with_run: bool, reattached: bool) -> str | None:
    """Why process pods cannot run on a plane whose processes outlive the run, or None.

    A pod's processes die with the process that started them (``PR_SET_PDEATHSIG``), so
    they cannot belong to a plane meant to outlive the run: one started with
    ``--keep-cluster`` (:meth:`ControlPlaneProvider.plane` started it, ``reattached``
    False) or a kept one this run reattached to with ``--reuse-cluster`` (``reattached``
    True: :meth:`ControlPlaneProvider.plane` says it did not start it).
    """
    if dies_with_run:
        return None
    if reattached:
        return (
            "process pods do not outlive the run: the control plane is a kept one, "
            "reattached with --reuse-cluster (its processes do not die with this run); "
            "for process pods, stop it ('meshconform controlplane stop') or run without "
            "--reuse-cluster"
        )
    return (
        "process pods do not outlive the run: the control plane was started with "
        "--keep-cluster (its processes outlive this run); run without --keep-cluster "
        "for process pods"
    )


def _ensure_process_pods(
    cluster: Cluster,
    binaries: ControlPlaneBinaries,
    release: IstioRelease,
    ports: istiod_process.IstiodPorts,
    timeouts: Timeouts,
) -> list[str]:
    """Start the process kubelet (pods bound to its node run as processes); its evidence."""
    from meshconform.dataplane.envoy import get_envoy_path  # noqa: PLC0415
    from meshconform.live.controlplane import pods  # noqa: PLC0415
    from meshconform.live.controlplane.pods.kubelet import (  # noqa: PLC0415
        ProcessKubelet,
        Runtime,
        describe,
    )

    plane = cluster.plane
    assert plane is not None
    from meshconform.evidence import AMBIENT_NO_PROCESS_PODS  # noqa: PLC0415

    reason = AMBIENT_NO_PROCESS_PODS if cluster.mode.name == "ambient" else pods.unsupported()
    if reason is None:
        reason = outlives_run_reason(
            dies_with_run=plane.processes.die_with_parent, reattached=not cluster.created_by_us
        )
    if reason is not None:
        cluster.process_pods_unsupported = reason
        return [f"process pods: not available ({reason})"]
    if plane.kubelet is None:
        runtime = Runtime(
            pilot_agent=binaries.pilot_agent,
            envoy=get_envoy_path(),
            bootstrap_template=gateway_process.bootstrap_template(release),
            istiod_port=ports.secure_grpc,
            kubelet_version=CONTROL_PLANE_KUBERNETES,
        )
        kubelet = ProcessKubelet(plane, runtime, ready_timeout=timeouts.deployment_ready)
        kubelet.start()
        plane.kubelet = kubelet
    cluster.kube.exec_hook = plane.kubelet.exec
    cluster.process_pods_unsupported = None
    return describe(plane.kubelet)


@dataclass(frozen=True)
class IstioOnControlPlane:
    """What the install did, for the report's evidence."""

    install: StaticInstall
    ports: istiod_process.IstiodPorts
    evidence: tuple[str, ...]
    seconds: float
    #: seconds per step: render, crds, istiod (process /ready), install (istioctl + waits)
    steps: dict[str, float] = field(default_factory=dict)


def render(
    binaries: ControlPlaneBinaries,
    release: IstioRelease,
    mode: Mode,
    istio_config: Sequence[Path],
) -> StaticInstall:
    """The mode's install as istioctl renders it (the same render the static tier uses)."""
    istioctl = Istioctl(binaries.istioctl, release, SOURCE_CACHE)
    return generate(istioctl, mode, istio_config)


def install_istio(
    cluster: Cluster,
    binaries: ControlPlaneBinaries,
    release: IstioRelease,
    istio_config: Sequence[Path],
    timeouts: Timeouts,
) -> IstioOnControlPlane:
    """Istio on a controlplane cluster: render, CRDs, istiod process, ``istioctl install``, waits.

    A reattached cluster whose istiod still runs keeps it; the installer then sees the
    release installed and only waits (as on a reused kind cluster).
    """
    plane = cluster.plane
    if plane is None:
        raise ProvisioningError(f"cluster {cluster.name} is not a controlplane cluster")
    started = time.monotonic()
    steps: dict[str, float] = {}

    def lap(step: str) -> None:
        steps[step] = round(time.monotonic() - started - sum(steps.values()), 3)
        # (the installer's own steps are added after the last lap)

    # upstream Envoy's settings come last, so they win over the user's files
    files = [*istio_config, upstream_envoy.mesh_overlay(plane.folder)]
    install = render(binaries, release, cluster.mode, files)
    lap("render")
    running = plane.processes.get("istiod")
    if running is not None and running.alive() and "istiod_webhook" in plane.ports:
        ports = istiod_process.IstiodPorts.from_dict(plane.ports)
    else:
        istiod_process.prepare_crds(cluster.kube, install, timeouts.crd_established)
        lap("crds")
        ports = istiod_process.start_istiod(plane, binaries.istiod, install, timeouts.istiod_ready)
        lap("istiod")
    installer = IstioInstaller(
        binaries.istioctl, release, timeouts, files=files, sets=ports.install_sets()
    )
    installer.ensure(cluster)
    lap("install")
    gateway_evidence = _ensure_gateway(cluster, binaries, release, install, ports, timeouts)
    lap("gateway")
    gateway_evidence += _ensure_process_pods(cluster, binaries, release, ports, timeouts)
    lap("process pods")
    steps.update({f"install: {k}": v for k, v in installer.step_seconds.items()})
    evidence = [
        *istiod_process.describe_istiod(install, release.build_note("pilot-discovery")),
        f"Istio installed by the live tier's installer: istioctl install -f "
        f"{' -f '.join(str(p) for p in install.overlays)} with the webhooks routed to the "
        f"istiod process ({ports.injection_url}, {ports.validation_url})",
        f"validation webhook readiness: {installer.webhook_denial}",
        *gateway_evidence,
        f"nodes: kwok fake nodes reporting kubelet {CONTROL_PLANE_KUBERNETES} "
        "(status written by kwok: never evidence)",
    ]
    cluster.istio_evidence = evidence
    return IstioOnControlPlane(install, ports, tuple(evidence), time.monotonic() - started, steps)
