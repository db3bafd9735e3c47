"""Fixtures the product checks share, on the static tier's fixtures (plugin/static.py).

``istioctl_for`` is the static tier's istioctl of the run's release (missing: the check
ERRORs with the reason). ``product_install`` is the mode's mesh with the product's mesh
requirements, ``admitted`` injects a product workload into it, ``product_analyze`` runs
``istioctl analyze`` over the product's Istio resources.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from meshconform.modes import Mode
from meshconform.options import RunOptions
from meshconform.product_recipes import ProductRecipe, WorkloadShape
from meshconform.product_static import product_install as generate_product_install
from meshconform.static.analyze import AnalyzeResult, analyze, resources_of
from meshconform.static.inject import PodShape, admit_objects
from meshconform.static.install import StaticInstall
from meshconform.static.istioctl import Istioctl


@pytest.fixture(scope="session")
def product_install(istioctl_for: Istioctl, mode: Mode,
                    product_recipe: ProductRecipe) -> StaticInstall:
    """``istioctl manifest generate`` of the mode plus the recipe's ``mesh_requirements``."""
    return generate_product_install(istioctl_for, mode, product_recipe)


@pytest.fixture
def admitted(product_install: StaticInstall, product_recipe: ProductRecipe, mode: Mode,
             run_options: RunOptions) -> Callable[[WorkloadShape], list[PodShape]]:
    """``admitted(shape)``: its pods, rendered with the mode's values, admitted into an
    enrolled namespace of the mode's mesh (webhook selectors, then kube-inject)."""

    def _admit(shape: WorkloadShape) -> list[PodShape]:
        objects = product_recipe.render_workload(shape, mode.name)
        return admit_objects(product_install, shape.path.name, objects, run_options.kubernetes)

    return _admit


@pytest.fixture
def product_analyze(istioctl_for: Istioctl, product_recipe: ProductRecipe,
                    tmp_path: Path) -> AnalyzeResult:
    """``istioctl analyze --use-kube=false --all-namespaces`` of the product's Istio resources."""
    return analyze(istioctl_for, tmp_path, resources_of(product_recipe.istio_resources))
