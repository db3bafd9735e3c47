"""The ONE registry of static checks: claim id -> the evaluator that decides it.

Both runners read it: the pytest static suites (fixtures ``static_check`` and
``product_check``) and ``meshconform static`` (:mod:`meshconform.static.run`), with or
without ``--product``. A core check evaluates :class:`~meshconform.static.facts.StaticFacts`
(the mode's install and the reference workloads' admitted pods); a product check evaluates
:class:`~meshconform.products.checks.ProductFacts` (its recipe registers the evaluators).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshconform import paths
from meshconform.claims import get_catalog
from meshconform.static import evaluate as ev
from meshconform.static.evaluate import Evaluation
from meshconform.static.facts import STATIC_CLAIMS
from meshconform.static.workloads import REFERENCE


@dataclass(frozen=True)
class StaticCheck:
    """One claim's static check."""

    claim: str
    #: ``(facts) -> Evaluation``: StaticFacts for a core check, ProductFacts for a product's
    evaluate: Callable[[Any], Evaluation]
    #: the dotted name of the function that decides (for ``meshconform plan --claim``)
    decides: str
    #: None for a core check, else the product whose recipe registers it
    product: str | None = None
    #: core checks: the reference workloads whose admitted pods it reads
    shapes: tuple[str, ...] = ()
    #: the files (under fixtures/) it renders or admits: a core check's reference
    #: workloads, a product check's documented workloads and Istio resources
    manifests: tuple[str, ...] = ()

    @property
    def facts(self) -> str:
        return "ProductFacts" if self.product else "StaticFacts"


def _reference_manifests(shapes: tuple[str, ...]) -> tuple[str, ...]:
    found: list[str] = []
    for key in shapes:
        workload = REFERENCE.get("hold-app" if key == "hold-mesh-wide" else key)
        if workload is not None and str(workload) not in found:
            found.append(str(workload))
    return tuple(found)


def _under_fixtures(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(paths.fixtures_dir().resolve()))
    except ValueError:
        return str(path)


def _decides(evaluate: Callable[..., Any]) -> str:
    """The evaluator's dotted name; for a core entry (a lambda over StaticFacts) the
    ``meshconform.static.evaluate`` function it calls, read from its code so it cannot drift."""
    if getattr(evaluate, "__name__", "<lambda>") != "<lambda>":
        return f"{evaluate.__module__}.{evaluate.__qualname__}"
    code = getattr(evaluate, "__code__", None)
    names = code.co_names if code is not None else ()
    called = [
        n
        for n in names
        if inspect.isfunction(getattr(ev, n, None)) and getattr(ev, n).__module__ == ev.__name__
    ]
    if called:
        return ", ".join(f"{ev.__name__}.{n}" for n in called)
    return f"{evaluate.__module__}.{evaluate.__qualname__}"


def core_checks() -> dict[str, StaticCheck]:
    """The suite's own static checks, in catalog order."""
    checks = {}
    for cid in get_catalog():
        if cid in STATIC_CLAIMS:
            shapes, evaluate = STATIC_CLAIMS[cid]
            checks[cid] = StaticCheck(
                cid, evaluate, _decides(evaluate), None, shapes, _reference_manifests(shapes)
            )
    return checks


def product_checks(product: str) -> dict[str, StaticCheck]:
    """The static checks the product's recipe registers (built-in or an entry point)."""
    from meshconform.products import get_source  # noqa: PLC0415 - recipes load lazily
    from meshconform.products.recipes import load_recipe  # noqa: PLC0415

    recipe = load_recipe(product)
    files = tuple(
        dict.fromkeys(
            _under_fixtures(p)
            for p in [*(w.path for w in recipe.workloads), *recipe.istio_resources]
        )
    )
    return {
        cid: StaticCheck(cid, evaluate, _decides(evaluate), product, (), files)
        for cid, evaluate in get_source(product).static_checks.items()
    }


def static_checks(product: str | None = None) -> dict[str, StaticCheck]:
    """The core checks, or with ``product`` that product's."""
    return core_checks() if product is None else product_checks(product)


def find(claim_id: str) -> StaticCheck | None:
    """The static check of a claim (core or any known product's), or None."""
    claim = get_catalog().get(claim_id)
    if claim is None:
        return None
    return static_checks(claim.product).get(claim_id)


def get_static_check(claim_id: str) -> StaticCheck:
    """The static check of a claim, or raise LookupError naming the registry."""
    found = find(claim_id)
    if found is None:
        raise LookupError(
            f"claim {claim_id} has no static check in the registry "
            "(meshconform.static.facts.STATIC_CLAIMS or its product's recipe)"
        )
    return found
