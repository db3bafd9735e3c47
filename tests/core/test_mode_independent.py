"""Defect 13 (issue 10): a check whose subject does not vary by mode (a probed gateway,
the dataplane tier's Envoy gateway) runs and reports once, not once per mode."""

from __future__ import annotations

import json

import jsonschema
import pytest

from meshconform.paths import repo_root


def _collected(pytester_args: list[str]) -> list[str]:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
         *pytester_args], capture_output=True, text=True, timeout=120, check=False,
        cwd=repo_root())
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_dataplane_gateway_claims_are_collected_once() -> None:
    items = _collected(["suites/core/gateway/test_gateway_dataplane.py", "--tier", "dataplane"])
    assert len(items) == 5, items
    assert all(item.endswith("[any-mode]") for item in items), items


def test_probe_gateway_claims_are_collected_once(tmp_path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    items = _collected(["suites/core/gateway/test_gateway_probe.py", "--probe-gateway",
                        "127.0.0.1:1", "--probe-host", "h.example", "--probe-ca", str(ca)])
    assert len(items) == 5, items


CHECK = '''
import pytest


@pytest.mark.dataplane
@pytest.mark.mode_independent
@pytest.mark.claim("gateway-health")
def test_once(claim, mode):
    claim.conclude(True, "the gateway answered 200")
'''


def test_a_mode_independent_check_reports_one_row(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_once=CHECK)
    result = pytester.runpytest("-p", "no:cacheprovider", "--tier", "dataplane",
                                "--report-dir", "rep")
    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "rep" / "report.json").read_text())
    (row,) = report["claims"]
    assert (row["mode"], row["verdict"]) == ("any", "pass")
    schema = json.loads((repo_root() / "src" / "meshconform" / "report.schema.json")
                        .read_text())
    jsonschema.validate(report, schema)
    markdown = (pytester.path / "rep" / "report.md").read_text()
    assert "| `gateway-health` |" in markdown
