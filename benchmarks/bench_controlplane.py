"""Benchmark the controlplane cluster: ready times, one mode's whole run, peak memory.

    python benchmarks/bench_controlplane.py [--mesh-mode native-sidecar] [--istio-version 1.31]

The binaries must be provisioned (python -m meshconform.live.controlplane.provision). Prints:

- fresh: control plane ready (etcd, apiserver /readyz, nodes Ready, default ServiceAccount),
  then istiod ready, then Istio installed and waited on (the live installer);
- reuse: a kept control plane reattached and Istio found installed (--reuse-cluster);
- peak RSS: the sum of every process's high-water mark (VmHWM) after the install and a
  mode's admission checks, an upper bound of the peak of the sum;
- run: ``pytest suites --tier live --cluster controlplane --mesh-mode M`` wall time.

Each number with its ratio to the target (issue: ready < 20 s, run < 60 s, RSS < 2 GiB);
a ratio above 1 misses the target. Numbers, not assertions: the benchmark never fails on
time, only on an error.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from meshconform import paths
from meshconform.live.clusters import ClusterPool
from meshconform.live.controlplane.binaries import provision
from meshconform.live.controlplane.provider import ControlPlaneProvider, install_istio
from meshconform.modes import get_mode
from meshconform.versions import get_istio_release, node_image
from meshconform.wait import Timeouts

READY_TARGET = 20.0
RUN_TARGET = 60.0
RSS_TARGET = 2 * 1024**3


def _hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text("utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _row(what: str, value: float, target: float, unit: str = "s") -> None:
    shown = f"{value / 1024**2:.0f} MiB" if unit == "B" else f"{value:.1f} s"
    limit = f"{target / 1024**3:.0f} GiB" if unit == "B" else f"{target:.0f} s"
    print(f"{what:<52} {shown:>10}   target {limit:>6}   ratio {value / target:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mesh-mode", default="native-sidecar")
    parser.add_argument("--istio-version", default="1.31")
    args = parser.parse_args()
    mode = get_mode(args.mesh_mode)
    release = get_istio_release(args.istio_version)
    binaries = provision(release, build=False)
    timeouts = Timeouts()
    root = Path(tempfile.mkdtemp(prefix="meshconform-bench-"))

    def pool(*, keep: bool, reuse: bool) -> ClusterPool:
        provider = ControlPlaneProvider(binaries, timeouts, keep=keep, reuse=reuse, root=root)
        return ClusterPool(
            node_image=node_image("1.35"), timeouts=timeouts, controlplane=provider, state=root
        )

    started = time.monotonic()
    kept = pool(keep=True, reuse=True)
    cluster = kept.get(mode)
    plane_ready = time.monotonic() - started
    installed = install_istio(cluster, binaries, release, (), timeouts)
    total = time.monotonic() - started
    assert cluster.plane is not None
    rss = sum(_hwm(p.pid) for p in cluster.plane.processes.procs)
    kept.close()  # keep=True: processes stay for the reuse measurement

    started = time.monotonic()
    reused = pool(keep=False, reuse=True)
    again = reused.get(mode)
    install_istio(again, binaries, release, (), timeouts)
    reuse_ready = time.monotonic() - started
    reused.close()
    assert again.plane is not None
    again.plane.stop()

    print(f"controlplane cluster, mode {mode.name}, Istio {release.minor} ({release.go_ref_note})")
    _row("control plane ready (fresh)", plane_ready, READY_TARGET)
    _row("control plane + istiod ready + Istio installed (fresh)", total, READY_TARGET)
    for step, seconds in installed.steps.items():
        print(f"{'  of which ' + step:<52} {seconds:>8.1f} s")
    istiod_ready = plane_ready + sum(
        installed.steps.get(s, 0.0) for s in ("render", "crds", "istiod")
    )
    _row("control plane + istiod ready (fresh)", istiod_ready, READY_TARGET)
    _row("reattached + Istio found installed (--reuse-cluster)", reuse_ready, READY_TARGET)
    _row("peak RSS, all processes (sum of VmHWM)", rss, RSS_TARGET, unit="B")

    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites",
            "--tier",
            "live",
            "--cluster",
            "controlplane",
            "--mesh-mode",
            mode.name,
            "--istio-version",
            release.minor,
            "--report-dir",
            str(root / "report"),
            "-q",
            "-p",
            "no:randomly",
        ],
        cwd=paths.repo_root(),
        capture_output=True,
        text=True,
        check=False,
    )
    run = time.monotonic() - started
    _row(f"one mode's whole run (pytest, {mode.name})", run, RUN_TARGET)
    print("  " + (done.stdout.strip().splitlines() or ["(no output)"])[-1])
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
