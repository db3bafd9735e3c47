"""House rules for checks, enforced as tests (STYLE.md rules 1, 3, 5, 10).

Every check in suites/: bound to a known claim, exactly one tier marker, an area
marker, a docstring whose first line is an RFC 2119 sentence, and no skip or
sleep of its own. Every claim of the catalog has at least one live check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshconform import paths
from meshconform.claims import builtin_claim_ids, get_catalog

TIERS = {"static", "dataplane", "live"}
AREAS = {"workloads", "egress", "gateway", "security"}
RFC2119 = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY", "REQUIRED", "SHALL")


@dataclass(frozen=True)
class Check:
    path: Path
    node: ast.FunctionDef
    markers: dict[str, list[ast.expr]]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(paths.repo_root())}::{self.node.name}"


def _marker(decorator: ast.expr) -> tuple[str, list[ast.expr]] | None:
    call_args: list[ast.expr] = []
    target = decorator
    if isinstance(target, ast.Call):
        call_args = list(target.args)
        target = target.func
    if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute)
            and target.value.attr == "mark"):
        return target.attr, call_args
    return None


def checks() -> Iterator[Check]:
    for path in sorted((paths.repo_root() / "suites").rglob("test_*.py")):
        tree = ast.parse(path.read_text(), str(path))
        module_markers: dict[str, list[ast.expr]] = {}
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets
            ):
                values = stmt.value.elts if isinstance(stmt.value, ast.List) else [stmt.value]
                for value in values:
                    found = _marker(value)
                    if found:
                        module_markers[found[0]] = found[1]
        for stmt in tree.body:
            if isinstance(stmt, ast.FunctionDef) and stmt.name.startswith("test_"):
                markers = dict(module_markers)
                for decorator in stmt.decorator_list:
                    found = _marker(decorator)
                    if found:
                        markers[found[0]] = found[1]
                yield Check(path, stmt, markers)


ALL = list(checks())


def test_the_suite_has_checks() -> None:
    assert len(ALL) >= len(builtin_claim_ids())


@pytest.mark.parametrize("check", ALL, ids=lambda c: c.where)
def test_check_follows_the_house_rules(check: Check) -> None:
    claim = check.markers.get("claim")
    assert claim, f"{check.where}: no claim marker"
    assert isinstance(claim[0], ast.Constant), f"{check.where}: claim id must be a literal"
    assert claim[0].value in get_catalog(), f"{check.where}: unknown claim {claim[0].value}"
    tiers = TIERS & set(check.markers)
    assert len(tiers) == 1, f"{check.where}: needs exactly one tier marker, has {tiers}"
    assert AREAS & set(check.markers), f"{check.where}: needs an area marker of {AREAS}"
    doc = ast.get_docstring(check.node)
    assert doc, f"{check.where}: the docstring states the claim"
    assert any(word in doc.splitlines()[0] for word in RFC2119), (
        f"{check.where}: the docstring's first line is the claim as an RFC 2119 sentence")
    for node in ast.walk(check.node):
        if isinstance(node, ast.Attribute) and node.attr in ("skip", "sleep", "xfail"):
            owner = node.value.id if isinstance(node.value, ast.Name) else ""
            assert owner not in ("pytest", "time"), (
                f"{check.where}: calls {owner}.{node.attr}; skips are central, waits use waiters")


def _claims_checked(tier: str | None = None) -> set[str]:
    return {c.markers["claim"][0].value for c in ALL  # type: ignore[attr-defined]
            if "claim" in c.markers and (tier is None or tier in c.markers)}


def test_every_core_claim_has_a_live_check() -> None:
    core = {cid for cid, claim in get_catalog().items() if claim.product is None}
    missing = sorted(core - _claims_checked("live"))
    assert not missing, f"core claims without a live check: {missing}"


def test_every_claim_has_a_check() -> None:
    """Every claim of claims.yaml; an installed recipe's claims are checked by its own
    evaluators (meshconform static --product), not by suites/."""
    missing = sorted(builtin_claim_ids() - _claims_checked())
    assert not missing, f"claims that no check verifies: {missing}"
