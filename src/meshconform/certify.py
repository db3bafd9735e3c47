"""``meshconform certify``: run the tiers for one product and Istio version, write a bundle.

Each tier runs as its own pytest process of the suite (``suites/``), with its own
report directory under ``<out>/tiers/<tier>/``; the reports are then merged with
:func:`meshconform.report.merge_reports`. The bundle a vendor hands to a reviewer:

- ``report.json``, ``report.md``, ``junit.xml``: the merged claim x mode matrix;
- ``certification.json``: the verdict (``success`` or ``partial``), every required
  claim x mode with its verdict, and how each tier run ended;
- ``environment.json``: meshconform, Istio, Kubernetes, kind and node image, the
  product's chart, and which kind of cluster the live evidence came from;
- ``artifacts/<tier>/``: the failed checks' diagnostics;
- ``REPRODUCE.md``: the exact command, and each tier's pytest command.

Everything in the bundle passes through :func:`meshconform.redact.redact`;
``meshconform validate-report`` (:mod:`meshconform.bundle`) checks the result.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meshconform import __version__, paths
from meshconform.claims import Outcome, get_catalog
from meshconform.errors import UsageError
from meshconform.options import TIERS, parse_options, parse_tiers
from meshconform.products import known_products
from meshconform.redact import redact
from meshconform.report import merge_reports, read_report, write_document
from meshconform.versions import (
    CONTROL_PLANE_KUBERNETES,
    KIND_VERSION,
    KWOK_VERSION,
    get_istio_release,
    node_image,
)

#: clusters ``--cluster`` accepts; passed through to the pytest plugin as given
CLUSTERS = ("kind", "controlplane")
#: the verdict of a required claim x mode that no selected tier has a check for
NOT_CHECKED = "not checked"
#: how a claim's verdicts across tiers combine: the first one present wins
_PRECEDENCE = ("error", "fail", "flaky", "pass", "skip")
BUNDLE_FILES = (
    "report.json",
    "report.md",
    "junit.xml",
    "certification.json",
    "environment.json",
    "REPRODUCE.md",
)


@dataclass(frozen=True)
class CertifyRequest:
    """The checked inputs of one ``certify`` run."""

    product: str | None
    istio: str
    modes: tuple[str, ...]
    tiers: tuple[str, ...]
    out: Path
    cluster: str | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    command: str = ""
    extra_pytest_args: tuple[str, ...] = field(default=())
    #: ``--istioctl``: given to every tier's run (the one resolver honours it everywhere)
    istioctl: Path | None = None

    @property
    def cluster_kind(self) -> str | None:
        """Where the live evidence comes from: kind, controlplane, kubeconfig, or None."""
        if "live" not in self.tiers:
            return None
        if self.kubeconfig is not None:
            return "kubeconfig"
        return self.cluster or "kind"


def check_request(
    *,
    product: str | None,
    istio_version: str,
    mesh_modes: Sequence[str],
    tiers: Sequence[str],
    out: Path,
    cluster: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    command: str = "",
    istioctl: Path | None = None,
) -> CertifyRequest:
    """Check every input without touching the disk or a cluster; raise UsageError."""
    if not (paths.repo_root() / "suites").is_dir():
        raise UsageError(
            f"no suites/ folder in {paths.repo_root()}",
            "Run certify from a meshconform checkout (or set MESHCONFORM_ROOT to one)",
        )
    if "," in istio_version or istio_version.strip() == "all":
        raise UsageError(
            "certify takes one Istio version",
            "Pass a single --istio-version; certify each version into its own --out",
        )
    release = get_istio_release(istio_version)
    tier_list = parse_tiers(tiers) if tiers else TIERS
    if cluster is not None and cluster not in CLUSTERS:
        raise UsageError(f"unknown cluster {cluster!r}", f"Use --cluster {' or '.join(CLUSTERS)}")
    if cluster is not None and kubeconfig is not None:
        raise UsageError(
            "--cluster and --kubeconfig both name where the live tier runs",
            "Pass one: --cluster kind|controlplane, or --kubeconfig FILE for your own cluster",
        )
    if cluster is not None and "live" not in tier_list:
        raise UsageError(
            f"--cluster {cluster} applies to the live tier, which is not selected",
            "Add live to --tier, or drop --cluster",
        )
    if product is None:
        raise UsageError("certify needs --product", f"Use one of: {', '.join(known_products())}")
    # the pytest plugin's own checks, so certify refuses what a tier run would refuse
    options = parse_options(
        mesh_modes=list(mesh_modes),
        istio_versions=[istio_version],
        tiers=list(tier_list),
        product=product,
        kubeconfig=kubeconfig,
        context=context,
        known_products=known_products(),
        cluster=cluster,
    )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(
            f"--out {out} already exists and is not an empty directory",
            "Pass a new directory for the bundle (certify never overwrites one)",
        )
    return CertifyRequest(
        product=product,
        istio=release.minor,
        modes=tuple(m.name for m in options.modes),
        tiers=tuple(tier_list),
        out=out,
        cluster=cluster,
        kubeconfig=options.kubeconfig,
        context=context,
        command=command,
        istioctl=istioctl.resolve() if istioctl is not None else None,
    )


def pytest_argv(request: CertifyRequest, tier: str) -> list[str]:
    """The pytest command line of one tier (run from the checkout's root)."""
    tier_dir = request.out.resolve() / "tiers" / tier
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "suites",
        "--tier",
        tier,
        "--istio-version",
        request.istio,
        "--mesh-mode",
        ",".join(request.modes),
        "--report-dir",
        str(tier_dir),
        "--artifacts-dir",
        str(request.out.resolve() / "artifacts" / tier),
        "--junit-xml",
        str(tier_dir / "junit.xml"),
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    if request.product:
        argv += ["--product", request.product]
    if request.istioctl is not None:
        argv += ["--istioctl", str(request.istioctl)]
    if tier == "live":
        if request.cluster:
            argv += ["--cluster", request.cluster]
        if request.kubeconfig:
            argv += ["--kubeconfig", str(request.kubeconfig)]
        if request.context:
            argv += ["--context", request.context]
    return [*argv, *request.extra_pytest_args]


@dataclass
class TierRun:
    tier: str
    exit_code: int
    duration_s: float
    reason: str = ""

    @property
    def completed(self) -> bool:
        """pytest ran every check: 0 all passed, 1 some failed (both leave a report)."""
        return self.exit_code in (0, 1)


def run_tier(request: CertifyRequest, tier: str) -> TierRun:
    tier_dir = request.out / "tiers" / tier
    tier_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    done = subprocess.run(
        pytest_argv(request, tier),
        cwd=paths.repo_root(),
        capture_output=True,
        text=True,
        check=False,
    )
    duration = round(time.monotonic() - started, 3)
    log = redact(done.stdout + done.stderr)
    (tier_dir / "pytest.log").write_text(log, encoding="utf-8")
    reason = ""
    if done.returncode not in (0, 1):
        lines = [line for line in log.splitlines() if line.strip()]
        reason = f"pytest exit {done.returncode}: " + (lines[-1] if lines else "no output")
    elif not (tier_dir / "report.json").is_file():
        reason = "pytest wrote no report.json (no check of this tier applies)"
    return TierRun(tier, done.returncode, duration, reason)


def required_claims(product: str | None, modes: Iterable[str]) -> list[tuple[str, str]]:
    """Every (claim, mode) the documentation makes a promise about for this product."""
    return [
        (claim.id, mode)
        for claim in get_catalog().values()
        if claim.product is None or claim.product == product
        for mode in modes
        if claim.expect[mode].outcome is not Outcome.NOT_APPLICABLE
    ]


def claim_verdicts(
    rows: Iterable[Mapping[str, Any]], required: Iterable[tuple[str, str]]
) -> list[dict[str, Any]]:
    """One verdict per required claim x mode, combined over tiers (worst first)."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        tiers = seen.setdefault((row["id"], row["mode"]), {})
        previous = tiers.get(row["tier"])
        verdict = str(row["verdict"])
        if previous is None or _PRECEDENCE.index(verdict) < _PRECEDENCE.index(previous):
            tiers[row["tier"]] = verdict
    out: list[dict[str, Any]] = []
    catalog = get_catalog()
    for cid, mode in required:
        tiers = seen.get((cid, mode), {})
        verdict = next((v for v in _PRECEDENCE if v in tiers.values()), NOT_CHECKED)
        out.append(
            {
                "id": cid,
                "mode": mode,
                "expected": str(catalog[cid].expect[mode].outcome),
                "verdict": verdict,
                "tiers": {t: tiers[t] for t in TIERS if t in tiers},
            }
        )
    return out


def certification_verdict(
    claims: Sequence[Mapping[str, Any]], runs: Mapping[str, Mapping[str, Any]]
) -> tuple[str, list[str]]:
    """``success`` when every required claim holds as documented and every tier ran."""
    problems = [
        f"tier {tier} did not complete: {run['reason']}"
        for tier, run in runs.items()
        if run["reason"]
    ]
    problems += [
        f"{c['id']} in {c['mode']}: {c['verdict']}" for c in claims if c["verdict"] != "pass"
    ]
    return ("partial" if problems else "success"), problems


def _merge_junit(tier_files: Sequence[Path], target: Path) -> None:
    root = ET.Element("testsuites", {"name": "meshconform certify"})
    for path in tier_files:
        tree = ET.parse(path)  # noqa: S314 - pytest's own junit.xml, written seconds ago
        element = tree.getroot()
        suites = [element] if element.tag == "testsuite" else list(element)
        for suite in suites:
            suite.set("name", f"{path.parent.name}")
            root.append(suite)
    target.write_text(redact(ET.tostring(root, encoding="unicode")) + "\n", encoding="utf-8")


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=paths.repo_root(),
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def environment(request: CertifyRequest, report: Mapping[str, Any]) -> dict[str, Any]:
    """What the evidence was produced with, for environment.json."""
    from meshconform.products.recipes import load_recipe  # noqa: PLC0415 - reads fixtures/

    release = get_istio_release(request.istio)
    product = None
    if request.product:
        inst = load_recipe(request.product).install
        product = {
            "name": request.product,
            "install": inst.method,
            "chart": inst.chart or None,
            "chart_version": inst.version or None,
            "repo": inst.repo or None,
        }
    kubernetes = (report.get("kubernetes") or {}).get("version")
    cluster = request.cluster_kind
    return {
        "meshconform": __version__,
        "meshconform_commit": _git_commit(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "istio": {
            "minor": release.minor,
            "release": release.release,
            "build": report["istio"]["build"],
        },
        "kubernetes": {"version": kubernetes} if kubernetes else None,
        "kind": (
            {"version": KIND_VERSION, "node_image": node_image(kubernetes or "1.35")}
            if cluster == "kind"
            else None
        ),
        "controlplane": (
            {"kubernetes": CONTROL_PLANE_KUBERNETES, "kwok": KWOK_VERSION}
            if cluster == "controlplane"
            else None
        ),
        "cluster": cluster,
        "product": product,
        "modes": list(request.modes),
        "tiers": list(request.tiers),
    }


def _reproduce(request: CertifyRequest, runs: Sequence[TierRun]) -> str:
    env = sorted(
        f"export {name}={shlex.quote(value)}"
        for name, value in os.environ.items()
        if name.startswith("MESHCONFORM_ISTIOCTL_")
    )
    lines = [
        "# Reproduce this certification",
        "",
        f"meshconform {__version__} (commit {_git_commit() or 'unknown'}), Istio {request.istio}, "
        f"product {request.product}.",
        "",
        "From a meshconform checkout at that commit, with its `dev` extra installed:",
        "",
        "```sh",
        *env,
        redact(request.command),
        "```",
        "",
        "Each tier ran as its own pytest process from the checkout's root:",
        "",
    ]
    for run in runs:
        argv = pytest_argv(request, run.tier)
        argv[0] = "python"
        lines += [
            f"- `{run.tier}` ({run.duration_s:.0f} s, exit {run.exit_code}):",
            "",
            "  ```sh",
            "  " + redact(shlex.join(argv)),
            "  ```",
            "",
        ]
    if request.product == "speedscale":
        lines += ["Speedscale needs `SPEEDSCALE_API_KEY` in the environment (never written).", ""]
    return "\n".join(lines)


def _render_certification(cert: Mapping[str, Any]) -> str:
    lines = [
        "",
        "## Certification",
        "",
        f"**{cert['verdict']}**: product {cert['product']}, Istio {cert['istio']['release']}, "
        f"modes {', '.join(cert['modes'])}, tiers {', '.join(cert['tiers'])}.",
        "",
    ]
    if cert["not_holding"]:
        lines += ["Not (yet) shown to hold as documented:", ""]
        lines += [f"- {p}" for p in cert["not_holding"]]
        lines.append("")
    return "\n".join(lines)


def certify(request: CertifyRequest) -> dict[str, Any]:
    """Run the tiers, merge, and write the bundle; return certification.json's content."""
    request.out.mkdir(parents=True, exist_ok=True)
    runs = [run_tier(request, tier) for tier in request.tiers]
    tier_reports = [
        read_report(request.out / "tiers" / r.tier / "report.json")
        for r in runs
        if (request.out / "tiers" / r.tier / "report.json").is_file()
    ]
    if tier_reports:
        report = merge_reports(tier_reports)
    else:
        report = merge_reports([_empty_report(request)])
    report["command"] = redact(request.command)
    write_document(report, request.out)
    junits = [
        request.out / "tiers" / r.tier / "junit.xml"
        for r in runs
        if (request.out / "tiers" / r.tier / "junit.xml").is_file()
    ]
    _merge_junit(junits, request.out / "junit.xml")
    required = required_claims(request.product, request.modes)
    claims = claim_verdicts(report["claims"], required)
    run_info = {
        r.tier: {"exit_code": r.exit_code, "duration_s": r.duration_s, "reason": r.reason}
        for r in runs
    }
    verdict, problems = certification_verdict(claims, run_info)
    release = get_istio_release(request.istio)
    cert: dict[str, Any] = {
        "meshconform": __version__,
        "verdict": verdict,
        "product": request.product,
        "istio": {"minor": release.minor, "release": release.release},
        "modes": list(request.modes),
        "tiers": list(request.tiers),
        "cluster": request.cluster_kind,
        "command": redact(request.command),
        "tier_runs": run_info,
        "claims": claims,
        "not_holding": problems,
    }
    _write_json(request.out / "certification.json", cert)
    _write_json(request.out / "environment.json", environment(request, report))
    (request.out / "REPRODUCE.md").write_text(_reproduce(request, runs), encoding="utf-8")
    with (request.out / "report.md").open("a", encoding="utf-8") as md:
        md.write(_render_certification(cert))
    (request.out / "artifacts").mkdir(exist_ok=True)
    scrub(request.out)
    return cert


def _empty_report(request: CertifyRequest) -> dict[str, Any]:
    release = get_istio_release(request.istio)
    return {
        "meshconform": __version__,
        "istio": {"version": release.release, "build": None},
        "kubernetes": None,
        "cluster": None,
        "mode": list(request.modes),
        "tier": [],
        "product": request.product,
        "claims": [],
        "summary": {},
        "timings": {},
    }


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def scrub(bundle: Path) -> None:
    """Redact every text file in the bundle in place (the last line of defence)."""
    for path in sorted(bundle.rglob("*")):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        clean = redact(text)
        if clean != text:
            path.write_text(clean, encoding="utf-8")
