"""The plan: which checks a run would execute, found by pytest's own collection.

``meshconform plan`` and ``pytest --collect-only`` cannot disagree: the plan IS a
collection run of ``suites/`` with the same options, observed from inside.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from meshconform import paths
from meshconform.claims import ANY_MODE, get_catalog
from meshconform.errors import UsageError
from meshconform.products.recipes import ProductRecipe


@dataclass(frozen=True)
class PlannedCheck:
    nodeid: str
    claim: str
    tier: str
    mode: str
    istio_version: str | None
    skip: str | None


class _Collector:
    def __init__(self) -> None:
        self.checks: list[PlannedCheck] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from meshconform.plugin.matrix import (  # noqa: PLC0415 - needs a configured plugin
            item_claim_id,
            item_mode_name,
            item_tier,
        )

        for item in session.items:
            claim_id, tier, mode = item_claim_id(item), item_tier(item), item_mode_name(item)
            if claim_id is None or tier is None or mode is None:
                continue
            skip = item.get_closest_marker("skip")
            callspec = getattr(item, "callspec", None)
            release = callspec.params.get("istio_release") if callspec else None
            self.checks.append(
                PlannedCheck(
                    nodeid=item.nodeid,
                    claim=claim_id,
                    tier=tier,
                    mode=mode,
                    istio_version=getattr(release, "minor", None),
                    skip=str(skip.kwargs.get("reason", "")) if skip else None,
                )
            )


def collect_plan(args: Sequence[str]) -> list[PlannedCheck]:
    """Collect ``suites/`` with pytest options ``args``; raise UsageError on bad input."""
    collector = _Collector()
    suites = str(paths.repo_root() / "suites")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = pytest.main(
            [suites, "--collect-only", "-q", "-p", "no:cacheprovider", *args], plugins=[collector]
        )
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        text = (err.getvalue() + out.getvalue()).strip().splitlines()
        message = next(
            (line for line in text if "meshconform:" in line),
            text[-1] if text else f"pytest exited {code}",
        )
        raise UsageError(
            f"collecting the checks failed: {message.removeprefix('ERROR: ')}",
            "Fix the options above and run again",
        )
    return collector.checks


def plan_as_json(checks: Sequence[PlannedCheck]) -> dict[str, Any]:
    return {"checks": [c.__dict__ for c in checks]}


def render_plan(checks: Sequence[PlannedCheck], modes: Sequence[str]) -> str:
    """Per mode: each claim with its expectation and the tiers whose checks would run;
    mode-independent checks (run once for all modes) under ``any``."""
    catalog = get_catalog()
    lines: list[str] = []
    extra = [ANY_MODE] if any(c.mode == ANY_MODE for c in checks) else []
    for mode in [*modes, *extra]:
        mine = [c for c in checks if c.mode == mode]
        run = [c for c in mine if c.skip is None]
        lines.append(f"{mode}: {len(run)} checks to run, {len(mine) - len(run)} skipped")
        for claim_id, claim in catalog.items():
            rows = [c for c in mine if c.claim == claim_id]
            if not rows:
                continue
            expectation = claim.expectation(mode).outcome
            tiers = sorted({c.tier for c in rows if c.skip is None})
            if tiers:
                lines.append(f"  {claim_id:36} expect {expectation!s:7} tiers: {', '.join(tiers)}")
            else:
                lines.append(f"  {claim_id:36} skipped: {rows[0].skip}")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- product x mode


@dataclass(frozen=True)
class ProductCell:
    """One product in one mode on one Istio release: can the suite check it, and how much."""

    product: str
    mode: str
    istio_version: str
    status: str  # "supported" | "unsupported" | "n/a"
    reason: str
    claims: int  # the product's claims that apply in the mode
    static_checks: int  # of which the recipe has static evaluators for
    live: str  # whether the live tier can install it, and what it needs


def _live_note(recipe: ProductRecipe) -> str:
    install = recipe.install
    if install.unsupported or install.method == "none":
        return "live: not installable (" + install.unsupported.split(",")[0].strip() + ")"
    needs = [c.env for c in install.credentials]
    return "live: " + (f"needs {', '.join(needs)}" if needs else "installable")


def product_matrix(modes: Sequence[str], istio_versions: Sequence[str]) -> list[ProductCell]:
    """Every known product (built-in or installed recipe) x mode x Istio release."""
    from meshconform.products import get_source, known_products  # noqa: PLC0415
    from meshconform.products.recipes import load_recipe  # noqa: PLC0415 - recipes load lazily

    catalog = get_catalog()
    cells: list[ProductCell] = []
    for name in known_products():
        recipe = load_recipe(name)
        checks = get_source(name).static_checks
        live = _live_note(recipe)
        for version in istio_versions:
            supported = recipe.install.supports_istio(version)
            low, _, high = recipe.install.istio_versions.partition("-")
            for mode in modes:
                applies = [c for c in recipe.claims if catalog[c].applies_to(mode)]
                if not supported:
                    status, reason = "unsupported", f"needs Istio {low}\u2013{high or low}"
                elif not applies:
                    notes = {catalog[c].expect[mode].note for c in recipe.claims}
                    status, reason = "n/a", "; ".join(sorted(notes))
                else:
                    status, reason = "supported", ""
                cells.append(
                    ProductCell(
                        name,
                        mode,
                        version,
                        status,
                        reason,
                        len(applies),
                        len([c for c in applies if c in checks]),
                        live,
                    )
                )
    return cells


def render_product_matrix(cells: Sequence[ProductCell], modes: Sequence[str]) -> str:
    """A Markdown table per Istio release: product rows, mode columns."""
    lines: list[str] = []
    for version in dict.fromkeys(c.istio_version for c in cells):
        mine = [c for c in cells if c.istio_version == version]
        lines += [
            f"products x modes, Istio {version}",
            "",
            "| product | " + " | ".join(modes) + " | live tier |",
            "| --- | " + " | ".join("---" for _ in modes) + " | --- |",
        ]
        for product in dict.fromkeys(c.product for c in mine):
            row = {c.mode: c for c in mine if c.product == product}
            texts = []
            for mode in modes:
                cell = row[mode]
                if cell.status == "supported":
                    noun = "claim" if cell.claims == 1 else "claims"
                    texts.append(f"{cell.claims} {noun} ({cell.static_checks} static)")
                else:
                    texts.append(f"{cell.status}: {cell.reason}")
            live = next(iter(row.values())).live
            lines.append(f"| {product} | " + " | ".join(texts) + f" | {live} |")
        lines.append("")
    return "\n".join(lines)
