"""The ONE registry of static checks: the pytest static suites and ``meshconform static``
(with and without ``--product``) read it, so they run the same evaluators."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest

from meshconform import paths
from meshconform.claims import get_catalog
from meshconform.cli import main
from meshconform.products import get_source, known_products
from meshconform.static import evaluate
from meshconform.static.facts import STATIC_CLAIMS
from meshconform.static.istioctl import Istioctl
from meshconform.static.registry import core_checks, find, product_checks, static_checks
from tests.static.conftest import TEST_ISTIO


def test_core_registry_is_every_static_claim_with_its_deciding_function() -> None:
    checks = core_checks()
    assert set(checks) == set(STATIC_CLAIMS)
    for cid, check in checks.items():
        assert check.product is None
        assert check.facts == "StaticFacts"
        module, _, name = check.decides.rpartition(".")
        assert module == evaluate.__name__, check.decides
        assert inspect.isfunction(getattr(evaluate, name)), check.decides
        for relpath in check.manifests:
            assert (paths.fixtures_dir() / relpath).is_file(), (cid, relpath)
    assert checks["job-completes"].manifests == ("workloads/job.yaml",)


@pytest.mark.parametrize("product", known_products())
def test_product_registry_is_the_recipes_checks(product: str) -> None:
    checks = product_checks(product)
    assert {cid: c.evaluate for cid, c in checks.items()} == dict(
        get_source(product).static_checks)
    for check in checks.values():
        assert check.product == product
        assert check.facts == "ProductFacts"
        assert check.manifests, check
        assert find(check.claim) == check
    assert static_checks(product) == checks


def _static_suite_checks() -> list[tuple[Path, ast.FunctionDef, str]]:
    found = []
    for path in sorted((paths.repo_root() / "suites").rglob("test_*_static.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found += [
                    (path, node, ast.literal_eval(dec.args[0]))
                    for dec in node.decorator_list
                    if isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "claim"
                ]
    return found


def test_every_static_suite_check_runs_its_registry_entry() -> None:
    """A static check's body is ``static_check()`` or ``product_check()``: the evaluator is
    the registry's, never a second binding in the suite."""
    checks = _static_suite_checks()
    assert len(checks) > 20
    for path, node, claim_id in checks:
        body = [s for s in node.body if not (isinstance(s, ast.Expr)
                                              and isinstance(s.value, ast.Constant))]
        assert [ast.unparse(s) for s in body] in (["static_check()"], ["product_check()"]), (
            f"{path.name}::{node.name}")
        assert find(claim_id) is not None, claim_id
    assert "meshconform.static.evaluate" not in "".join(p.read_text() for p, _, _ in checks)


def test_every_registered_claim_has_a_static_suite_check() -> None:
    bound = {claim_id for _, _, claim_id in _static_suite_checks()}
    registered = set(core_checks())
    for product in known_products():
        registered |= set(product_checks(product))
    assert registered == bound


def _report(report_dir: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((report_dir / "report.json").read_text("utf-8"))
    return loaded


@pytest.mark.parametrize("product", [None, "testkube"])
def test_meshconform_static_rows_are_the_registrys_claims(
    product: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without an istioctl every claim is an ERROR row: exactly the registry's claims."""
    missing = tmp_path / "no-istioctl"
    argv = ["static", "--istio-version", TEST_ISTIO, "--mesh-mode", "sidecar",
            "--istioctl", str(missing), "--report-dir", str(tmp_path / "r"), "--format", "json"]
    if product:
        argv += ["--product", product]
    assert main(argv) == 1
    capsys.readouterr()
    claims = _report(tmp_path / "r")["claims"]
    assert isinstance(claims, list)
    assert {c["id"] for c in claims} == set(static_checks(product))
    for row in claims:
        assert (row["tier"], row["verdict"]) == ("static", "error"), row
        assert f"istioctl given by --istioctl ({missing}) is not an executable file" in \
            row["evidence"]


def test_meshconform_static_product_with_the_real_istioctl(
    istioctl: Istioctl, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``meshconform static --product P --istioctl PATH``: the registry's checks run with
    that istioctl, every claim concluded as the catalog expects."""
    argv = ["static", "--istio-version", TEST_ISTIO, "--mesh-mode", "native-sidecar",
            "--product", "speedscale", "--istioctl", str(istioctl.path),
            "--report-dir", str(tmp_path / "r"), "--format", "json"]
    code = main(argv)
    capsys.readouterr()
    report = _report(tmp_path / "r")
    claims = report["claims"]
    assert isinstance(claims, list)
    assert {c["id"] for c in claims} == set(product_checks("speedscale"))
    assert code == 0, claims
    build = f"{TEST_ISTIO}: istioctl {TEST_ISTIO} via option --istioctl"
    assert report["istio"] == {"version": TEST_ISTIO, "build": build}
    assert all(get_catalog()[c["id"]].product == "speedscale" for c in claims)
