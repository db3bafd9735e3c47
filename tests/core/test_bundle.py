"""``meshconform certify`` and ``validate-report``: a real bundle validates; tampering does not.

One bundle is produced for real, over the offline tiers (the real istioctl 1.31 for
the static tier, the real Envoy for the dataplane tier), for one product and one mode
to keep it quick. Each rejection copies it and changes one thing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from meshconform import paths
from meshconform.bundle import validate_bundle
from meshconform.certify import required_claims
from meshconform.cli import main

PRODUCT = "testkube"
MODE = "native-sidecar"


def _meshconform(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "meshconform.cli", *args], capture_output=True,
                          text=True, check=False, cwd=cwd, env=os.environ.copy())


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle written by ``meshconform certify`` over the static (1.31) and dataplane tiers."""
    out = tmp_path_factory.mktemp("certify") / "bundle"
    done = _meshconform("certify", "--product", PRODUCT, "--istio-version", "1.31",
                        "--mesh-mode", MODE, "--tier", "static,dataplane", "--out", str(out),
                        cwd=out.parent)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # success or partial
    assert done.stdout.splitlines()[0] in (f"success: {out}", f"partial: {out}")
    return out


@pytest.fixture
def bundle(certified: Path, tmp_path: Path) -> Path:
    """A copy of the certified bundle that a test may tamper with."""
    return Path(shutil.copytree(certified, tmp_path / "bundle"))


def _json(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text())
    return data


def test_a_certified_bundle_validates(certified: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_bundle(certified) == []
    assert main(["validate-report", str(certified)]) == 0
    assert capsys.readouterr().out == f"{certified}: valid\n"
    cert = json.loads((certified / "certification.json").read_text())
    env = json.loads((certified / "environment.json").read_text())
    assert {(c["id"], c["mode"]) for c in cert["claims"]} == set(required_claims(PRODUCT, [MODE]))
    assert cert["istio"] == {"minor": "1.31", "release": "1.31.0"}
    assert set(cert["tier_runs"]) == {"static", "dataplane"}
    # the offline tiers show no live behaviour: such claims are "not checked", so partial
    assert cert["verdict"] == "partial"
    assert any(c["verdict"] == "not checked" for c in cert["claims"])
    assert env["cluster"] is None
    assert env["kind"] is None
    assert env["product"]["chart_version"] == "2.3.0"
    report = json.loads((certified / "report.json").read_text())
    assert {row["tier"] for row in report["claims"]} == {"static", "dataplane"}
    assert "meshconform certify --product testkube --istio-version 1.31" in (
        certified / "REPRODUCE.md").read_text()
    assert "<testsuites" in (certified / "junit.xml").read_text()
    assert "## Certification" in (certified / "report.md").read_text()


def _first_checked(bundle: Path) -> tuple[str, str]:
    cert = _json(bundle / "certification.json")
    claims = cert["claims"]
    assert isinstance(claims, list)
    claim = next(c for c in claims if c["verdict"] != "not checked")
    return claim["id"], claim["mode"]


def test_rejects_a_missing_required_claim(bundle: Path) -> None:
    cid, mode = _first_checked(bundle)
    cert = _json(bundle / "certification.json")
    assert isinstance(cert["claims"], list)
    cert["claims"] = [c for c in cert["claims"] if (c["id"], c["mode"]) != (cid, mode)]
    (bundle / "certification.json").write_text(json.dumps(cert))
    assert validate_bundle(bundle) == [
        f"certification.json: required claims without a verdict: {cid} in {mode}"
    ]


def test_rejects_a_required_claim_whose_results_were_removed(bundle: Path) -> None:
    cid, mode = _first_checked(bundle)
    report = _json(bundle / "report.json")
    assert isinstance(report["claims"], list)
    report["claims"] = [r for r in report["claims"] if (r["id"], r["mode"]) != (cid, mode)]
    (bundle / "report.json").write_text(json.dumps(report))
    [problem] = validate_bundle(bundle)
    assert problem.startswith(f"certification.json: {cid} in {mode} says ")
    assert "report.json's results give not checked" in problem


def test_rejects_a_version_mismatch(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = _json(bundle / "environment.json")
    env["istio"] = {**env["istio"], "release": "1.30.3"}  # type: ignore[dict-item]
    (bundle / "environment.json").write_text(json.dumps(env))
    assert validate_bundle(bundle) == [
        "version mismatch: environment.json says Istio 1.30.3, certification.json 1.31.0"
    ]
    assert main(["validate-report", str(bundle)]) == 1
    assert "version mismatch" in capsys.readouterr().err


def test_rejects_a_planted_private_key(bundle: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    planted = bundle / "artifacts" / "static" / "gateway-secret.yaml"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text("kind: Secret\nmetadata:\n  name: gw\n# tls.key follows\n" + key)
    problems = validate_bundle(bundle)
    assert problems == ["artifacts/static/gateway-secret.yaml:5: holds a PEM private key"]
    assert key.splitlines()[1] not in "\n".join(problems)  # the reason never repeats the secret


@pytest.mark.parametrize(("where", "text"), [
    ("REPRODUCE.md", "\nexport SPEEDSCALE_API_KEY=6f1c2a9e-4b7d-4e0a-9c3f-2d8e5b7a1f04\n"),
    ("tiers/static/pytest.log", '\nhelm values: {"apiKey": "6f1c2a9e4b7d4e0a9c3f2d8e5b7a1f04"}\n'),
])
def test_rejects_a_planted_api_key(bundle: Path, where: str, text: str) -> None:
    target = bundle / where
    target.write_text(target.read_text() + text)
    problems = validate_bundle(bundle)
    assert len(problems) == 1
    assert problems[0].startswith(f"{where}:")
    assert "API key" in problems[0] or "credential in an environment variable" in problems[0]
    assert "6f1c2a9e" not in problems[0]


def test_rejects_a_mode_this_catalog_does_not_know(bundle: Path) -> None:
    cert = _json(bundle / "certification.json")
    cert["modes"] = ["warp-drive"]
    (bundle / "certification.json").write_text(json.dumps(cert))
    [problem] = validate_bundle(bundle)
    assert problem.startswith("certification.json: modes warp-drive are not in this")


def test_rejects_what_is_not_a_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "report.json: missing" in err
    assert "certification.json: missing" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--product", "nope", "--istio-version", "1.31"], "unknown product 'nope'"),
    (["--product", PRODUCT, "--istio-version", "1.2"], "Istio version '1.2' is not supported"),
    (["--product", PRODUCT, "--istio-version", "1.30,1.31"], "certify takes one Istio version"),
    (["--product", PRODUCT, "--istio-version", "1.31", "--tier", "bogus"], "unknown tier"),
    (["--product", PRODUCT, "--istio-version", "1.31", "--tier", "live", "--cluster", "gke"],
     "unknown cluster 'gke'"),
    (["--product", PRODUCT, "--istio-version", "1.31", "--tier", "static",
      "--cluster", "controlplane"], "applies to the live tier"),
    (["--product", PRODUCT, "--istio-version", "1.31", "--cluster", "kind",
      "--kubeconfig", "k.yaml"], "not allowed with argument"),
    (["--product", PRODUCT, "--istio-version", "1.31", "--mesh-mode", "ambiant"],
     "ambiant"),
])
def test_certify_bad_input_is_one_line_exit_2_and_leaves_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "bundle"
    done = _meshconform("certify", *args, "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert message in done.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_certify_never_overwrites_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "report.json").write_text("{}")
    done = _meshconform("certify", "--product", PRODUCT, "--istio-version", "1.31",
                        "--out", str(tmp_path / "old"), cwd=tmp_path)
    assert done.returncode == 2
    assert "already exists" in done.stderr
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["report.json"]


def test_certify_passes_the_cluster_through_to_the_live_tier(tmp_path: Path) -> None:
    from meshconform.certify import check_request, pytest_argv  # noqa: PLC0415

    request = check_request(product=PRODUCT, istio_version="1.31", mesh_modes=[MODE],
                            tiers=["live"], out=tmp_path / "b", cluster="controlplane")
    argv = pytest_argv(request, "live")
    assert argv[argv.index("--cluster") + 1] == "controlplane"
    assert request.cluster_kind == "controlplane"
    assert "--cluster" not in pytest_argv(request, "static")
    assert not (tmp_path / "b").exists()
    assert paths.repo_root().is_dir()


def test_certify_redacts_what_a_tier_wrote_before_it_validates(bundle: Path) -> None:
    """The last line of defence: every file of the bundle passes through redact()."""
    from meshconform.certify import scrub  # noqa: PLC0415

    log = bundle / "tiers" / "dataplane" / "pytest.log"
    log.write_text(log.read_text() + "\nhelm: SPEEDSCALE_API_KEY=6f1c2a9e4b7d4e0a9c3f2d8e\n"
                   "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtZXNoIn0.c2lnbmF0dXJl\n")
    assert validate_bundle(bundle)
    scrub(bundle)
    assert validate_bundle(bundle) == []
    assert "6f1c2a9e" not in log.read_text()
    assert "eyJzdWIiOiJtZXNoIn0" not in log.read_text()
