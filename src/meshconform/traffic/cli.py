"""``meshconform probe gateway|egress``: the gateway claims against any reachable gateway.

``probe gateway`` runs the five gateway evaluators (the same the dataplane and live
tiers run) against a real Istio ingress gateway from this host, with the host
transport, and writes the standard report; each evidence line names the expectation
a probe met or missed. The rows carry tier
``live`` (it is a real mesh, not the Envoy tier) and the mode given by
``--mesh-mode``; the gateway claims expect ``holds`` in every mode, so the mode
only labels the rows. The default, ``native-sidecar``, is what Istio >= 1.27
installs on Kubernetes >= 1.33 (shared/research/istio-behaviours.md finding 1).

``probe egress`` is deliberately not a host-side probe: egress control is
enforced by the client's own sidecar (or not at all, in ambient), so it can only
be observed from a pod in the mesh. The command says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from meshconform.claims import Outcome, Verdict, get_catalog
from meshconform.errors import UsageError
from meshconform.modes import MODES, get_mode
from meshconform.report import ClaimResult, RunInfo, write_report
from meshconform.traffic.gateway import GATEWAY_EVALUATORS, GatewayTarget
from meshconform.traffic.observation import Observation
from meshconform.traffic.transport import HostTransport
from meshconform.wait import Timeouts, WaitTimeout

EGRESS_EXPLANATION = (
    "egress control is enforced by the client's sidecar, so it can only be probed from a pod "
    "in the mesh: run the live tier ('pytest suites -m egress --tier live'), or run curl from "
    "an injected pod (expectation blocked-by-registry for an unregistered host under "
    "REGISTRY_ONLY: HTTP 502 or a reset; for TLS curl exit 35 or a reset)"
)


def add_probe_commands(subparsers: Any) -> dict[str, Any]:
    """Register ``probe gateway`` and ``probe egress``; return {command: handler}."""
    probe = subparsers.add_parser("probe", help="probe a real gateway from this host")
    kinds = probe.add_subparsers(dest="probe_command", required=True)
    gateway = kinds.add_parser(
        "gateway", help="run the gateway claims against an ingress gateway reachable from here"
    )
    gateway.add_argument(
        "--address",
        required=True,
        metavar="HOST:PORT",
        help="where the gateway's HTTPS port is reachable (e.g. 127.0.0.1:8443)",
    )
    gateway.add_argument(
        "--host",
        required=True,
        help="a host a Gateway server serves over "
        "TLS SIMPLE and redirects from HTTP, with a VirtualService",
    )
    gateway.add_argument(
        "--ca",
        required=True,
        type=Path,
        help="CA certificate (PEM) that signed the gateway's certificate",
    )
    gateway.add_argument("--http-port", type=int, default=80)
    gateway.add_argument("--health-port", type=int, default=15021)
    gateway.add_argument("--path", default="/")
    gateway.add_argument(
        "--mesh-mode",
        default="native-sidecar",
        choices=list(MODES),
        help="label for the report rows (default native-sidecar)",
    )
    gateway.add_argument("--report-dir", type=Path, default=None)
    gateway.add_argument("--format", choices=("text", "json"), default="text")
    kinds.add_parser("egress", help="explains why egress is probed from inside the mesh")
    return {"probe": run_probe}


def run_probe(args: argparse.Namespace) -> int:
    if args.probe_command == "gateway":
        return run_probe_gateway(args)
    raise UsageError("egress cannot be probed from outside the mesh", EGRESS_EXPLANATION)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT``; raises UsageError naming the problem."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            f"--address {text!r} is not HOST:PORT",
            "Pass the gateway's HTTPS address, e.g. --address 127.0.0.1:8443",
        )
    return host, int(port)


def gateway_target(args: argparse.Namespace) -> GatewayTarget:
    address, port = parse_address(args.address)
    ca: Path = args.ca
    if not ca.is_file():
        raise UsageError(
            f"CA file {str(ca)!r} does not exist",
            "Pass the PEM CA that signed the gateway certificate with --ca",
        )
    if b"BEGIN CERTIFICATE" not in ca.read_bytes():
        raise UsageError(
            f"CA file {str(ca)!r} holds no PEM certificate",
            "Pass a PEM file ('-----BEGIN CERTIFICATE-----')",
        )
    for flag, value in (("--http-port", args.http_port), ("--health-port", args.health_port)):
        if not 0 < value < 65536:
            raise UsageError(f"{flag} {value} is not a port", "Use a number from 1 to 65535")
    if not args.path.startswith("/"):
        raise UsageError(f"--path {args.path!r} must start with '/'", "For example --path /")
    return GatewayTarget(
        address=address,
        host=args.host,
        ca=ca,
        https_port=port,
        http_port=args.http_port,
        health_port=args.health_port,
        path=args.path,
        timeouts=Timeouts(),
        transport=HostTransport(),
    )


def evaluate_gateway(target: GatewayTarget, mode: str) -> list[ClaimResult]:
    """Run every gateway evaluator; one ClaimResult per claim."""
    results = []
    catalog = get_catalog()
    for claim_id, evaluate in GATEWAY_EVALUATORS.items():
        start = time.perf_counter()
        try:
            observation = evaluate(target)
        except WaitTimeout as flapping:  # results never settled: that is the evidence
            observation = Observation(claim_id, None, (str(flapping),))
        expected = catalog[claim_id].expect[mode].outcome
        verdict = observation.verdict(expected)
        results.append(
            ClaimResult(
                id=claim_id,
                mode=mode,
                tier="live",
                verdict=verdict,
                expected=str(expected),
                observed=str(observation.outcome) if observation.outcome else None,
                evidence=observation.text,
                duration_s=round(time.perf_counter() - start, 3),
                check="meshconform probe gateway",
            )
        )
    return results


def run_probe_gateway(args: argparse.Namespace) -> int:
    target = gateway_target(args)
    mode = get_mode(args.mesh_mode).name
    start = time.perf_counter()
    results = evaluate_gateway(target, mode)
    info = RunInfo(
        modes=[mode],
        tiers=["live"],
        command=f"meshconform probe gateway --address {args.address} --host {args.host}",
        timings={"probe_gateway": time.perf_counter() - start},
    )
    if args.report_dir is not None:
        write_report(results, info, args.report_dir)
    if args.format == "json":
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        for r in results:
            print(
                f"{r.verdict.value.upper():5} {r.id}: expected {r.expected}, "
                f"observed {r.observed or 'nothing'}"
            )
            for line in r.evidence.splitlines():
                print(f"      {line}")
    sys.stdout.flush()
    ok = all(r.verdict is Verdict.PASS and r.observed == Outcome.HOLDS for r in results)
    return 0 if ok else 1
