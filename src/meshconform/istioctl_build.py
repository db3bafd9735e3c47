"""Provision istioctl for a pinned Istio release by ``go install`` into the suite cache.

A build is keyed by the release's Go ref (``versions.IstioRelease.go_ref``) and lives
at ``<cache>/istioctl/<minor>/<go_ref>/istioctl``; it is reused across runs and a file
lock keeps parallel processes from building it twice. A binary built this way
reports ``client version: unknown``: callers record the pinned version and ref.

CI provisioning: ``python -m meshconform.istioctl_build --istio-version all``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock

from meshconform import paths
from meshconform.errors import ToolMissingError, UsageError
from meshconform.versions import ISTIO_RELEASES, IstioRelease, get_istio_release

MODULE = "istio.io/istio/istioctl/cmd/istioctl"


def build_dir(release: IstioRelease) -> Path:
    return paths.cache_dir() / "istioctl" / release.minor / release.go_ref


def cached_istioctl(release: IstioRelease) -> Path | None:
    """The cached build for this release's Go ref, or None."""
    binary = build_dir(release) / "istioctl"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def _refusal(output: str) -> str | None:
    """The Go proxy's refusal, first occurrence verbatim (``403 Forbidden ... not available``)."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "403 Forbidden" in line or "404 Not Found" in line or "410 Gone" in line:
            detail = lines[i + 1].strip() if i + 1 < len(lines) else ""
            return f"{line.strip()} {detail}".strip()
    return None


def go_install_istioctl(release: IstioRelease, *, timeout: float = 1800) -> Path:
    """Return the cached istioctl for ``release``, building it with ``go install`` if needed.

    Raises ToolMissingError when Go is missing, the module proxy refuses the module
    or one of its dependencies (the proxy's own message is included), or the build fails.
    """
    cached = cached_istioctl(release)
    if cached:
        return cached
    go = shutil.which("go")
    if go is None:
        raise ToolMissingError(
            f"istioctl {release.minor} is not cached and Go is not installed to build it",
            "Install Go >= 1.24 (https://go.dev/dl/), or point "
            f"{env_var(release)} at an istioctl {release.minor} binary",
        )
    target = build_dir(release)
    target.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target / ".build.lock"), timeout=timeout):
        cached = cached_istioctl(release)  # another process built it while we waited
        if cached:
            return cached
        staging = target / "bin.partial"
        shutil.rmtree(staging, ignore_errors=True)
        env = {**os.environ, "GOBIN": str(staging), "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
        try:
            proc = subprocess.run(
                [go, "install", f"{MODULE}@{release.go_ref}"],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ToolMissingError(
                f"go install of istioctl {release.minor} ({release.go_ref}) did not finish "
                f"in {timeout:.0f}s",
                "Retry with a warm Go module cache, or raise the timeout",
            ) from None
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            refused = _refusal(output)
            if refused:
                raise ToolMissingError(
                    f"the Go module proxy refuses istioctl {release.minor} "
                    f"({MODULE}@{release.go_ref}, {release.go_ref_note}): {refused}",
                    f"Point {env_var(release)} at an istioctl {release.minor} binary, "
                    "or pin a go_ref the proxy serves in src/meshconform/versions.py",
                )
            tail = "\n".join(output.strip().splitlines()[-5:])
            raise ToolMissingError(
                f"go install of istioctl {release.minor} ({release.go_ref}) failed "
                f"(exit {proc.returncode}): {tail}",
                "Read the go output above; check GOPROXY and network access to it",
            )
        (staging / "istioctl").replace(target / "istioctl")
        shutil.rmtree(staging, ignore_errors=True)
    built = cached_istioctl(release)
    if built is None:
        raise ToolMissingError(
            f"go install produced no istioctl in {target}",
            "Check GOBIN handling of the installed Go",
        )
    return built


def env_var(release: IstioRelease) -> str:
    """``MESHCONFORM_ISTIOCTL_1_30``: an explicit istioctl for one release."""
    return "MESHCONFORM_ISTIOCTL_" + release.minor.replace(".", "_")


def _parse_versions(value: str) -> list[IstioRelease]:
    if value == "all":
        return list(ISTIO_RELEASES.values())
    return [get_istio_release(v) for v in value.split(",") if v.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m meshconform.istioctl_build",
        description="Build (or reuse) istioctl for the pinned Istio releases via go install.",
    )
    parser.add_argument("--istio-version", default="all", help="1.30, 1.30,1.31 or all")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)
    try:
        releases = _parse_versions(args.istio_version)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    available = 0
    for release in releases:
        if cached_istioctl(release):
            print(f"{release.minor}: cached: {cached_istioctl(release)}")
            available += 1
            continue
        try:
            path = go_install_istioctl(release, timeout=args.timeout)
        except ToolMissingError as error:
            print(f"{release.minor}: refused: {error.problem}")
            continue
        print(f"{release.minor}: built: {path}")
        available += 1
    return 0 if available else 1


if __name__ == "__main__":
    raise SystemExit(main())
