"""``meshconform certify``, ``validate-report`` and ``trend``: the certification commands."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any


def _command(args: argparse.Namespace) -> str:
    """The certify command line, canonical (what REPRODUCE.md tells a reviewer to run)."""
    argv = ["meshconform", "certify", "--product", args.product]
    argv += ["--istio-version", args.istio_version, "--out", str(args.out)]
    for mode in args.mesh_mode or []:
        argv += ["--mesh-mode", mode]
    for tier in args.tier or []:
        argv += ["--tier", tier]
    for name in ("cluster", "kubeconfig", "context", "istioctl"):
        if getattr(args, name):
            argv += [f"--{name}", str(getattr(args, name))]
    return shlex.join(argv)


def _certify(args: argparse.Namespace) -> int:
    from meshconform.bundle import validate_bundle  # noqa: PLC0415
    from meshconform.certify import certify, check_request  # noqa: PLC0415

    request = check_request(
        product=args.product,
        istio_version=args.istio_version,
        mesh_modes=args.mesh_mode or ["all"],
        tiers=args.tier or [],
        out=args.out,
        cluster=args.cluster,
        kubeconfig=args.kubeconfig,
        context=args.context,
        command=_command(args),
        istioctl=args.istioctl,
    )
    print(
        f"meshconform: certifying {request.product} on Istio {request.istio}: "
        f"tiers {', '.join(request.tiers)}, modes {', '.join(request.modes)} -> {request.out}",
        file=sys.stderr,
    )
    cert = certify(request)
    problems = validate_bundle(request.out)
    for run, info in cert["tier_runs"].items():
        print(f"  {run}: exit {info['exit_code']} in {info['duration_s']:.0f} s", file=sys.stderr)
    print(f"{cert['verdict']}: {request.out}")
    for line in cert["not_holding"][:20]:
        print(f"  {line}")
    if len(cert["not_holding"]) > 20:
        print(f"  ... and {len(cert['not_holding']) - 20} more (certification.json)")
    if problems:
        print("meshconform: the bundle does not validate:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 3
    return 0 if cert["verdict"] == "success" else 1


def _validate(args: argparse.Namespace) -> int:
    from meshconform.bundle import validate_bundle  # noqa: PLC0415

    problems = validate_bundle(args.bundle)
    if problems:
        print(f"meshconform: {args.bundle} is not a valid certification bundle:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{args.bundle}: valid")
    return 0


def _trend(args: argparse.Namespace) -> int:
    from meshconform.report import read_report  # noqa: PLC0415
    from meshconform.trend import (  # noqa: PLC0415
        plot_trend,
        render_trend,
        require_matplotlib,
        run_labels,
    )

    if args.plot is not None:
        require_matplotlib()
    reports = [read_report(p) for p in args.reports]
    labels = run_labels(args.reports)
    print(render_trend(reports, labels), end="")
    if args.plot is not None:
        plot_trend(reports, labels, args.plot)
        print(f"\nPlot: {args.plot}")
    return 0


def _error_report(args: argparse.Namespace) -> int:
    from meshconform.matrix import error_cell  # noqa: PLC0415

    reason = args.reason
    if args.reason_file is not None and args.reason_file.is_file():
        lines = [
            line.strip()
            for line in args.reason_file.read_text(encoding="utf-8", errors="replace").splitlines()
            if line.strip()
        ]
        named = [line for line in lines if "meshconform:" in line]
        reason = (named or lines or [reason])[-1]
    report = error_cell(
        mode=args.mesh_mode,
        istio_version=args.istio_version,
        product=args.product or None,
        reason=reason,
        report_dir=args.report_dir,
    )
    print(f"{args.report_dir}: {report['summary']['error']} claims error: {reason}")
    return 0


def add_bundle_commands(subparsers: Any) -> dict[str, Any]:
    """Register ``certify``, ``validate-report`` and ``trend``; return {command: handler}."""
    certify = subparsers.add_parser(
        "certify",
        help="run the tiers for one product and Istio version; write a certification bundle",
    )
    certify.add_argument("--product", required=True)
    certify.add_argument("--istio-version", required=True, metavar="VERSION")
    certify.add_argument("--out", required=True, type=Path, metavar="DIR")
    certify.add_argument(
        "--mesh-mode", action="append", metavar="MODE", help="default: all four modes"
    )
    certify.add_argument(
        "--tier", action="append", help="static, dataplane, live (comma separated; default all)"
    )
    where = certify.add_mutually_exclusive_group()
    where.add_argument("--cluster", help="live tier: kind (default) or controlplane")
    where.add_argument("--kubeconfig", help="live tier: your own cluster (one mode)")
    certify.add_argument("--context", help="kubeconfig context (with --kubeconfig)")
    certify.add_argument(
        "--istioctl", type=Path, metavar="PATH", help="the istioctl every tier uses"
    )

    validate = subparsers.add_parser(
        "validate-report", help="check that a certification bundle is complete and has no secrets"
    )
    validate.add_argument("bundle", type=Path, metavar="BUNDLE")

    trend = subparsers.add_parser(
        "trend", help="verdict changes and phase timings over several report.json (oldest first)"
    )
    trend.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    trend.add_argument("--plot", type=Path, metavar="FILE.png", help="also draw them (matplotlib)")
    error = subparsers.add_parser(
        "error-report",
        help="the report of a matrix cell that could not run: every claim error, with the reason",
    )
    error.add_argument("--mesh-mode", required=True, metavar="MODE")
    error.add_argument("--istio-version", required=True, metavar="VERSION")
    error.add_argument("--product", default=None)
    error.add_argument("--reason", default="the cell produced no report")
    error.add_argument(
        "--reason-file",
        type=Path,
        metavar="LOG",
        help="take the reason from this log (its last 'meshconform:' line, else its last line)",
    )
    error.add_argument("--report-dir", required=True, type=Path)
    return {
        "certify": _certify,
        "validate-report": _validate,
        "trend": _trend,
        "error-report": _error_report,
    }
