"""The controlplane cluster's binaries: where each comes from and how it is provisioned.

- kube-apiserver, kube-controller-manager, kube-scheduler: ``k8s.io/kubernetes`` at
  ``versions.CONTROL_PLANE_KUBERNETES``, one multi-call binary from ``tools/kube``;
- kwok: ``sigs.k8s.io/kwok`` at ``versions.KWOK_VERSION``, from ``tools/kwok``;
- istiod (``pilot-discovery``) and ``pilot-agent``: the Istio release's source, from
  ``tools/istio/<minor>`` (meshconform.istioctl_build);
- etcd: Debian's ``etcd-server`` (3.4; ``apt-get install etcd-server``), found through
  ``MESHCONFORM_ETCD`` or PATH.

Everything is built once into the suite cache; a missing piece is one line naming it
and the fix (:class:`~meshconform.errors.ToolMissingError`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from meshconform import gobuild, istioctl_build
from meshconform.errors import ToolMissingError
from meshconform.versions import CONTROL_PLANE_KUBERNETES, KWOK_VERSION, IstioRelease

_VERSION_PKG = "k8s.io/component-base/version"


def _kube_ldflags(version: str) -> tuple[str, ...]:
    major, minor = version.removeprefix("v").split(".")[:2]
    return (
        f"-X {_VERSION_PKG}.gitVersion={version}",
        f"-X {_VERSION_PKG}.gitMajor={major}",
        f"-X {_VERSION_PKG}.gitMinor={minor}",
        f"-X {_VERSION_PKG}.gitTreeState=clean",
    )


KUBE = gobuild.GoBuild(
    title=(
        f"the Kubernetes control plane {CONTROL_PLANE_KUBERNETES} "
        "(kube-apiserver, kube-controller-manager, kube-scheduler)"
    ),
    module="kube",
    packages=(".",),
    names=("kube",),
    ldflags=_kube_ldflags(CONTROL_PLANE_KUBERNETES),
    alternative="use --cluster kind or --kubeconfig",
)
KWOK = gobuild.GoBuild(
    title=f"kwok {KWOK_VERSION}",
    module="kwok",
    packages=("sigs.k8s.io/kwok/cmd/kwok",),
    ldflags=(f"-X sigs.k8s.io/kwok/pkg/consts.Version={KWOK_VERSION.removeprefix('v')}",),
    alternative="use --cluster kind or --kubeconfig",
)

ETCD_ENV = "MESHCONFORM_ETCD"


@dataclass(frozen=True)
class ControlPlaneBinaries:
    kube: Path
    etcd: Path
    kwok: Path
    istiod: Path
    pilot_agent: Path
    istioctl: Path


def find_etcd() -> Path:
    """etcd from ``MESHCONFORM_ETCD``, PATH, or Debian's install location."""
    explicit = os.environ.get(ETCD_ENV)
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ToolMissingError(
                f"{ETCD_ENV}={explicit} is not an executable file",
                f"Point {ETCD_ENV} at an etcd binary, or unset it",
            )
        return path
    found = shutil.which("etcd") or next(
        (p for p in ("/usr/bin/etcd", "/usr/sbin/etcd") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise ToolMissingError(
            "etcd is not installed; the controlplane cluster runs it as a process",
            "Install it (Debian/Ubuntu: apt-get install etcd-server), or set "
            f"{ETCD_ENV} to an etcd binary",
        )
    return Path(found)


def provision(release: IstioRelease, *, build: bool = True) -> ControlPlaneBinaries:
    """Every binary the controlplane cluster needs, built if needed (``build``)."""
    etcd = find_etcd()
    specs = (KUBE, KWOK)
    if build:
        kube = gobuild.build(KUBE)["kube"]
        kwok = gobuild.build(KWOK)["kwok"]
        istio = istioctl_build.istio_binaries(release)
    else:
        cached = [gobuild.cached(s) for s in specs]
        istio_cached = gobuild.cached(istioctl_build.istio_build(release))
        missing = [s.title for s, c in zip(specs, cached, strict=True) if c is None]
        if istio_cached is None:
            missing.append(f"Istio {release.minor} (pilot-discovery, pilot-agent)")
        if missing or istio_cached is None or None in cached:
            raise ToolMissingError(
                f"not built yet: {'; '.join(missing)}",
                "Run 'python -m meshconform.live.controlplane.provision "
                f"--istio-version {release.minor}' (needs Go)",
            )
        kube = cached[0]["kube"]  # type: ignore[index]
        kwok = cached[1]["kwok"]  # type: ignore[index]
        istio = istio_cached
    return ControlPlaneBinaries(
        kube=kube,
        etcd=etcd,
        kwok=kwok,
        istiod=istio["pilot-discovery"],
        pilot_agent=istio["pilot-agent"],
        istioctl=istio["istioctl"],
    )
