"""The four built-in product recipes, registered as ``meshconform.products`` entry points
exactly like a vendor's (pyproject.toml); their data is fixtures/products/<name>/."""

from __future__ import annotations

from meshconform import paths
from meshconform.products import RecipeSource


def _builtin(name: str) -> RecipeSource:
    from meshconform.products.checks import BUILTIN_CHECKS  # noqa: PLC0415 - istioctl-side code

    return RecipeSource(name, paths.fixtures_dir() / "products" / name, BUILTIN_CHECKS[name])


def deploykf() -> RecipeSource:
    return _builtin("deploykf")


def kubeflow_istio() -> RecipeSource:
    return _builtin("kubeflow-istio")


def speedscale() -> RecipeSource:
    return _builtin("speedscale")


def testkube() -> RecipeSource:
    return _builtin("testkube")
