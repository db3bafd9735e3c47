"""``meshconform plan --claim ID``: the claim -> checks -> manifests -> evaluator -> evidence
chain, collected by pytest from suites/ (so it cannot drift), and the claim marker's
``manifests=`` (a missing file stops the run)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from meshconform import paths
from meshconform.chain import PROBE_ONLY, claim_chain, fixture_files, render_chain
from meshconform.cli import main
from meshconform.static.registry import get_static_check


@pytest.fixture(scope="module")
def egress_chain():  # type: ignore[no-untyped-def]
    return claim_chain("egress-registry-only-blocks")


def test_the_chain_has_a_check_per_tier_with_its_manifests_and_evaluator(egress_chain) -> None:  # type: ignore[no-untyped-def]
    by_tier = {c.tier: c for c in egress_chain.checks}
    assert set(by_tier) == {"static", "dataplane", "live"}
    static = by_tier["static"]
    assert static.nodeid == "suites/core/egress/test_egress_static.py::test_registry_only_static"
    assert static.evaluator.startswith(get_static_check("egress-registry-only-blocks").decides)
    assert "meshconform.static.evaluate.egress_registry_only_blocks" in static.evaluator
    assert "workloads/hold-app.yaml" in static.manifests
    live = by_tier["live"]
    assert "egress/sidecar-registry-only.yaml" in live.manifests
    assert "workloads/client.yaml" in live.fixture_manifests["client_in"]
    assert "meshconform.traffic.egress.registry_only_blocks" in live.evaluator
    assert live.evidence.startswith("live cluster: ")
    assert "process-pods" in live.evidence  # on controlplane: real sidecars in process pods
    # the central skip shows per mode: the dataplane models a sidecar only
    dataplane = by_tier["dataplane"]
    assert dataplane.modes["ambient"] == "mode ambient does not support has_sidecar"
    assert dataplane.modes["sidecar"] is None


def test_plan_claim_prints_the_claim_and_its_expectations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan", "--claim", "egress-registry-only-blocks"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "claim egress-registry-only-blocks (egress)"
    assert any(line.split()[:2] == ["ambient", "broken"] for line in lines)
    assert "checks (3):" in lines
    live = "suites/core/egress/test_egress_live.py::test_registry_only_blocks_unknown_host"
    assert f"  [live] {live}" in lines


def test_plan_claim_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--claim", "job-completes", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["claim"]["expect"]["sidecar"]["outcome"] == "broken"
    tiers = {c["tier"] for c in data["checks"]}
    assert {"static", "live"} <= tiers
    live = [c for c in data["checks"] if c["tier"] == "live"]
    assert any("workloads/job.yaml" in c["manifests"] for c in live)
    # the check's own helper (_run_job) is followed to the function that decides
    assert any("meshconform.wait.workloads.get_job_outcome" in c["evaluator"] for c in live)


def test_a_gateway_probe_check_is_in_the_chain_though_only_probing_runs_it() -> None:
    chain = claim_chain("gateway-health")
    probe = [c for c in chain.checks if c.nodeid.endswith("test_probed_gateway_health")]
    assert len(probe) == 1
    assert probe[0].modes == {"any": PROBE_ONLY}
    assert probe[0].manifests == []
    assert "--probe-gateway" in probe[0].evidence


def test_plan_claim_of_a_product_collects_with_that_product(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan", "--claim", "speedscale-egress-service-entries"]) == 0
    out = capsys.readouterr().out
    assert "meshconform.products.checks.speedscale_service_entries over ProductFacts" in out
    assert "products/speedscale/istio/service-entries.yaml" in out


def test_plan_claim_unknown_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--claim", "no-such-claim"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("meshconform: unknown claim 'no-such-claim'. "
                   "Run 'meshconform claims' for the catalog's ids")


def test_render_lists_every_check(egress_chain) -> None:  # type: ignore[no-untyped-def]
    text = render_chain(egress_chain)
    for check in egress_chain.checks:
        assert f"[{check.tier}] {check.nodeid}" in text


MISSING_MANIFEST = '''
import pytest


@pytest.mark.live
@pytest.mark.claim("job-completes", manifests=["workloads/no-such-file.yaml"])
def test_applies_a_missing_file(mode):
    pass
'''


def test_a_marker_naming_a_missing_manifest_stops_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_missing=MISSING_MANIFEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--collect-only",
                                           "--tier", "live", timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*its claim marker names the manifest "
                                 "workloads/no-such-file.yaml, which is not in*"])


def _fixture_literals(node: ast.FunctionDef) -> list[str]:
    text = ast.unparse(node.body)  # the body only: the decorator is what is checked
    return fixture_files(text)


def _marker_manifests(node: ast.FunctionDef) -> list[str] | None:
    for dec in node.decorator_list:
        if isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "claim":
            for kw in dec.keywords:
                if kw.arg == "manifests":
                    value = ast.literal_eval(kw.value)
                    return list(value)
            return []
    return None


def test_every_manifest_a_check_applies_is_named_by_its_marker() -> None:
    """What a check applies in its body is data on its claim marker, so plan shows it."""
    seen = 0
    problems = []
    for path in sorted((paths.repo_root() / "suites").rglob("test_*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            declared = _marker_manifests(node)
            if declared is None:
                continue
            for relpath in declared:
                assert (paths.fixtures_dir() / relpath).is_file(), (path, node.name, relpath)
            applied = _fixture_literals(node)
            seen += len(applied)
            missing = [m for m in applied if m not in declared]
            if missing:
                problems.append(f"{Path(path).name}::{node.name}: {missing}")
    assert seen > 20  # the scan finds the live checks' manifests
    assert not problems, problems


def _architecture() -> str:
    return (paths.repo_root() / "docs" / "architecture.md").read_text("utf-8")


def test_the_architecture_pages_worked_example_is_what_plan_prints(egress_chain) -> None:  # type: ignore[no-untyped-def]
    page = _architecture()
    start = page.index("$ meshconform plan --claim egress-registry-only-blocks\n")
    example = page[start:].split("\n", 1)[1].split("```", 1)[0]
    assert example == render_chain(egress_chain)


def test_the_architecture_page_names_every_package_and_plugin_module() -> None:
    """The layout and the docs agree: every package of the library and every plugin module
    appears in docs/architecture.md, and the README links the page."""
    page = _architecture()
    src = Path(__file__).resolve().parents[2] / "src" / "meshconform"
    packages = sorted(p.parent.relative_to(src) for p in src.rglob("__init__.py"))
    for package in packages:
        if str(package) != ".":
            assert f"{package.name}/" in page, package
    for module in sorted((src / "plugin").glob("*.py")):
        assert f"plugin/{module.name}" in page, module.name
    readme = (paths.repo_root() / "README.md").read_text("utf-8")
    assert "(docs/architecture.md)" in readme
