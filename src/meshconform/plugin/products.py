"""Product fixtures: the recipe chosen by ``--product`` and its live install, once per cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshconform.clusters import Cluster
from meshconform.modes import Mode
from meshconform.options import RunOptions
from meshconform.product_recipes import InstallResult, ProductRecipe, install_product, load_recipe
from meshconform.tools import ToolResolver
from meshconform.waiters import Timeouts

INSTALLS = pytest.StashKey[dict[str, InstallResult]]()


@pytest.fixture(scope="session")
def product(run_options: RunOptions) -> ProductRecipe | None:
    """The recipe of ``--product`` (checked once), or None when no product was chosen."""
    if run_options.product is None:
        return None
    return load_recipe(run_options.product)


@pytest.fixture(scope="session")
def product_recipe(product: ProductRecipe | None) -> ProductRecipe:
    """The chosen product's recipe; product checks run only with --product (plugin skips)."""
    if product is None:
        raise pytest.UsageError("a product check ran without --product")
    return product


@pytest.fixture
def installed_product(  # noqa: PLR0917 - pytest fixtures take fixtures positionally
    request: pytest.FixtureRequest,
    cluster: Cluster,
    mode: Mode,
    product_recipe: ProductRecipe,
    run_options: RunOptions,
    timeouts: Timeouts,
) -> InstallResult:
    """The product installed into the mode's cluster with the mode's values (once per cluster).

    The duration is recorded as the ``product:<mode>`` phase of the report.
    """
    from meshconform.plugin import live  # noqa: PLC0415 - live tier only

    installs = request.config.stash.setdefault(INSTALLS, {})
    name = cluster.name
    if name not in installs:
        helm: Path | None = None
        if product_recipe.install.method == "helm":
            helm = ToolResolver(run_options.binaries).path("helm")
        result = install_product(
            product_recipe,
            mode.name,
            cluster.kube,
            helm,
            timeouts.product_install,
            enroll_labels=mode.namespace_labels,
        )
        installs[name] = result
        state = request.config.stash.get(live.STATE, None)
        if state is not None:
            state.timings[f"product:{mode.name}"] = result.duration_s
    return installs[name]
