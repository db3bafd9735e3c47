"""Provision istioctl, istiod and pilot-agent for a pinned Istio release into the suite cache.

Each release has a wrapper module ``tools/istio/<minor>/`` that requires ``istio.io/istio``
at the release's Go ref (``versions.IstioRelease.go_ref``); :mod:`meshconform.gobuild`
builds its three binaries once, under a lock, keyed by the module's content.

CI provisioning: ``python -m meshconform.istioctl_build --istio-version all``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from meshconform import gobuild
from meshconform.errors import ToolMissingError, UsageError
from meshconform.live.tools import istioctl_env_var
from meshconform.versions import IstioRelease, parse_releases

#: the main packages each Istio wrapper module builds (tools/istio/<minor>/go.mod)
PACKAGES = {
    "istioctl": "istio.io/istio/istioctl/cmd/istioctl",
    "pilot-discovery": "istio.io/istio/pilot/cmd/pilot-discovery",
    "pilot-agent": "istio.io/istio/pilot/cmd/pilot-agent",
}
_VERSION_PKG = "istio.io/istio/pkg/version"


def istio_build(release: IstioRelease) -> gobuild.GoBuild:
    """istioctl, istiod (``pilot-discovery``) and ``pilot-agent`` of one Istio release.

    Built from ``tools/istio/<minor>/`` (a module requiring ``istio.io/istio`` at
    ``release.go_ref``). The version ldflags make ``istioctl version`` and istiod report
    ``<minor>-dev`` and the snapshot's commit, not ``unknown``.
    """
    commit = release.go_ref.rsplit("-", 1)[-1]
    return gobuild.GoBuild(
        title=f"Istio {release.minor} ({', '.join(PACKAGES)} at {release.go_ref_note})",
        module=f"istio/{release.minor}",
        packages=tuple(PACKAGES.values()),
        ldflags=(
            f"-X {_VERSION_PKG}.buildVersion={release.minor}-dev",
            f"-X {_VERSION_PKG}.buildGitRevision={commit}",
            f"-X {_VERSION_PKG}.buildStatus=Clean",
            f"-X {_VERSION_PKG}.buildTag={release.go_ref}",
        ),
        alternative=f"point {env_var(release)} at an istioctl {release.minor} binary",
    )


def build_dir(release: IstioRelease) -> Path:
    return gobuild.build_dir(istio_build(release))


def cached_istioctl(release: IstioRelease) -> Path | None:
    """The cached build of this release's wrapper module, or None."""
    found = gobuild.cached(istio_build(release))
    return found["istioctl"] if found else None


_refusal = gobuild.refusal


def istio_binaries(release: IstioRelease, *, timeout: float = 3600) -> dict[str, Path]:
    """istioctl, pilot-discovery and pilot-agent of ``release``, built once into the cache."""
    if not (gobuild.tools_dir() / "istio" / release.minor / "go.mod").is_file():
        raise ToolMissingError(
            f"Istio {release.minor} cannot be built here: there is no wrapper module "
            f"tools/istio/{release.minor} ({release.go_ref_note} is refused by the Go "
            "module proxy)",
            f"Point {env_var(release)} at an istioctl {release.minor} binary",
        )
    return gobuild.build(istio_build(release), timeout=timeout)


def go_install_istioctl(release: IstioRelease, *, timeout: float = 3600) -> Path:
    """Return the cached istioctl for ``release``, building it from its wrapper module if needed.

    Raises ToolMissingError when Go is missing, the module proxy refuses the module
    or one of its dependencies (the proxy's own message is included), or the build fails.
    """
    return istio_binaries(release, timeout=timeout)["istioctl"]


def env_var(release: IstioRelease) -> str:
    """``MESHCONFORM_ISTIOCTL_1_30``: an explicit istioctl for one release (the resolver,
    :mod:`meshconform.live.tools`, reads it)."""
    return istioctl_env_var(release)


def provision_release(release: IstioRelease, timeout: float = 3600) -> tuple[bool, str]:
    """Build ``release``'s Istio binaries unless cached: (available, one line)."""
    if not (gobuild.tools_dir() / "istio" / release.minor / "go.mod").is_file():
        return (
            False,
            f"refused: no wrapper module tools/istio/{release.minor} ({release.go_ref_note})",
        )
    return gobuild.provision(istio_build(release), timeout=timeout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m meshconform.istioctl_build",
        description="Build (or reuse) istioctl, pilot-discovery and pilot-agent per Istio release.",
    )
    parser.add_argument("--istio-version", default="all", help="1.30, 1.30,1.31 or all")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    try:
        releases = parse_releases(args.istio_version)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    available = 0
    for release in releases:
        built, line = provision_release(release, timeout=args.timeout)
        print(f"{release.minor}: {line}")
        available += built
    return 0 if available else 1


if __name__ == "__main__":
    raise SystemExit(main())
