"""Recipes from the ``meshconform.products`` entry points: the example package under
examples/ is made visible through a test distribution (a ``.dist-info`` on sys.path, the
way an installed package is found) and run against the real istioctl."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from meshconform import paths, products
from meshconform.claims import CatalogError, get_catalog
from meshconform.cli import main
from meshconform.errors import UsageError
from meshconform.modes import MODES
from meshconform.plan import product_matrix
from meshconform.products.recipes import load_recipe
from meshconform.static.run import run_product_static

EXAMPLE = paths.repo_root() / "examples" / "meshconform-example-recipe"


def _distribution(root: Path, name: str, entry_points: str) -> None:
    info = root / f"{name}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[meshconform.products]\n{entry_points}\n")


def _refresh() -> None:
    products.clear_cache()
    get_catalog.cache_clear()


@pytest.fixture
def example_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The example recipe package, installed for this test only."""
    site = tmp_path / "site"
    _distribution(site, "meshconform_example_recipe",
                  "example-batch = meshconform_example_recipe:recipe")
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    monkeypatch.syspath_prepend(str(site))
    _refresh()
    yield
    sys.modules.pop("meshconform_example_recipe", None)
    monkeypatch.undo()
    _refresh()


def test_builtins_come_through_the_same_api() -> None:
    found = products.discover()
    assert sorted(found) == ["deploykf", "kubeflow-istio", "speedscale", "testkube"]
    for name, source in found.items():
        assert source.directory == paths.fixtures_dir() / "products" / name
        assert source.static_checks, name
        assert set(source.static_checks) <= set(load_recipe(name).claims)


def test_pyproject_registers_the_builtins() -> None:
    import tomllib  # noqa: PLC0415

    data = tomllib.loads((paths.repo_root() / "pyproject.toml").read_text())
    registered = data["project"]["entry-points"]["meshconform.products"]
    assert registered == {ep.name: ep.value for ep in products.BUILTIN}


def test_example_recipe_is_discovered_with_its_claims(example_installed: None) -> None:
    assert "example-batch" in products.known_products()
    recipe = load_recipe("example-batch")
    assert recipe.claims == ("example-batch-job-completes", "example-batch-resources-valid")
    claim = get_catalog()["example-batch-job-completes"]
    assert claim.product == "example-batch"
    assert set(claim.expect) == set(MODES)
    cells = [c for c in product_matrix(list(MODES), ["1.31"]) if c.product == "example-batch"]
    assert [c.status for c in cells] == ["supported"] * len(MODES)


def test_example_recipe_runs_against_real_istioctl(example_installed: None, istioctl,
                                                   tmp_path: Path, capsys) -> None:
    run = run_product_static([istioctl.release], [MODES["sidecar"], MODES["cni-native-sidecar"]],
                             "example-batch")
    verdicts = {(r.id, r.mode): str(r.verdict) for r in run.results}
    assert verdicts == {
        ("example-batch-job-completes", "sidecar"): "pass",
        ("example-batch-resources-valid", "sidecar"): "pass",
        ("example-batch-job-completes", "cni-native-sidecar"): "pass",
        ("example-batch-resources-valid", "cni-native-sidecar"): "pass",
    }, [r.evidence for r in run.results]
    code = main(["static", "--product", "example-batch", "--mesh-mode", "cni",
                 "--istio-version", istioctl.release.minor, "--report-dir", str(tmp_path),
                 "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["product"] == "example-batch"
    assert {r["id"] for r in report["claims"]} == {"example-batch-job-completes",
                                                   "example-batch-resources-valid"}


def test_example_check_fails_without_the_documented_opt_out(example_installed: None,
                                                             istioctl) -> None:
    """Fault: the guide's annotation dropped in a classic mode -> the Job hangs on its proxy."""
    from meshconform_example_recipe import batch_job_uninjected  # noqa: PLC0415

    from meshconform.products.checks import ProductFacts  # noqa: PLC0415

    recipe = load_recipe("example-batch")
    facts = ProductFacts(istioctl, MODES["sidecar"], recipe)
    assert str(batch_job_uninjected(facts).outcome) == "holds"
    shape = recipe.workloads[0]
    (job,) = facts.admitted(shape, values_mode="native-sidecar")  # no opt-out annotation
    from meshconform.static import evaluate  # noqa: PLC0415

    assert evaluate.proxy_layout(job) == "classic"
    assert str(evaluate.job_completes(job).outcome) == "broken"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c["expect"].pop("cni-native-sidecar"), "lacks ['cni-native-sidecar']"),
    (lambda c: c.pop("sources"), "sources must be a non-empty list"),
    (lambda c: c.update(product="testkube"), "must carry product: example-batch"),
])
def test_vendor_claims_are_checked_like_the_catalog(example_installed: None, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    edit, message) -> None:
    source = products.get_source("example-batch")
    raw = yaml.safe_load(source.claims_file.read_text())
    edit(raw["claims"][0])
    broken = tmp_path / "claims.yaml"
    broken.write_text(yaml.safe_dump(raw))
    found = {**products.discover(), "example-batch": products.RecipeSource(
        "example-batch", source.directory, source.static_checks, broken)}
    monkeypatch.setattr(products, "discover", lambda: found)
    get_catalog.cache_clear()
    with pytest.raises(CatalogError, match=message.replace("[", r"\[").replace("]", r"\]")):
        get_catalog()


def test_a_recipe_with_the_wrong_name_is_one_line_error(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    _distribution(site, "meshconform_bad_recipe", "other-name = meshconform_example_recipe:recipe")
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    monkeypatch.syspath_prepend(str(site))
    _refresh()
    try:
        with pytest.raises(UsageError,
                           match="returned the recipe 'example-batch', not 'other-name'"):
            products.discover()
    finally:
        monkeypatch.undo()
        _refresh()
