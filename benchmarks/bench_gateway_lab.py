"""Gateway scenarios on istiod's output: one scenario warm, and ``gateway-check`` end to end.

Run: ``python benchmarks/bench_gateway_lab.py [N] [--istio-version 1.31] [--keep-lab]``.

- cold: starting the gateway lab (control plane, istiod, ``istioctl install``, pilot-agent
  + Envoy), only when no kept lab runs; no target (it is paid once per session, or once
  for many ``gateway-check`` runs with ``--keep-lab``);
- one scenario warm (target < 5 s): apply a scenario's Gateway / VirtualServices / Secret
  through the API server and the validation webhook (dry run, then for real), istiod
  compiles and pushes, Envoy serves it (stand-in backend started), all five gateway claims
  probed, everything deleted;
- ``meshconform gateway-check`` end to end (target < 10 s warm): a new process against
  the kept lab: parse and check the YAML, reattach, apply, serve, probe, report, delete.

Each number is printed with its ratio to the target (above 1 misses). Numbers, not
assertions. The lab is kept while the benchmark runs and stopped at the end (unless
``--keep-lab``, or it was already kept before).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from meshconform.certs import RunCertificates, TestCA
from meshconform.dataplane.gateway_resources import istiod_gateway_scenario
from meshconform.live.controlplane.gateway_lab import GatewayLab
from meshconform.traffic.gateway import GATEWAY_EVALUATORS
from meshconform.versions import get_istio_release


def line(what: str, seconds: float, target: float | None) -> None:
    ratio = f"target {target:>5.1f} s   ratio {seconds / target:.2f}" if target else "no target"
    print(f"{what:<48} {seconds:>7.2f} s   {ratio}")


def team_resources(folder: Path) -> Path:
    ca = TestCA.create(folder / "ca", name="team CA")
    cert = ca.issue(["shop.bench.meshconform.test"], stem="shop")
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    host = "shop.bench.meshconform.test"
    docs = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": "shop-cert", "namespace": "istio-system"},
            "data": {"tls.crt": b64(cert.cert_pem()), "tls.key": b64(cert.key_pem())},
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {
                "selector": {"istio": "ingressgateway"},
                "servers": [
                    {
                        "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                        "hosts": [host],
                        "tls": {"mode": "SIMPLE", "credentialName": "shop-cert"},
                    },
                    {
                        "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                        "hosts": [host],
                        "tls": {"httpsRedirect": True},
                    },
                ],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {
                "hosts": [host],
                "gateways": ["shop"],
                "http": [
                    {"route": [{"destination": {"host": "frontend", "port": {"number": 8080}}}]}
                ],
            },
        },
    ]
    (folder / "res").mkdir()
    (folder / "res" / "shop.yaml").write_text(yaml.safe_dump_all(docs))
    return ca.cert_path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=5)
    parser.add_argument("--istio-version", default="1.31")
    parser.add_argument("--keep-lab", action="store_true")
    opts = parser.parse_args()
    release = get_istio_release(opts.istio_version)
    started = time.monotonic()
    lab = GatewayLab.open(release, keep=True)
    opened = time.monotonic() - started
    if lab.reused:
        line("gateway lab: reattach to the kept lab", opened, None)
    else:
        line("gateway lab: cold start (plane, istiod, gateway)", opened, None)
    work = Path(tempfile.mkdtemp(prefix="meshconform-bench-gwlab-"))
    certs = RunCertificates.create(work / "certs", ["bench.meshconform.test"])
    try:
        scenario = []
        for _ in range(opts.n):
            t0 = time.monotonic()
            with istiod_gateway_scenario(lab, certs) as run:
                failed = [c for c, e in GATEWAY_EVALUATORS.items() if not e(run.target).holds]
            scenario.append(time.monotonic() - t0)
            if failed:
                print(f"  (a conforming scenario failed {failed}: the timing is not comparable)")
        line(f"one scenario warm (median of {opts.n})", statistics.median(scenario), 5.0)
        print(f"  {' '.join(f'{s:.2f}' for s in scenario)}")
        ca = team_resources(work)
        ends = []
        for _ in range(max(1, opts.n // 2)):
            t0 = time.monotonic()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "meshconform.cli",
                    "gateway-check",
                    "--resources",
                    str(work / "res"),
                    "--ca",
                    str(ca),
                    "--istio-version",
                    release.minor,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            ends.append(time.monotonic() - t0)
            if done.returncode != 0:
                print(
                    f"  (gateway-check exited {done.returncode}: {done.stdout[-800:]}"
                    f"{done.stderr[-800:]})"
                )
        line(f"gateway-check end to end (median of {len(ends)})", statistics.median(ends), 10.0)
        print(f"  {' '.join(f'{s:.2f}' for s in ends)}")
    finally:
        lab.close()
        if not (opts.keep_lab or lab.reused):
            GatewayLab.stop_kept(release)
    return 0


if __name__ == "__main__":
    sys.exit(main())
