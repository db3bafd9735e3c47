"""``pytest --probe-gateway``: the gateway claims against a reachable gateway, no cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from meshconform import paths
from meshconform.dataplane.gateway_config import GatewayFaults
from meshconform.dataplane.scenarios import GatewayRun
from meshconform.report import load_report

PROBE_CHECKS = "suites/core/gateway/test_gateway_probe.py"


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, check=False, cwd=paths.repo_root(),
                          timeout=120)


def _probe_args(run: GatewayRun, report_dir: Path) -> list[str]:
    t = run.target
    return ["suites", "--mesh-mode", "native-sidecar", "--report-dir", str(report_dir),
            "--probe-gateway", f"{t.address}:{t.https_port}", "--probe-host", t.host,
            "--probe-ca", str(t.ca), "--probe-http-port", str(t.http_port),
            "--probe-health-port", str(t.health_port)]


def test_probe_option_runs_only_the_gateway_claims(envoy_gateway: GatewayRun,
                                                   tmp_path: Path) -> None:
    done = _pytest(*_probe_args(envoy_gateway, tmp_path))
    assert done.returncode == 0, done.stdout[-3000:]
    assert "5 passed" in done.stdout
    report = load_report(tmp_path / "report.json")
    assert report["tier"] == ["live"]
    assert {c["check"].split("::")[0] for c in report["claims"]} == {PROBE_CHECKS}
    assert all(c["verdict"] == "pass" for c in report["claims"])


def test_probe_option_fails_on_a_gateway_without_redirect(envoy_gateway_with: object,
                                                          tmp_path: Path) -> None:
    run = envoy_gateway_with(faults=GatewayFaults(no_redirect=True))  # type: ignore[operator]
    done = _pytest(*_probe_args(run, tmp_path))
    assert done.returncode == 1
    rows = {c["id"]: c for c in load_report(tmp_path / "report.json")["claims"]}
    assert rows["gateway-https-redirect"]["verdict"] == "fail"
    assert rows["gateway-tls-simple"]["verdict"] == "pass"


def test_probe_checks_are_deselected_without_the_option() -> None:
    done = _pytest(PROBE_CHECKS, "--collect-only", "-q")
    # one item per claim: the probed gateway is the same whatever the mode (defect 13)
    assert "no tests collected (5 deselected)" in done.stdout, done.stdout[-2000:]


def test_incomplete_probe_options_are_one_line(tmp_path: Path) -> None:
    done = _pytest("suites", "--probe-gateway", "127.0.0.1:8443", "--report-dir", str(tmp_path))
    assert done.returncode == 4
    assert "meshconform: probing a gateway needs --probe-host, --probe-ca too" in done.stderr
    assert "Traceback" not in done.stderr
