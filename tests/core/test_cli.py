"""The meshconform command: catalog, plan, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from meshconform import paths
from meshconform.claims import Verdict, get_catalog
from meshconform.cli import main
from meshconform.report import ClaimResult, RunInfo, write_report


def test_claims_json_lists_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["claims", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in data] == list(get_catalog())
    job = next(c for c in data if c["id"] == "job-completes")
    assert job["expect"]["sidecar"]["outcome"] == "broken"
    assert job["workaround"] == ["job-completes-without-injection",
                                 "job-completes-with-quitquitquit",
                                 "job-completes-with-envoy-quitquitquit"]


def test_claims_markdown_is_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["claims"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("| claim | sidecar | cni | native-sidecar | cni-native-sidecar | ambient "
                        "| statement |")
    assert len(lines) == 2 + len(get_catalog())


def test_plan_lists_the_four_modes_and_their_claims(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--mesh-mode", "all", "--tier", "live"]) == 0
    out = capsys.readouterr().out
    for mode in ("sidecar:", "cni:", "native-sidecar:", "ambient:"):
        assert any(line.startswith(mode) for line in out.splitlines()), mode
    assert "job-completes                        expect broken  tiers: live" in out
    assert "claim native-sidecar-injected-as-init does not apply to mode sidecar" in out


def _collected(args: list[str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(paths.repo_root() / "suites"), "--collect-only",
         "-q", *args], capture_output=True, text=True, check=True, cwd=paths.repo_root())
    return {line.strip() for line in done.stdout.splitlines() if "::" in line}


def test_plan_agrees_with_pytest_collect_only(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--tier", "live", "--mesh-mode", "all"]
    assert main(["plan", "--format", "json", *args]) == 0
    planned = {c["nodeid"] for c in json.loads(capsys.readouterr().out)["checks"]}
    core = {n for n in _collected(args) if n.startswith("suites/core/")}
    assert core
    assert {n for n in planned if n.startswith("suites/core/")} == core
    claims = {c["claim"] for c in json.loads(
        subprocess.run([sys.executable, "-m", "meshconform.cli", "plan", "--format", "json",
                        *args], capture_output=True, text=True, check=True).stdout)["checks"]}
    assert {cid for cid, c in get_catalog().items() if c.product is None} <= claims


@pytest.mark.parametrize(("argv", "message"), [
    (["plan", "--mesh-mode", "istio-init"], "meshconform: unknown mesh mode 'istio-init'"),
    (["plan", "--tier", "smoke"], "meshconform: collecting the checks failed: "),
    (["plan", "--istio-version", "1.2"], "Istio version '1.2' is not supported"),
    (["claims", "--format", "xml"], "meshconform: argument --format: invalid choice: 'xml'"),
    (["probe", "gateway", "--host", "a"], "the following arguments are required: --address"),
    ([], "the following arguments are required: command"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str) -> None:
    # no wall-clock bound here: a timed test flakes on a loaded 2-core runner; the
    # seconds are measured by benchmarks, not asserted
    done = subprocess.run([sys.executable, "-m", "meshconform.cli", *argv],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_merge_command_writes_the_combined_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for mode in ("sidecar", "ambient"):
        row = ClaimResult("gateway-health", mode, "live", Verdict.PASS, "holds", "holds", "200")
        write_report([row], RunInfo(modes=[mode], tiers=["live"]), tmp_path / mode)
    out = tmp_path / "merged"
    assert main(["merge", str(tmp_path / "sidecar" / "report.json"),
                 str(tmp_path / "ambient" / "report.json"), "--report-dir", str(out)]) == 0
    matrix = capsys.readouterr().out
    assert "| claim | expected | sidecar | ambient |" in matrix
    assert json.loads((out / "report.json").read_text())["summary"]["pass"] == 2
