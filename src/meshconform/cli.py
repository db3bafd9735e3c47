"""``meshconform``: what is not a test run (catalog, plan, probes, static checks, diffs).

Every command turns bad input into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from meshconform import __version__
from meshconform.claims import get_catalog
from meshconform.errors import IstioctlError, UsageError
from meshconform.modes import MODES, parse_modes
from meshconform.options import parse_istio
from meshconform.plan import (
    collect_plan,
    plan_as_json,
    product_matrix,
    render_plan,
    render_product_matrix,
)
from meshconform.report import merge_reports, read_report, render_markdown, write_document

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line naming the fix, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"meshconform: {message}. Run '{self.prog} --help' for the options\n")


def _claims(args: argparse.Namespace) -> int:
    catalog = get_catalog()
    if args.format == "json":
        data = [
            {
                "id": c.id,
                "area": c.area,
                "title": c.title,
                "sources": list(c.sources),
                "expect": {
                    m: {"outcome": str(e.outcome), "note": e.note} for m, e in c.expect.items()
                },
                "workaround": list(c.workaround),
                "workaround_note": c.workaround_note,
                "incorrect": (
                    {"statement": c.incorrect.statement, "sources": list(c.incorrect.sources)}
                    if c.incorrect
                    else None
                ),
            }
            for c in catalog.values()
        ]
        print(json.dumps(data, indent=2))
        return 0
    modes = list(MODES)
    print("| claim | " + " | ".join(modes) + " | statement |")
    print("| --- | " + " | ".join("---" for _ in modes) + " | --- |")
    for c in catalog.values():
        cells = " | ".join(str(c.expect[m].outcome) for m in modes)
        print(f"| `{c.id}` | {cells} | {c.title} |")
    return 0


def _plan_claim(args: argparse.Namespace) -> int:
    from meshconform.chain import claim_chain, render_chain  # noqa: PLC0415

    extra = [f"--istio-version={v}" for v in (args.istio_version or [])]
    chain = claim_chain(args.claim, extra)
    if args.format == "json":
        print(json.dumps(chain.to_json(), indent=2))
    else:
        print(render_chain(chain), end="")
    return 0


def _plan(args: argparse.Namespace) -> int:
    if args.claim:
        return _plan_claim(args)
    modes = parse_modes(args.mesh_mode or ["all"])
    if args.product == "all":
        versions = [r.minor for r in parse_istio(args.istio_version or [])]
        cells = product_matrix([m.name for m in modes], versions)
        if args.format == "json":
            print(json.dumps({"products": [c.__dict__ for c in cells]}, indent=2))
        else:
            print(render_product_matrix(cells, [m.name for m in modes]), end="")
        return 0
    pytest_args = [f"--mesh-mode={m.name}" for m in modes]
    pytest_args += [f"--tier={t}" for t in (args.tier or [])]
    pytest_args += [f"--istio-version={v}" for v in (args.istio_version or [])]
    if args.product:
        pytest_args.append(f"--product={args.product}")
    checks = collect_plan(pytest_args)
    if args.format == "json":
        print(json.dumps(plan_as_json(checks), indent=2))
    else:
        print(render_plan(checks, [m.name for m in modes]), end="")
    return 0


def _merge(args: argparse.Namespace) -> int:
    report = merge_reports([read_report(path) for path in args.reports])
    write_document(report, args.report_dir)
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(render_markdown(report), end="")
    return 0


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    parser = _Parser(prog="meshconform", description=__doc__)
    parser.add_argument("--version", action="version", version=f"meshconform {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, Handler] = {}

    claims = sub.add_parser("claims", help="print the claims catalog")
    claims.add_argument("--format", choices=("md", "json"), default="md")
    handlers["claims"] = _claims

    plan = sub.add_parser(
        "plan", help="print the matrix and the checks that would run (touches no cluster)"
    )
    plan.add_argument("--mesh-mode", action="append", metavar="MODE")
    plan.add_argument("--tier", action="append")
    plan.add_argument("--istio-version", action="append")
    plan.add_argument("--product", help="a product, or 'all' for the product x mode matrix")
    plan.add_argument(
        "--claim",
        metavar="ID",
        help="print one claim's chain: claim -> checks per tier -> manifests -> evaluator "
        "-> evidence (every tier and mode)",
    )
    plan.add_argument("--format", choices=("text", "json"), default="text")
    handlers["plan"] = _plan

    merge = sub.add_parser(
        "merge", help="one claim x mode matrix from several report.json files (nightly cells)"
    )
    merge.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    merge.add_argument("--report-dir", type=Path, default=Path("meshconform-report/merged"))
    merge.add_argument("--format", choices=("md", "json"), default="md")
    handlers["merge"] = _merge

    from meshconform.bundle_cli import add_bundle_commands  # noqa: PLC0415
    from meshconform.live.controlplane.cli import add_controlplane_commands  # noqa: PLC0415
    from meshconform.live.controlplane.gateway_check import (  # noqa: PLC0415
        add_gateway_check_command,
    )
    from meshconform.static.cli import add_static_commands  # noqa: PLC0415
    from meshconform.traffic.cli import add_probe_commands  # noqa: PLC0415

    handlers.update(add_controlplane_commands(sub))
    handlers.update(add_probe_commands(sub))
    handlers.update(add_static_commands(sub))
    handlers.update(add_bundle_commands(sub))
    handlers.update(add_gateway_check_command(sub))
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser, handlers = build_parser()
        args = parser.parse_args(argv)
        return handlers[args.command](args)
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return 2
    except IstioctlError as error:
        print(f"meshconform: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("meshconform: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
