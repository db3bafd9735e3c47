"""Run every static claim for (Istio versions x modes) and return report rows.

Used by ``meshconform static`` and the benchmark. The checks come from the static
registry (:mod:`meshconform.static.registry`), the same one the pytest static suites
read through the plugin's ``static_check`` and ``product_check`` fixtures.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from meshconform.claimcheck import ClaimCheck, ClaimMismatch
from meshconform.claims import Outcome, Verdict, get_catalog
from meshconform.errors import ToolMissingError
from meshconform.modes import Mode
from meshconform.report import ClaimResult
from meshconform.static.analyze import analyze, istio_resources
from meshconform.static.evaluate import Evaluation
from meshconform.static.facts import StaticFacts
from meshconform.static.istioctl import Istioctl, IstioctlError, get_istioctl
from meshconform.static.registry import core_checks, product_checks
from meshconform.static.schema import validate_install, validate_objects
from meshconform.versions import DEFAULT_KUBERNETES, IstioRelease

F = TypeVar("F")

#: report rows for the static tier's own preconditions (not catalog claims)
SCHEMA_ROW = "static-install-schema"
ANALYZE_ROW = "static-istio-analyze"
#: every product workload shape admitted in the mode (kube-inject must accept each)
PRODUCTS_ROW = "static-product-workloads"


@dataclass(frozen=True)
class StaticRun:
    results: list[ClaimResult]
    builds: dict[str, str]


def _claim_rows(facts: StaticFacts, version: str) -> list[ClaimResult]:
    checks = {cid: check.evaluate for cid, check in core_checks().items()}
    return evaluate_rows(checks, facts, facts.mode, version, "static.run")


def evaluate_rows(
    checks: Mapping[str, Callable[[F], Evaluation]],
    facts: F,
    mode: Mode,
    version: str,
    origin: str,
) -> list[ClaimResult]:
    """One report row per claim: SKIP where it does not apply, else its evaluator's verdict."""
    rows: list[ClaimResult] = []
    for claim_id, evaluator in checks.items():
        claim = get_catalog()[claim_id]
        check = ClaimCheck(claim, mode.name, "static", version)
        start = time.perf_counter()
        if not claim.applies_to(mode.name):
            rows.append(
                ClaimResult(
                    claim_id,
                    mode.name,
                    "static",
                    Verdict.SKIP,
                    str(check.expected),
                    None,
                    claim.expect[mode.name].note,
                    0.0,
                    version,
                    origin,
                )
            )
            continue
        try:
            evaluation = evaluator(facts)
            check.conclude(evaluation.outcome, evaluation.evidence)
            verdict = Verdict.PASS
        except ClaimMismatch:
            verdict = Verdict.FAIL
        except (IstioctlError, LookupError, OSError) as error:
            verdict = Verdict.ERROR
            check.note(f"{type(error).__name__}: {error}")
        rows.append(
            ClaimResult(
                claim_id,
                mode.name,
                "static",
                verdict,
                str(check.expected),
                str(check.observed) if check.observed else None,
                "\n".join(check.evidence),
                time.perf_counter() - start,
                version,
                origin,
            )
        )
    return rows


def _precondition_rows(facts: StaticFacts, version: str) -> list[ClaimResult]:
    start = time.perf_counter()
    problems = validate_install(facts.install)
    resources = istio_resources()
    problems += validate_objects(resources.objects, facts.install, origin="fixtures")
    schema = ClaimResult(
        SCHEMA_ROW,
        facts.mode.name,
        "static",
        Verdict.FAIL if problems else Verdict.PASS,
        str(Outcome.HOLDS),
        str(Outcome.BROKEN if problems else Outcome.HOLDS),
        "\n".join(problems)
        or f"{len(facts.install.objects)} install objects "
        f"and {len(resources.objects)} suite Istio resources are valid",
        time.perf_counter() - start,
        version,
        "static.schema",
    )
    start = time.perf_counter()
    result = analyze(facts.istioctl, facts.install.workdir, resources)
    analyzed = ClaimResult(
        ANALYZE_ROW,
        facts.mode.name,
        "static",
        Verdict.FAIL if result.problems else Verdict.PASS,
        str(Outcome.HOLDS),
        str(Outcome.BROKEN if result.problems else Outcome.HOLDS),
        "\n".join([*result.problems, *result.warnings])
        or f"istioctl analyze: no issues in {len(result.files)} files",
        time.perf_counter() - start,
        version,
        "static.analyze",
    )
    start = time.perf_counter()
    shapes = facts.product_shapes()
    products = ClaimResult(
        PRODUCTS_ROW,
        facts.mode.name,
        "static",
        Verdict.PASS,
        str(Outcome.HOLDS),
        str(Outcome.HOLDS),
        "\n".join(s.describe() for s in shapes) or "no product workloads under fixtures/products/",
        time.perf_counter() - start,
        version,
        "static.products",
    )
    return [schema, analyzed, products]


def run_mode(
    istioctl: Istioctl,
    mode: Mode,
    extra: Sequence[Path] = (),
    *,
    replace_overlay: bool = False,
    kubernetes: str = DEFAULT_KUBERNETES,
) -> list[ClaimResult]:
    """Every static row of one (istioctl, mode). An istioctl failure makes ERROR rows that
    carry istioctl's own message; a substituted source build is named in every row."""
    facts = StaticFacts(istioctl, mode, tuple(extra), replace_overlay, kubernetes)
    version = istioctl.release.minor
    start = time.perf_counter()
    try:
        facts.prepare(facts.needed_shapes())
        rows = _claim_rows(facts, version) + _precondition_rows(facts, version)
    except (IstioctlError, LookupError, OSError) as error:
        rows = _error_rows(mode, version, f"{type(error).__name__}: {error}")
        for row in rows:
            row.duration_s = time.perf_counter() - start
    if istioctl.substituted:
        for row in rows:
            row.evidence = f"{row.evidence}\n{istioctl.substituted}".strip()
    return rows


def _error_rows(mode: Mode, version: str, reason: str) -> list[ClaimResult]:
    """ERROR for every static claim and precondition row of (version, mode), with ``reason``."""
    catalog = get_catalog()
    rows = [
        ClaimResult(
            cid,
            mode.name,
            "static",
            Verdict.ERROR if catalog[cid].applies_to(mode.name) else Verdict.SKIP,
            str(catalog[cid].expect[mode.name].outcome),
            None,
            reason if catalog[cid].applies_to(mode.name) else catalog[cid].expect[mode.name].note,
            0.0,
            version,
            "static.run",
        )
        for cid in core_checks()
    ]
    rows += [
        ClaimResult(
            row,
            mode.name,
            "static",
            Verdict.ERROR,
            str(Outcome.HOLDS),
            None,
            reason,
            0.0,
            version,
            check,
        )
        for row, check in (
            (SCHEMA_ROW, "static.schema"),
            (ANALYZE_ROW, "static.analyze"),
            (PRODUCTS_ROW, "static.products"),
        )
    ]
    return rows


def _obtain_istioctls(
    releases: Sequence[IstioRelease],
    modes: Sequence[Mode],
    claim_ids: Sequence[str],
    origin: str,
    explicit: Path | None,
) -> tuple[list[tuple[Istioctl, Mode]], list[ClaimResult], dict[str, str]]:
    """The istioctl of each release (the one resolver, honouring ``explicit``): a job per
    (istioctl, mode), and for a release without one an ERROR row per claim and mode
    carrying the reason."""
    jobs: list[tuple[Istioctl, Mode]] = []
    rows: list[ClaimResult] = []
    builds: dict[str, str] = {}
    for release in releases:
        try:
            istioctl = get_istioctl(release, explicit=explicit)
        except ToolMissingError as error:
            builds[release.minor] = f"unavailable: {error.problem}"
            rows += [
                ClaimResult(
                    cid,
                    mode.name,
                    "static",
                    Verdict.ERROR,
                    str(get_catalog()[cid].expect[mode.name].outcome),
                    None,
                    str(error),
                    0.0,
                    release.minor,
                    origin,
                )
                for mode in modes
                for cid in claim_ids
            ]
            continue
        builds[release.minor] = istioctl.build
        jobs += [(istioctl, mode) for mode in modes]
    return jobs, rows, builds


def run_static(
    releases: Sequence[IstioRelease],
    modes: Sequence[Mode],
    extra: Sequence[Path] = (),
    *,
    replace_overlay: bool = False,
    kubernetes: str = DEFAULT_KUBERNETES,
    workers: int | None = None,
    istioctl: Path | None = None,
) -> StaticRun:
    """Every static claim for every (release, mode); an unobtainable istioctl is an ERROR row."""
    jobs, results, builds = _obtain_istioctls(
        releases, modes, list(core_checks()), "static.run", istioctl
    )
    with ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:
        for rows in pool.map(
            lambda job: run_mode(
                job[0], job[1], extra, replace_overlay=replace_overlay, kubernetes=kubernetes
            ),
            jobs,
        ):
            results += rows
    return StaticRun(results, builds)


def run_product_static(
    releases: Sequence[IstioRelease],
    modes: Sequence[Mode],
    product: str,
    extra: Sequence[Path] = (),
    *,
    replace_overlay: bool = False,
    kubernetes: str = DEFAULT_KUBERNETES,
    workers: int | None = None,
    istioctl: Path | None = None,
) -> StaticRun:
    """The product's static claims (from the static registry, as the pytest suite runs them)
    for every (release, mode). With ``extra`` files the product's own mesh requirements are
    NOT overlaid: the checks then judge whether that configuration meets them."""
    from meshconform.products.checks import ProductFacts  # noqa: PLC0415 - product side
    from meshconform.products.recipes import load_recipe  # noqa: PLC0415

    recipe = load_recipe(product)
    checks = {cid: check.evaluate for cid, check in product_checks(product).items()}
    jobs, results, builds = _obtain_istioctls(
        releases, modes, list(checks), "static.product", istioctl
    )

    def one(job: tuple[Istioctl, Mode]) -> list[ClaimResult]:
        istioctl, mode = job
        facts = ProductFacts(
            istioctl,
            mode,
            recipe,
            kubernetes,
            extra_config=tuple(extra),
            replace_overlay=replace_overlay,
            with_requirements=not extra,
        )
        rows = evaluate_rows(checks, facts, mode, istioctl.release.minor, "static.product")
        if not recipe.install.supports_istio(istioctl.release.minor):
            note = (
                f"{recipe.name} supports Istio {recipe.install.istio_versions} only; "
                f"checked against {istioctl.release.minor} as asked"
            )
            rows = [dataclasses.replace(r, evidence=f"{note}\n{r.evidence}") for r in rows]
        return rows

    with ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:
        for rows in pool.map(one, jobs):
            results += rows
    return StaticRun(results, builds)
