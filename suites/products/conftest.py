"""Fixtures the product checks share, on the static tier's fixtures (plugin/static.py).

``istioctl_for`` is the static tier's istioctl of the run's release (missing: the check
ERRORs with the reason). ``product_facts`` is what the real istioctl says about the chosen
product in the mode (meshconform.products.checks.ProductFacts); ``product_check(claim)`` runs
the product's registered static check for that claim, the same evaluator
``meshconform static --product`` runs. ``product_install``, ``admitted`` and
``product_analyze`` give the pieces to checks that need them directly.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.modes import Mode
from meshconform.options import RunOptions
from meshconform.products.checks import ProductFacts
from meshconform.products.recipes import ProductRecipe, WorkloadShape
from meshconform.static.analyze import AnalyzeResult
from meshconform.static.inject import PodShape
from meshconform.static.install import StaticInstall
from meshconform.static.istioctl import Istioctl
from meshconform.static.registry import product_checks

_FACTS: dict[tuple[str, str, str], ProductFacts] = {}


@pytest.fixture
def product_facts(istioctl_for: Istioctl, mode: Mode, product_recipe: ProductRecipe,
                  run_options: RunOptions) -> ProductFacts:
    """The product in the mode's mesh, computed once per (istioctl, mode, product)."""
    key = (istioctl_for.fingerprint, mode.name, product_recipe.name)
    if key not in _FACTS:
        _FACTS[key] = ProductFacts(istioctl_for, mode, product_recipe, run_options.kubernetes)
    return _FACTS[key]


@pytest.fixture
def product_check(product_facts: ProductFacts,
                  claim: ClaimCheck) -> Callable[[], None]:
    """``product_check()``: evaluate the check's claim with the product's registered static
    check and conclude it."""

    def run() -> None:
        check = product_checks(product_facts.recipe.name)[claim.claim.id]
        result = check.evaluate(product_facts)
        claim.conclude(result.outcome, result.evidence)

    return run


@pytest.fixture
def product_install(product_facts: ProductFacts) -> StaticInstall:
    """``istioctl manifest generate`` of the mode plus the recipe's ``mesh_requirements``."""
    return product_facts.install


@pytest.fixture
def admitted(product_facts: ProductFacts) -> Callable[[WorkloadShape], list[PodShape]]:
    """``admitted(shape)``: its pods, rendered with the mode's values, admitted into an
    enrolled namespace of the mode's mesh (webhook selectors, then kube-inject)."""
    return product_facts.admitted


@pytest.fixture
def product_analyze(product_facts: ProductFacts) -> AnalyzeResult:
    """``istioctl analyze --use-kube=false --all-namespaces`` of the product's Istio resources."""
    return product_facts.analysis
