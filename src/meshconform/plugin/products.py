"""Product fixtures: the recipe chosen by ``--product`` and its live install, once per cluster."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from meshconform.errors import ProvisioningError
from meshconform.live.clusters import Cluster
from meshconform.live.kubeapi import KubeAPI
from meshconform.live.tools import ToolResolver
from meshconform.modes import Mode
from meshconform.options import RunOptions
from meshconform.plugin.results import phase_timings
from meshconform.products.recipes import (
    InstallResult,
    ProductRecipe,
    install_product,
    load_recipe,
    uninstall_product,
)
from meshconform.setups import Remembered
from meshconform.wait import Timeouts

INSTALLS = pytest.StashKey[Remembered]()


@dataclass
class ProductInstalls:
    """The product installs of this process, removed when the session ends (unless --keep):
    a product must not leak into later runs on the same cluster (``--reuse-cluster``)."""

    done: dict[str, tuple[ProductRecipe, KubeAPI, Path | None]] = field(default_factory=dict)

    def remove_all(self, timeout: float) -> None:
        problems = []
        for name, (recipe, kube, helm) in reversed(list(self.done.items())):
            if kube.closed:  # its cluster was released: gone, or kept with what it holds
                continue
            try:
                uninstall_product(recipe, kube, helm, timeout)
            except (ProvisioningError, OSError, subprocess.TimeoutExpired) as error:
                problems.append(f"{name}: {error}")
        self.done.clear()
        if problems:
            raise ProvisioningError(
                "removing the product installs failed (the record stays in the cluster, "
                "so later runs refuse it): " + "; ".join(problems)
            )


@pytest.fixture(scope="session")
def product_installs(run_options: RunOptions, timeouts: Timeouts) -> Iterator[ProductInstalls]:
    installs = ProductInstalls()
    yield installs
    if not run_options.keep_namespaces:
        installs.remove_all(timeouts.product_install)


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
    product_installs: ProductInstalls,
) -> InstallResult:
    """The product installed into the mode's cluster with the mode's values (once per cluster).

    The duration is recorded as the ``product:<mode>`` phase of the report. The install
    is recorded in the cluster and removed at the end of the session (unless --keep).
    """
    installs = request.config.stash.setdefault(INSTALLS, Remembered())
    name = cluster.name

    def create() -> InstallResult:
        helm: Path | None = None
        if product_recipe.install.method == "helm":
            helm = ToolResolver(run_options.binaries).path("helm")
        product_installs.done[name] = (product_recipe, cluster.kube, helm)
        result = install_product(
            product_recipe,
            mode.name,
            cluster.kube,
            helm,
            timeouts.product_install,
            enroll_labels=mode.namespace_labels,
        )
        phase_timings(request.config)[f"product:{mode.name}"] = result.duration_s
        return result

    # a failed install is remembered: every product check of the cluster ends error at once
    installed: InstallResult = installs.get(
        name, f"product {product_recipe.name} on {name}", create
    )
    return installed
