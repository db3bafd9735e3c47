"""The report: schema-valid JSON, a readable matrix, no secrets."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from meshconform.claims import Verdict
from meshconform.errors import UsageError
from meshconform.report import (
    ClaimResult,
    RunInfo,
    load_report,
    merge_reports,
    read_report,
    render_markdown,
    write_document,
    write_report,
)

KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"


def results() -> list[ClaimResult]:
    return [
        ClaimResult("job-completes", "sidecar", "live", Verdict.PASS, "broken", "broken",
                    "app exited 0, istio-proxy running", 4.2, "1.30", "suites/x.py::t[sidecar]"),
        ClaimResult("job-completes", "native-sidecar", "live", Verdict.FAIL, "holds", "broken",
                    f"hung; secret was {KEY}; token: abcdefghijklmnop", 9.0, "1.30",
                    "suites/x.py::t[native-sidecar]", "artifacts/t"),
        ClaimResult("job-completes", "cni", "static", Verdict.FAIL, "broken", "holds",
                    "native sidecar injected", 0.1, "1.31", "suites/y.py::t[cni]"),
        ClaimResult("gateway-health", "ambient", "dataplane", Verdict.SKIP, "holds", None,
                    "skipped", 0.0, "1.30", "suites/z.py::t[ambient]"),
    ]


def info() -> RunInfo:
    return RunInfo(modes=["sidecar", "cni", "native-sidecar", "ambient"],
                   tiers=["static", "dataplane", "live"], istio_version="1.30.3",
                   istio_build="release 1.30.3", kubernetes_version="1.35",
                   timings={"cluster": 20.5, "istio": 41.0, "checks": 13.3})


def test_report_files_are_written_and_valid(tmp_path: Path) -> None:
    report = write_report(results(), info(), tmp_path)
    assert load_report(tmp_path / "report.json") == report
    assert report["summary"] == {"pass": 1, "fail": 2, "skip": 1, "error": 0, "total": 4}
    assert report["istio"]["version"] == "1.30.3"
    assert report["kubernetes"] == {"version": "1.35"}
    first = report["claims"][0]
    assert {"id", "title", "source", "expected", "observed", "verdict", "evidence",
            "duration_s"} <= set(first)
    assert first["finding"] == "as documented"
    assert report["claims"][1]["finding"] == "does not conform"
    assert report["claims"][2]["finding"] == "documentation outdated"


def test_secrets_never_reach_the_report(tmp_path: Path) -> None:
    write_report(results(), info(), tmp_path)
    for name in ("report.json", "report.md"):
        text = (tmp_path / name).read_text()
        assert "MIIEowIBAAKCAQEA" not in text
        assert "abcdefghijklmnop" not in text


def test_markdown_is_a_claim_by_mode_matrix(tmp_path: Path) -> None:
    report = write_report(results(), info(), tmp_path)
    markdown = render_markdown(report)
    header = next(line for line in markdown.splitlines() if line.startswith("| claim"))
    assert header == "| claim | expected | sidecar | cni | native-sidecar | ambient |"
    row = next(line for line in markdown.splitlines() if line.startswith("| `job-completes`"))
    assert "pass (live 1.30)" in row
    assert "**FAIL** (static 1.31) doc outdated" in row
    assert "## Failures and errors" in markdown
    assert ("Findings: 1 as documented, 1 documentation outdated, 0 documentation incorrect, "
            "1 does not conform") in markdown


@pytest.mark.parametrize(("path", "value"), [
    (["claims", 0, "verdict"], "passed"),
    (["claims", 0, "mode"], "istio-init"),
    (["summary", "pass"], -1),
    (["tier"], ["e2e"]),
])
def test_schema_rejects_malformed_reports(tmp_path: Path, path: list[object], value: object
                                          ) -> None:
    report = write_report(results(), info(), tmp_path)
    broken = copy.deepcopy(report)
    target = broken
    for key in path[:-1]:
        target = target[key]  # type: ignore[index]
    target[path[-1]] = value  # type: ignore[index]
    (tmp_path / "bad.json").write_text(json.dumps(broken))
    with pytest.raises(jsonschema.ValidationError):
        load_report(tmp_path / "bad.json")


def test_merge_makes_one_matrix_from_several_runs(tmp_path: Path) -> None:
    rows = results()
    first = write_report(rows[:2], RunInfo(modes=["sidecar", "native-sidecar"], tiers=["live"],
                                           istio_version="1.30.3", istio_build="release 1.30.3",
                                           kubernetes_version="1.35",
                                           timings={"cluster:sidecar": 20.0}), tmp_path / "a")
    second = write_report(rows[2:], RunInfo(modes=["cni", "ambient"],
                                            tiers=["static", "dataplane"],
                                            istio_version="1.31.0", istio_build="go ref",
                                            timings={"checks": 1.5}), tmp_path / "b")
    merged = write_document(merge_reports([first, second]), tmp_path / "merged")
    assert merged["mode"] == ["sidecar", "cni", "native-sidecar", "ambient"]
    assert merged["tier"] == ["static", "dataplane", "live"]
    assert merged["istio"]["version"] == "1.30.3, 1.31.0"
    assert merged["summary"] == {"pass": 1, "fail": 2, "skip": 1, "error": 0, "total": 4}
    assert merged["timings"] == {"cluster:sidecar": 20.0, "checks": 1.5}
    assert load_report(tmp_path / "merged" / "report.json") == merged


def test_read_report_refuses_foreign_files_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('{"hello": "world"}')
    with pytest.raises(UsageError, match=r"is not a meshconform report\.json"):
        read_report(tmp_path / "other.json")
    with pytest.raises(UsageError, match="does not exist"):
        read_report(tmp_path / "missing.json")
