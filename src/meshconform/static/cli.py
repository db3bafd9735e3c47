"""``meshconform static`` and ``meshconform diff``.

``static`` checks every claim offline with the real istioctl of each version and
writes the same report as the pytest plugin. ``--istio-config FILE`` (repeatable)
layers your IstioOperator or Helm values files ON TOP of the suite's overlay for the
mode (later files win); ``--replace-overlay`` uses only your files instead.

``--product P`` checks the product's static claims instead, with the evaluators its recipe
registers (the ones ``pytest suites --product P`` runs): on the mode's mesh plus the
product's documented requirements, or, with ``--istio-config``, on YOUR configuration
without them, to see whether it meets them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from meshconform.claims import Verdict
from meshconform.errors import UsageError
from meshconform.modes import parse_modes
from meshconform.options import parse_istio
from meshconform.report import RunInfo, read_report, render_markdown, write_report
from meshconform.static.diff import diff_reports, render_diff_markdown
from meshconform.static.install import as_istio_operator
from meshconform.static.run import run_product_static, run_static
from meshconform.versions import KIND_NODE_IMAGES, node_image


def add_static_commands(subparsers: Any) -> dict[str, Any]:
    """Register ``static`` and ``diff``; return {command: handler}."""
    static = subparsers.add_parser(
        "static",
        help="check every claim offline with the real istioctl (no cluster)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    static.add_argument(
        "--istio-version",
        action="append",
        default=[],
        help="1.30, 1.31, comma separated or repeated, or all",
    )
    static.add_argument(
        "--mesh-mode",
        action="append",
        default=[],
        help="sidecar, cni, native-sidecar, cni-native-sidecar, ambient, or all (default all)",
    )
    static.add_argument(
        "--istio-config",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="your IstioOperator or Helm values file, layered "
        "on top of the suite's overlay (repeatable; later wins)",
    )
    static.add_argument(
        "--replace-overlay",
        action="store_true",
        help="use only the --istio-config files, not the suite's overlay",
    )
    static.add_argument(
        "--kubernetes-version",
        default=None,
        help="node Kubernetes minor that resolves ENABLE_NATIVE_SIDECARS=auto "
        f"({', '.join(KIND_NODE_IMAGES)})",
    )
    static.add_argument(
        "--product",
        default=None,
        help="check this product's static claims (its recipe's registry) instead of the core",
    )
    static.add_argument(
        "--istioctl",
        type=Path,
        default=None,
        metavar="PATH",
        help="the istioctl to use (it must report the --istio-version's minor); default: "
        "resolve it as every tier does (MESHCONFORM_ISTIOCTL_<MINOR>, cache, release, build)",
    )
    static.add_argument("--report-dir", type=Path, default=Path("meshconform-report"))
    static.add_argument(
        "--format",
        choices=("json", "md"),
        default="md",
        help="what to print on stdout (both files are always written)",
    )
    diff = subparsers.add_parser("diff", help="compare two report.json files")
    diff.add_argument("old", type=Path)
    diff.add_argument("new", type=Path)
    diff.add_argument("--format", choices=("md", "json"), default="md")
    return {"static": run_static_command, "diff": run_diff_command}


def run_static_command(args: argparse.Namespace) -> int:
    """Exit 0 only when every claim met its expectation (and the resources are valid)."""
    modes = parse_modes(args.mesh_mode or ["all"])
    releases = parse_istio(args.istio_version)
    kubernetes = args.kubernetes_version or "1.35"
    node_image(kubernetes)
    for path in args.istio_config:
        as_istio_operator(path)  # bad files are usage errors before istioctl runs
    if args.replace_overlay and not args.istio_config:
        raise UsageError(
            "--replace-overlay needs at least one --istio-config file",
            "Pass your IstioOperator/values file(s) with --istio-config",
        )
    start = time.perf_counter()
    extra = [p.resolve() for p in args.istio_config]
    if args.product:
        run = run_product_static(
            releases,
            modes,
            args.product,
            extra,
            replace_overlay=args.replace_overlay,
            kubernetes=kubernetes,
            istioctl=args.istioctl,
        )
    else:
        run = run_static(
            releases,
            modes,
            extra,
            replace_overlay=args.replace_overlay,
            kubernetes=kubernetes,
            istioctl=args.istioctl,
        )
    info = RunInfo(
        modes=[m.name for m in modes],
        tiers=["static"],
        istio_version=", ".join(r.minor for r in releases),
        istio_build="; ".join(f"{v}: {b}" for v, b in run.builds.items()),
        kubernetes_version=kubernetes,
        product=args.product,
        timings={"static": time.perf_counter() - start},
        command=shlex.join(["meshconform", "static", *sys.argv[2:]]),
    )
    report = write_report(run.results, info, args.report_dir)
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(render_markdown(report), end="")
    bad = [r for r in run.results if r.verdict in (Verdict.FAIL, Verdict.ERROR)]
    return 1 if bad else 0


def run_diff_command(args: argparse.Namespace) -> int:
    diff = diff_reports(read_report(args.old), read_report(args.new))
    if args.format == "json":
        print(json.dumps(diff, indent=2))
    else:
        print(render_diff_markdown(diff), end="")
    return 0
