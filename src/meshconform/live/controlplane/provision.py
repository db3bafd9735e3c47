"""Build (or reuse) every binary the controlplane cluster runs, before a run needs them.

``python -m meshconform.live.controlplane.provision --istio-version 1.30,1.31`` prints one line
per piece: cached or built (with the build's seconds), or refused with the reason. CI
runs it first so that a cold build is a provisioning step, not a test's timeout. Exit 0
when the Kubernetes binaries, kwok, etcd and at least one Istio version are there.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from meshconform import gobuild, istioctl_build
from meshconform.errors import ToolMissingError, UsageError
from meshconform.live.controlplane.binaries import KUBE, KWOK, find_etcd
from meshconform.versions import parse_releases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m meshconform.live.controlplane.provision",
        description="Build the controlplane cluster's binaries into the suite cache.",
    )
    parser.add_argument("--istio-version", default="all", help="1.30, 1.30,1.31 or all")
    args = parser.parse_args(argv)
    try:
        releases = parse_releases(args.istio_version)
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
        built, line = gobuild.provision(spec)
        ok = ok and built
        print(f"{spec.title}: {line}")
    istio_ok = 0
    for release in releases:
        built, line = istioctl_build.provision_release(release)
        istio_ok += built
        print(f"Istio {release.minor}: {line}")
    return 0 if ok and istio_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
