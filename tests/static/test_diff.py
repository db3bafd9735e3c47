"""``diff_reports`` on reports written by the real static run."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from meshconform.cli import main
from meshconform.modes import MODES
from meshconform.report import RunInfo, load_report, write_report
from meshconform.static.diff import diff_reports, render_diff_markdown
from meshconform.static.istioctl import Istioctl
from meshconform.static.run import run_mode


@pytest.fixture(scope="module")
def report(istioctl: Istioctl, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rows = run_mode(istioctl, MODES["sidecar"])
    folder = tmp_path_factory.mktemp("old")
    write_report(rows, RunInfo(modes=["sidecar"], tiers=["static"],
                               istio_version=istioctl.release.minor, istio_build=istioctl.build),
                 folder)
    return load_report(folder / "report.json")


def test_identical_reports_have_no_diff(report: dict[str, Any]) -> None:
    diff = diff_reports(report, report)
    assert diff == {"versions_changed": {}, "flipped": [], "added": [], "removed": []}
    assert "versions unchanged" in render_diff_markdown(diff)


def test_flip_added_removed_and_version(report: dict[str, Any]) -> None:
    new = copy.deepcopy(report)
    new["istio"]["version"] = "1.32"
    for row in new["claims"]:
        row["istio_version"] = "1.32"
        if row["id"] == "job-completes":
            row.update(verdict="fail", observed="holds", finding="documentation outdated")
    removed = new["claims"].pop()
    new["claims"].append({**removed, "id": "brand-new-claim"})
    diff = diff_reports(report, new)
    assert diff["versions_changed"]["istio"][1]["version"] == "1.32"
    assert [(f["id"], f["old"]["verdict"], f["new"]["verdict"]) for f in diff["flipped"]] == [
        ("job-completes", "pass", "fail")]
    assert diff["added"] == [["brand-new-claim", "sidecar", "static"]]
    assert diff["removed"] == [[removed["id"], "sidecar", "static"]]
    text = render_diff_markdown(diff)
    assert "`job-completes`" in text
    assert "documentation outdated" in text


def test_diff_command(report: dict[str, Any], tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report), "utf-8")
    assert main(["diff", str(path), str(path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["flipped"] == []
