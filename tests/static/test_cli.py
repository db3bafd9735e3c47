"""``meshconform static`` and ``meshconform diff``: exit codes, reports, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from meshconform.cli import main
from meshconform.istioctl_build import env_var
from meshconform.static.istioctl import Istioctl
from meshconform.versions import get_istio_release
from tests.static.conftest import STATIC_VERSIONS, TEST_ISTIO


def _static(tmp_path: Path, *extra: str) -> tuple[int, dict[str, object]]:
    report_dir = tmp_path / "report"
    code = main(["static", "--istio-version", TEST_ISTIO, "--report-dir", str(report_dir),
                 "--format", "json", *extra])
    return code, json.loads((report_dir / "report.json").read_text("utf-8"))


def test_static_passes_with_suite_overlay(istioctl: Istioctl, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _static(tmp_path, "--mesh-mode", "sidecar,ambient")
    assert code == 0
    assert report["mode"] == ["sidecar", "ambient"]
    assert TEST_ISTIO in str(report["istio"])
    assert json.loads(capsys.readouterr().out)["summary"]["fail"] == 0
    assert (tmp_path / "report" / "report.md").is_file()


def test_static_user_config_breaks_a_claim(istioctl: Istioctl, tmp_path: Path) -> None:
    """A Helm values file on top of the overlay turns DNS capture off: exit 1, one FAIL."""
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"meshConfig": {"defaultConfig": {"proxyMetadata": {
        "ISTIO_META_DNS_CAPTURE": "false"}}}}), "utf-8")
    code, report = _static(tmp_path, "--mesh-mode", "native-sidecar", "--istio-config",
                           str(values))
    assert code == 1
    failed = [r["id"] for r in report["claims"] if r["verdict"] == "fail"]  # type: ignore[attr-defined]
    assert failed == ["dns-proxy-resolves-service-entry"]


def test_static_unavailable_version_is_an_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """No istioctl for a version: every row is an ERROR naming why, exit 1 (never a skip)."""
    release = get_istio_release("1.29")
    monkeypatch.setenv(env_var(release), str(tmp_path / "no-such-istioctl"))
    report_dir = tmp_path / "r"
    code = main(["static", "--istio-version", "1.29", "--mesh-mode", "cni",
                 "--report-dir", str(report_dir)])
    assert code == 1
    rows = json.loads((report_dir / "report.json").read_text("utf-8"))["claims"]
    assert rows
    assert {r["verdict"] for r in rows} == {"error"}
    assert all("MESHCONFORM_ISTIOCTL_1_29" in r["evidence"] for r in rows)


@pytest.mark.parametrize("argv", [
    ["static", "--mesh-mode", "bogus"],
    ["static", "--istio-version", "9.9"],
    ["static", "--replace-overlay"],
    ["static", "--istio-config", "/nonexistent/values.yaml"],
    ["static", "--kubernetes-version", "1.10"],
    ["diff", "/nonexistent/a.json", "/nonexistent/b.json"],
])
def test_bad_input_is_one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("meshconform: ")
    assert len(err.strip().splitlines()) == 1


def test_diff_of_a_non_report_is_bad_input(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "report.json"
    bogus.write_text('{"claims": []}', "utf-8")
    assert main(["diff", str(bogus), str(bogus)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("minor", sorted(STATIC_VERSIONS))
def test_static_istioctl_failure_is_an_error_row_with_its_message(
        minor: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """istioctl itself refusing the config: ERROR rows quoting istioctl, exit 1, no traceback."""
    config = tmp_path / "bad-profile.yaml"
    config.write_text(yaml.safe_dump({"apiVersion": "install.istio.io/v1alpha1",
                                      "kind": "IstioOperator",
                                      "spec": {"profile": "no-such-profile"}}), "utf-8")
    report_dir = tmp_path / "r"
    code = main(["static", "--istio-version", minor, "--mesh-mode", "sidecar",
                 "--istio-config", str(config), "--report-dir", str(report_dir)])
    assert code == 1
    assert "Traceback" not in capsys.readouterr().err
    rows = json.loads((report_dir / "report.json").read_text("utf-8"))["claims"]
    errors = [r for r in rows if r["verdict"] == "error"]
    assert errors
    assert {r["verdict"] for r in rows} <= {"error", "skip"}
    for row in errors:
        assert f"istioctl {minor} manifest generate" in row["evidence"]
        assert 'profile "no-such-profile" not found' in row["evidence"]
