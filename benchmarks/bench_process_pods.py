"""Benchmark process pods: one pod ready (warm), and one mode's traffic claims end to end.

    python benchmarks/bench_process_pods.py [--mesh-mode sidecar] [--istio-version 1.31]
                                            [--pods 3] [--skip-run]

Needs root and the provisioned binaries. Prints:

- pod ready: from creating the client pod in the API server (bound to the process node
  by the scheduler) to its Ready condition written by the process kubelet: namespaces,
  address, istio-iptables, pilot-agent + Envoy ready (certificate from istiod, first
  config), the app started. The first pod of a plane is cold (istiod's first push for the
  namespace); the following ones are warm. Target: warm < 3 s;
- run: ``pytest suites --tier live --cluster controlplane --mesh-mode M -k <traffic
  claims>`` wall time (cluster, Istio, the checks). Target: < 60 s.

Numbers with their ratio to the target; the benchmark fails only on an error.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import tempfile
import time

from meshconform import manifests, paths
from meshconform.evidence import ClusterKind
from meshconform.live.clusters import Cluster
from meshconform.live.controlplane.binaries import provision
from meshconform.live.controlplane.provider import ControlPlaneProvider, install_istio
from meshconform.live.kube import Kube
from meshconform.modes import get_mode
from meshconform.versions import get_istio_release
from meshconform.wait import Done, Pending, Timeouts, wait_until

POD_TARGET = 3.0
RUN_TARGET = 60.0
TRAFFIC_CHECKS = "test_egress_live or test_dns_live or test_security_live"


def _row(what: str, value: float, target: float) -> None:
    print(f"{what:<58} {value:>7.2f} s   target {target:>4.0f} s   ratio {value / target:.2f}")


def _ready(kube: Kube, namespace: str) -> Done[None] | Pending:
    for pod in kube.list("v1", "Pod", namespace, label_selector="app=client"):
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            return Done(None)
    return Pending("client not Ready")


def pod_ready_times(mode_name: str, version: str, count: int) -> list[float]:
    release = get_istio_release(version)
    binaries = provision(release, build=False)
    timeouts = Timeouts()
    provider = ControlPlaneProvider(binaries, timeouts)
    mode = get_mode(mode_name)
    control, _ = provider.plane(mode)
    kube = Kube(control.kubeconfig, control.name)
    cluster = Cluster(control.name, mode, control.kubeconfig, control.name, True, kube,
                      kind=ClusterKind.CONTROLPLANE, plane=control)  # fmt: skip
    times = []
    try:
        install_istio(cluster, binaries, release, [], timeouts)
        if control.kubelet is None:
            sys.exit(f"process pods unavailable: {cluster.process_pods_unsupported}")
        for _ in range(count):
            ns = f"mc-bench-{secrets.token_hex(3)}"
            kube.create_namespace(ns, dict(mode.namespace_labels))
            objs = manifests.load_manifests("workloads/client.yaml")
            kube.apply(objs[0], ns)  # the ServiceAccount
            started = time.monotonic()
            kube.apply_all(objs[1:], ns)
            wait_until("client Ready", lambda ns=ns: _ready(kube, ns), timeout=60,  # type: ignore[misc]
                       interval=0.02)  # fmt: skip
            times.append(time.monotonic() - started)
            kube.delete_namespace(ns)
    finally:
        kube.close()
        provider.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mesh-mode", default="sidecar")
    parser.add_argument("--istio-version", default="1.31")
    parser.add_argument("--pods", type=int, default=3)
    parser.add_argument("--skip-run", action="store_true")
    args = parser.parse_args()
    times = pod_ready_times(args.mesh_mode, args.istio_version, args.pods)
    _row("process pod ready, first (cold: istiod's first push)", times[0], POD_TARGET)
    for i, seconds in enumerate(times[1:], 2):
        _row(f"process pod ready, #{i} (warm)", seconds, POD_TARGET)
    if args.skip_run:
        return 0
    with tempfile.TemporaryDirectory() as reports:
        started = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "pytest", str(paths.repo_root() / "suites"), "--tier", "live",
             "--cluster", "controlplane", "--mesh-mode", args.mesh_mode, "--istio-version",
             args.istio_version, "-k", TRAFFIC_CHECKS, "-q", "-p", "no:randomly",
             "--report-dir", reports],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        seconds = time.monotonic() - started
    print(out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-500:])
    _row(f"traffic claims of {args.mesh_mode}, end to end (pytest)", seconds, RUN_TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
