"""Target products, found through the Python entry point group ``meshconform.products``.

A recipe is a :class:`RecipeSource`: a folder with ``product.yaml`` (how the product installs
in each mode, its documented workloads and Istio resources, its claims), the claims about the
product when they are not in the suite's catalog (``claims_file``, same format as
``claims.yaml``), and its static checks (claim id -> evaluator over
:class:`meshconform.products.checks.ProductFacts`). An entry point names a callable returning
one. The four built-in recipes are registered the same way (``pyproject.toml``); ``BUILTIN``
repeats them so that a source checkout works before its entry points are reinstalled.
See docs/products.md and examples/meshconform-example-recipe/.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from meshconform.errors import UsageError

GROUP = "meshconform.products"


@dataclass(frozen=True)
class RecipeSource:
    """What a recipe package hands to meshconform."""

    name: str
    #: holds product.yaml, and the workloads/ and istio/ files it names
    directory: Path
    #: claim id -> ``(ProductFacts) -> Evaluation``; run by ``meshconform static --product``
    static_checks: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    #: claims about this product, merged into the catalog and checked like claims.yaml
    claims_file: Path | None = None
    #: the distribution that registered it ("meshconform" for the built-ins)
    origin: str = ""


BUILTIN = tuple(
    EntryPoint(name=name, value=f"meshconform.products.builtin:{attr}", group=GROUP)
    for name, attr in (
        ("deploykf", "deploykf"),
        ("kubeflow-istio", "kubeflow_istio"),
        ("speedscale", "speedscale"),
        ("testkube", "testkube"),
    )
)


def _bad(ep: EntryPoint, what: str) -> UsageError:
    return UsageError(
        f"product recipe entry point {ep.name} = {ep.value}: {what}",
        "Fix the recipe package (see docs/products.md) or uninstall it",
    )


def _load(ep: EntryPoint, origin: str) -> RecipeSource:
    try:
        loaded = ep.load()
        source = loaded() if callable(loaded) and not isinstance(loaded, RecipeSource) else loaded
    except Exception as error:  # noqa: BLE001 - a vendor's import error, reported as one line
        raise _bad(ep, f"failed to load ({type(error).__name__}: {error})") from None
    if not isinstance(source, RecipeSource):
        raise _bad(ep, f"returned {type(source).__name__}, not a meshconform RecipeSource")
    if source.name != ep.name:
        raise _bad(ep, f"returned the recipe {source.name!r}, not {ep.name!r}")
    if not (source.directory / "product.yaml").is_file():
        raise _bad(ep, f"{source.directory} has no product.yaml")
    if source.claims_file is not None and not source.claims_file.is_file():
        raise _bad(ep, f"claims_file {source.claims_file} does not exist")
    return RecipeSource(
        source.name, source.directory, source.static_checks, source.claims_file, origin
    )


def _installed() -> list[tuple[EntryPoint, str]]:
    found = []
    for ep in entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        found.append((ep, dist.name if dist is not None else ""))
    return found


@cache
def discover() -> dict[str, RecipeSource]:
    """Every recipe: the built-ins, then each installed entry point (loaded and checked)."""
    chosen: dict[str, tuple[EntryPoint, str]] = {ep.name: (ep, "meshconform") for ep in BUILTIN}
    for ep, dist in _installed():
        known = chosen.get(ep.name)
        if known is not None and known[0].value != ep.value:
            raise _bad(ep, f"a recipe named {ep.name} is already registered by {known[1]}")
        chosen[ep.name] = (ep, dist or "meshconform")
    return {name: _load(ep, origin) for name, (ep, origin) in sorted(chosen.items())}


def clear_cache() -> None:
    """Forget the discovered recipes (after installing one in-process, e.g. in tests)."""
    discover.cache_clear()


def known_products() -> list[str]:
    """Names of the products the suite can check."""
    return sorted(discover())


def get_source(name: str) -> RecipeSource:
    try:
        return discover()[name]
    except KeyError:
        raise UsageError(
            f"unknown product {name!r}",
            f"Use one of: {', '.join(known_products())} (or install a recipe package)",
        ) from None
