"""Benchmark the static tier: every available Istio version x 4 modes x every static claim.

    python benchmarks/bench_static.py [--cold] [--workers N]

istioctl must already be provisioned (python -m meshconform.istioctl_build). --cold
uses an empty manifest cache (the istioctl binaries are passed by env var), so every
``manifest generate`` runs. Prints wall time, the sum of istioctl call times and the
overhead ratio wall / sum(istioctl). Targets: matrix < 30 s on 2 cores; overhead <= 25 %
(ratio <= 1.25 when calls run one at a time; with parallel calls it can go below 1).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from meshconform.claims import Verdict
from meshconform.errors import ToolMissingError
from meshconform.istioctl_build import env_var
from meshconform.modes import MODES
from meshconform.static.istioctl import CALLS, get_istioctl
from meshconform.static.run import run_static
from meshconform.versions import ISTIO_RELEASES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="empty manifest cache")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    available = []
    for release in ISTIO_RELEASES.values():
        try:
            istioctl = get_istioctl(release, build=False)
        except ToolMissingError as error:
            print(f"{release.minor}: not provisioned ({error.problem})")
            continue
        available.append(release)
        os.environ[env_var(release)] = str(istioctl.path)
    if not available:
        print("no istioctl provisioned: run python -m meshconform.istioctl_build", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as cache:
        if args.cold:
            os.environ["MESHCONFORM_CACHE"] = cache
        CALLS.reset()
        start = time.perf_counter()
        run = run_static(available, list(MODES.values()), workers=args.workers)
        wall = time.perf_counter() - start
    verdicts = {v: sum(1 for r in run.results if r.verdict is v) for v in Verdict}
    istioctl_s = CALLS.total()
    print(
        f"versions {[r.minor for r in available]} x {len(MODES)} modes, {len(run.results)} rows",
        {str(k): n for k, n in verdicts.items()},
    )
    print(f"cpus {os.cpu_count()}, workers {args.workers}, cache {'cold' if args.cold else 'warm'}")
    print(
        f"wall {wall:.2f} s; istioctl calls {len(CALLS.durations)}, sum {istioctl_s:.2f} s; "
        f"wall / sum(istioctl) = {wall / istioctl_s if istioctl_s else float('inf'):.2f}"
    )
    return 0 if wall < 30 else 1


if __name__ == "__main__":
    raise SystemExit(main())
