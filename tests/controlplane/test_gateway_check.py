"""``meshconform gateway-check`` on the gateway lab: a team's resources, istiod's config, Envoy.

Bad input is one line and exit 2, before anything starts. With the lab (the plugin's
session ``gateway_lab``: real control plane, istiod and gateway processes): the conforming
resources exit 0 with every claim passing; each resource mistake exits 1 naming the claim
it breaks; a resource Istio's validation webhook denies is reported with istiod's message.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshconform.certs import CertPair, TestCA
from meshconform.cli import main
from meshconform.live.controlplane.gateway_check import run_gateway_check
from meshconform.live.controlplane.gateway_lab import GatewayLab

HOST = "shop.check.meshconform.test"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def secret(name: str, cert: CertPair, **extra: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": "istio-system"},
            "data": {"tls.crt": b64(cert.cert_pem()), "tls.key": b64(cert.key_pem()), **extra}}


def shop(cert: CertPair, *, https: dict[str, Any] | None = None, redirect: bool = True,
         hosts: list[str] | None = None) -> list[dict[str, Any]]:
    """A team's resources: TLS Secret, Gateway (HTTPS SIMPLE + HTTP redirect), a VirtualService
    to their frontend in their namespace, and a DestinationRule for it."""
    http: dict[str, Any] = {"port": {"number": 80, "name": "http", "protocol": "HTTP"},
                            "hosts": [HOST]}
    if redirect:
        http["tls"] = {"httpsRedirect": True}
    server = {"port": {"number": 443, "name": "https", "protocol": "HTTPS"},
              "hosts": hosts or [HOST],
              "tls": {"mode": "SIMPLE", "credentialName": "shop-cert"}}
    server.update(https or {})
    return [
        secret("shop-cert", cert),
        {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
         "metadata": {"name": "shop", "namespace": "shop"},
         "spec": {"selector": {"istio": "ingressgateway"}, "servers": [server, http]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
         "metadata": {"name": "shop", "namespace": "shop"},
         "spec": {"hosts": [HOST], "gateways": ["shop"],
                  "http": [{"route": [{"destination": {"host": "frontend",
                                                       "port": {"number": 8080}}}]}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
         "metadata": {"name": "frontend", "namespace": "shop"},
         "spec": {"host": "frontend", "trafficPolicy": {
             "connectionPool": {"http": {"http1MaxPendingRequests": 100}}}}},
    ]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("team-ca"), name="team CA")


def write(folder: Path, objects: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gateway.yaml").write_text(yaml.safe_dump_all(objects), "utf-8")
    return folder


def args(resources: Path, ca: Path, report: Path | None = None, fmt: str = "text"
         ) -> argparse.Namespace:
    return argparse.Namespace(resources=resources, ca=ca, istio_version=None,
                              mesh_mode="native-sidecar", format=fmt, report_dir=report,
                              keep_lab=False, stop_lab=False)


# ------------------------------------------------------------------- bad input (no lab)


def _bad(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["gateway-check", *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_missing_folder(tmp_path: Path, ca: TestCA, capsys: pytest.CaptureFixture[str]) -> None:
    err = _bad(["--resources", str(tmp_path / "nope"), "--ca", str(ca.cert_path)], capsys)
    assert "is not a directory" in err


def test_no_gateway(tmp_path: Path, ca: TestCA, capsys: pytest.CaptureFixture[str]) -> None:
    objects = shop(ca.issue([HOST]))
    folder = write(tmp_path, [o for o in objects if o["kind"] != "Gateway"])
    err = _bad(["--resources", str(folder), "--ca", str(ca.cert_path)], capsys)
    assert "holds no Gateway" in err


def test_secret_without_certificate(tmp_path: Path, ca: TestCA,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    objects = shop(ca.issue([HOST]))
    del objects[0]["data"]["tls.crt"]
    err = _bad(["--resources", str(write(tmp_path, objects)), "--ca", str(ca.cert_path)], capsys)
    assert "Secret shop-cert has no tls.crt" in err


def test_ca_that_does_not_verify(tmp_path: Path, ca: TestCA,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    other = TestCA.create(tmp_path / "other", name="another CA")
    folder = write(tmp_path / "res", shop(ca.issue([HOST])))
    err = _bad(["--resources", str(folder), "--ca", str(other.cert_path)], capsys)
    assert "does not verify against --ca" in err
    assert "PRIVATE KEY" not in err


def test_other_kinds_refused(tmp_path: Path, ca: TestCA,
                             capsys: pytest.CaptureFixture[str]) -> None:
    objects = [*shop(ca.issue([HOST])), {"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"name": "x"}}]
    err = _bad(["--resources", str(write(tmp_path, objects)), "--ca", str(ca.cert_path)], capsys)
    assert "ConfigMap x is not a resource gateway-check takes" in err


# ------------------------------------------------------------------------ on the lab


def _run(lab: GatewayLab, folder: Path, ca: TestCA, capsys: pytest.CaptureFixture[str],
         report: Path | None = None) -> tuple[int, str]:
    code = run_gateway_check(args(folder, ca.cert_path, report), lab=lab)
    out = capsys.readouterr().out
    assert "PRIVATE KEY" not in out
    return code, out


def _failed(out: str) -> set[str]:
    return {line.split()[1] for line in out.splitlines() if line.startswith(("FAIL", "ERROR"))}


def test_conforming_resources_exit_0(gateway_lab: GatewayLab, ca: TestCA, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = write(tmp_path / "res", shop(ca.issue([HOST])))
    code, out = _run(gateway_lab, folder, ca, capsys, report=tmp_path / "report")
    assert code == 0, out
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    verdicts = {row["id"]: row["verdict"] for row in report["claims"]}
    claims = ("gateway-routes-by-host", "gateway-tls-simple", "gateway-tls-sni-match",
              "gateway-https-redirect", "gateway-health")
    assert verdicts == dict.fromkeys(claims, "pass"), out
    assert report["tier"] == ["dataplane"]
    assert "PRIVATE KEY" not in (tmp_path / "report" / "report.json").read_text()


@pytest.mark.parametrize(("fault", "claim"), [
    ("no-https-redirect", "gateway-https-redirect"),
    ("hosts-any", "gateway-tls-sni-match"),
    ("another-hosts-certificate", "gateway-tls-simple"),
    ("expired-certificate", "gateway-tls-simple"),
    ("tls-mode-mutual", "gateway-tls-simple"),
])
def test_each_fault_exits_1_naming_its_claim(gateway_lab: GatewayLab, ca: TestCA,
                                             tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             fault: str, claim: str) -> None:
    cert = ca.issue([HOST])
    objects = shop(cert)
    if fault == "no-https-redirect":
        objects = shop(cert, redirect=False)
    elif fault == "hosts-any":
        objects = shop(cert, hosts=["*"])
    elif fault == "another-hosts-certificate":
        objects = shop(ca.issue(["somebody-else.meshconform.test"]))
    elif fault == "expired-certificate":
        objects = shop(ca.issue_expired([HOST]))
    elif fault == "tls-mode-mutual":
        objects = shop(cert, https={"tls": {"mode": "MUTUAL", "credentialName": "shop-cert"}})
        objects[0]["data"]["ca.crt"] = b64(ca.cert_path.read_bytes())
    code, out = _run(gateway_lab, write(tmp_path / "res", objects), ca, capsys)
    assert code == 1, out
    assert claim in _failed(out), out


def test_webhook_rejection_is_reported_with_istiods_message(
        gateway_lab: GatewayLab, ca: TestCA, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    objects = shop(ca.issue([HOST]))
    # an HTTPS server without TLS settings: Istio's validation rejects it
    objects[1]["spec"]["servers"][0].pop("tls")
    code, out = _run(gateway_lab, write(tmp_path / "res", objects), ca, capsys)
    assert code == 1, out
    assert "istio-resources-admitted" in _failed(out), out
    assert "Gateway/shop: rejected by the API server" in out
    assert 'admission webhook "validation.istio.io" denied the request' in out, out
    # nothing of it stays applied
    assert gateway_lab.kube.get("networking.istio.io/v1", "Gateway", "shop", "shop") is None


# ------------------------------------------------------------ host and backend selection


def test_hosts_come_from_https_servers_with_wildcards_resolved(ca: TestCA) -> None:
    from meshconform.live.controlplane.gateway_check import select_hosts  # noqa: PLC0415

    objects = shop(ca.issue([HOST]), hosts=["shop/*.apps.example.test", HOST])
    objects.append({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                    "metadata": {"name": "api", "namespace": "shop"},
                    "spec": {"hosts": ["api.apps.example.test"], "gateways": ["shop/shop"],
                             "http": [{"match": [{"uri": {"prefix": "/v1"}}],
                                       "route": [{"destination": {"host": "api"}}]}]}})
    found = select_hosts(objects)
    assert found.hosts == ["gateway-check.apps.example.test", HOST]
    assert found.paths[HOST] == "/"


def test_a_server_for_any_host_probes_its_virtual_services_hosts(ca: TestCA) -> None:
    from meshconform.live.controlplane.gateway_check import select_hosts  # noqa: PLC0415

    found = select_hosts(shop(ca.issue([HOST]), hosts=["*"]))
    assert found.hosts == [HOST]
    assert "hosts '*'" in found.notes[0]


def test_destinations_resolve_short_names_like_istiod() -> None:
    from meshconform.live.controlplane.gateway_lab import destinations  # noqa: PLC0415

    vs = {"spec": {"http": [{"route": [{"destination": {"host": "frontend",
                                                        "port": {"number": 8080}}},
                                       {"destination": {"host": "api.other.svc.cluster.local"}}]}],
                   "tcp": [{"route": [{"destination": {"host": "db", "port": {"number": 5432}}}]}]}}
    assert destinations(vs, "shop") == [("frontend.shop.svc.cluster.local", 8080),
                                        ("api.other.svc.cluster.local", 80),
                                        ("db.shop.svc.cluster.local", 5432)]


def test_json_output_and_secret_keys_never_shown(gateway_lab: GatewayLab, ca: TestCA,
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    objects = shop(ca.issue([HOST]))
    key = base64.b64decode(objects[0]["data"]["tls.key"]).decode()
    folder = write(tmp_path / "res", objects)
    code = run_gateway_check(args(folder, ca.cert_path, tmp_path / "r", fmt="json"),
                             lab=gateway_lab)
    out = capsys.readouterr().out
    assert code == 0
    rows = json.loads(out)
    assert {r["verdict"] for r in rows} == {"pass"}
    body = key.splitlines()[1]
    assert body not in out
    assert body not in (tmp_path / "r" / "report.json").read_text()
    assert body not in (tmp_path / "r" / "report.md").read_text()
