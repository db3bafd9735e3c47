"""Build (or reuse) every binary the controlplane cluster runs, before a run needs them.

``python -m meshconform.live.controlplane.provision --istio-version 1.30,1.31`` prints one line
per piece: cached or built (with the build's seconds), or refused with the reason. CI
runs it first so that a cold build is a provisioning step, not a test's timeout. Exit 0
when the Kubernetes binaries, kwok, etcd and at least one Istio version are there.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from meshconform import gobuild, istioctl_build
from meshconform.errors import ToolMissingError, UsageError
from meshconform.live.controlplane.binaries import KUBE, KWOK, find_etcd
from meshconform.versions import ISTIO_RELEASES, IstioRelease, get_istio_release


def _releases(value: str) -> list[IstioRelease]:
    if value == "all":
        return list(ISTIO_RELEASES.values())
    return [get_istio_release(v) for v in value.split(",") if v.strip()]


def _one(spec: gobuild.GoBuild) -> tuple[bool, str]:
    if gobuild.cached(spec):
        seconds = gobuild.build_seconds(spec)
        took = f", built in {seconds:.0f}s" if seconds is not None else ""
        return True, f"cached ({gobuild.build_dir(spec)}{took})"
    started = time.monotonic()
    try:
        gobuild.build(spec)
    except ToolMissingError as error:
        return False, f"refused: {error.problem}. {error.fix}"
    return True, f"built in {time.monotonic() - started:.0f}s ({gobuild.build_dir(spec)})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m meshconform.live.controlplane.provision",
        description="Build the controlplane cluster's binaries into the suite cache.",
    )
    parser.add_argument("--istio-version", default="all", help="1.30, 1.30,1.31 or all")
    args = parser.parse_args(argv)
    try:
        releases = _releases(args.istio_version)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    ok = True
    try:
        print(f"etcd: {find_etcd()}")
    except ToolMissingError as error:
        print(f"etcd: missing: {error.problem}. {error.fix}")
        ok = False
    for spec in (KUBE, KWOK):
        built, line = _one(spec)
        ok = ok and built
        print(f"{spec.title}: {line}")
    istio_ok = 0
    for release in releases:
        if not (gobuild.tools_dir() / "istio" / release.minor / "go.mod").is_file():
            print(f"Istio {release.minor}: refused: no wrapper module ({release.go_ref_note})")
            continue
        built, line = _one(istioctl_build.istio_build(release))
        istio_ok += built
        print(f"Istio {release.minor}: {line}")
    return 0 if ok and istio_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
