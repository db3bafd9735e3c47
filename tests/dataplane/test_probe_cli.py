"""``meshconform probe gateway|egress`` handlers, against the local Envoy gateway."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from meshconform.dataplane.gateway_config import GatewayFaults
from meshconform.dataplane.scenarios import GatewayRun
from meshconform.errors import UsageError
from meshconform.report import load_report
from meshconform.traffic.cli import add_probe_commands, parse_address


def _args(*argv: str) -> tuple[argparse.Namespace, int]:
    parser = argparse.ArgumentParser(prog="meshconform")
    handlers = add_probe_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args, handlers[args.command](args)


def _gateway_argv(run: GatewayRun, report_dir: Path) -> list[str]:
    t = run.target
    return ["probe", "gateway", "--address", f"{t.address}:{t.https_port}", "--host", t.host,
            "--ca", str(t.ca), "--http-port", str(t.http_port),
            "--health-port", str(t.health_port), "--report-dir", str(report_dir)]


def test_conforming_gateway_passes_and_writes_the_report(
        envoy_gateway: GatewayRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, code = _args(*_gateway_argv(envoy_gateway, tmp_path))
    assert code == 0, capsys.readouterr().out
    report = load_report(tmp_path / "report.json")
    assert report["tier"] == ["live"]
    assert report["mode"] == ["native-sidecar"]
    assert {c["id"] for c in report["claims"]} == {
        "gateway-routes-by-host", "gateway-tls-simple", "gateway-tls-sni-match",
        "gateway-https-redirect", "gateway-health"}
    assert all(c["verdict"] == "pass" for c in report["claims"])
    assert "PRIVATE KEY" not in (tmp_path / "report.json").read_text()


def test_faulty_gateway_fails_with_json(envoy_gateway_with: object, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    run = envoy_gateway_with(faults=GatewayFaults(no_redirect=True))  # type: ignore[operator]
    _, code = _args(*_gateway_argv(run, tmp_path), "--format", "json")
    assert code == 1
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["gateway-https-redirect"]["verdict"] == "fail"
    assert rows["gateway-https-redirect"]["finding"] == "does not conform"
    assert rows["gateway-health"]["verdict"] == "pass"


@pytest.mark.parametrize("address", ["nohost", "127.0.0.1:", "127.0.0.1:99999", ":443"])
def test_bad_address(address: str) -> None:
    with pytest.raises(UsageError, match="is not HOST:PORT"):
        parse_address(address)


def test_ipv6_address() -> None:
    assert parse_address("[::1]:8443") == ("::1", 8443)


# The lead's cli.main prints str(UsageError) as one line and exits 2.


def test_missing_ca_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist") as error:
        _args("probe", "gateway", "--address", "127.0.0.1:8443", "--host", "a.example.com",
              "--ca", str(tmp_path / "missing.pem"))
    assert "\n" not in str(error.value)


def test_ca_without_a_certificate(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a pem\n")
    with pytest.raises(UsageError, match="holds no PEM certificate"):
        _args("probe", "gateway", "--address", "127.0.0.1:8443", "--host", "a.example.com",
              "--ca", str(tmp_path / "ca.pem"))


def test_egress_explains_why_not() -> None:
    with pytest.raises(UsageError, match="from a pod in the mesh"):
        _args("probe", "egress")
