"""``meshconform validate-report BUNDLE``: is a certification bundle complete and consistent?

A reviewer who receives a bundle from ``meshconform certify`` runs this. It checks:

1. every file is there, and each JSON file matches its schema (``report.schema.json``,
   ``bundle.schema.json``);
2. the versions agree across files: meshconform, Istio, Kubernetes and the product
   in ``report.json``, each tier's report, ``environment.json``,
   ``certification.json`` and ``REPRODUCE.md``;
3. every claim the catalog makes for the product in each certified mode has a
   verdict, that verdict is what the reports' results add up to, and the overall
   verdict (``success``/``partial``) follows from them;
4. no file holds a secret: whatever :func:`meshconform.redact.find_secrets` finds
   (PEM private keys, kubeconfig credentials, bearer tokens and JWTs, API keys).

Each problem is one line naming the file and what is wrong, never the secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from meshconform import paths
from meshconform.certify import (
    BUNDLE_FILES,
    certification_verdict,
    claim_verdicts,
    required_claims,
)
from meshconform.modes import MODES
from meshconform.redact import find_secrets
from meshconform.report import report_schema, validate_report

#: files larger than this are scanned in their first bytes only (logs of a long run)
_SCAN_LIMIT = 20_000_000


def bundle_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        paths.package_data("bundle.schema.json").read_text(encoding="utf-8")
    )
    return loaded


def _load_json(path: Path, problems: list[str]) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        problems.append(f"{path.name}: not readable JSON ({str(error).splitlines()[0]})")
        return None


def _schema_problem(name: str, data: Any, schema: Mapping[str, Any]) -> str | None:
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        return f"{name}: does not match its schema at {where}: {error.message}"
    return None


def check_secrets(bundle: Path) -> list[str]:
    """Every file (any depth) that holds something :func:`find_secrets` recognises."""
    problems: list[str] = []
    for path in sorted(bundle.rglob("*")):
        if not path.is_file():
            continue
        with path.open("rb") as handle:
            raw = handle.read(_SCAN_LIMIT)
        text = raw.decode("utf-8", errors="replace")
        for kind, line in find_secrets(text):
            problems.append(f"{path.relative_to(bundle)}:{line}: holds {kind}")
    return problems


def _check_schemas(
    bundle: Path, problems: list[str]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
    report = cert = env = None
    data = _load_json(bundle / "report.json", problems)
    if data is not None:
        try:
            validate_report(data)
            report = data
        except jsonschema.ValidationError as error:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            problems.append(f"report.json: does not match its schema at {where}: {error.message}")
    schema = bundle_schema()
    for name, key in (("certification.json", "certification"), ("environment.json", "environment")):
        data = _load_json(bundle / name, problems)
        if data is None:
            continue
        problem = _schema_problem(name, data, {**schema, "$ref": f"#/$defs/{key}"})
        if problem:
            problems.append(problem)
        elif key == "certification":
            cert = data
        else:
            env = data
    return report, cert, env


def _tier_reports(bundle: Path, problems: list[str]) -> list[tuple[str, Mapping[str, Any]]]:
    """Each tier's own report.json (tiers/<tier>/report.json), schema-checked."""
    reports: list[tuple[str, Mapping[str, Any]]] = []
    for path in sorted((bundle / "tiers").glob("*/report.json")):
        name = str(path.relative_to(bundle))
        data = _load_json(path, problems)
        problem = None if data is None else _schema_problem(name, data, report_schema())
        if problem:
            problems.append(problem)
        elif data is not None:
            reports.append((name, data))
    return reports


def _report_versions(name: str, data: Mapping[str, Any], cert: Mapping[str, Any]) -> list[str]:
    """A report's meshconform, Istio and product against certification.json's."""
    problems: list[str] = []
    meshconform, release, product = cert["meshconform"], cert["istio"]["release"], cert["product"]
    if data["meshconform"] != meshconform:
        problems.append(
            f"version mismatch: {name} says meshconform {data['meshconform']}, "
            f"certification.json {meshconform}"
        )
    if data["istio"]["version"] not in (None, release):
        problems.append(
            f"version mismatch: {name} says Istio {data['istio']['version']}, "
            f"certification.json {release}"
        )
    if data["product"] not in (None, product):
        problems.append(
            f"product mismatch: {name} says {data['product']}, certification.json {product}"
        )
    minor = cert["istio"]["minor"]
    other = [r for r in data["claims"] if r.get("istio_version") not in (None, minor)]
    if other:
        problems.append(
            f"version mismatch: {name}: {other[0]['id']} in {other[0]['mode']} ran on Istio "
            f"{other[0]['istio_version']}, certification.json {minor}"
        )
    return problems


def _check_versions(
    bundle: Path, report: Mapping[str, Any], cert: Mapping[str, Any], env: Mapping[str, Any]
) -> list[str]:
    problems: list[str] = []
    meshconform = cert["meshconform"]
    release = cert["istio"]["release"]
    product = cert["product"]
    if env["meshconform"] != meshconform:
        problems.append(
            f"version mismatch: environment.json says meshconform {env['meshconform']}, "
            f"certification.json {meshconform}"
        )
    if env["istio"]["release"] != release or env["istio"]["minor"] != cert["istio"]["minor"]:
        problems.append(
            f"version mismatch: environment.json says Istio {env['istio']['release']}, "
            f"certification.json {release}"
        )
    if (env.get("product") or {}).get("name") != product:
        problems.append(
            f"product mismatch: environment.json says {(env.get('product') or {}).get('name')}, "
            f"certification.json {product}"
        )
    reports = [("report.json", report), *_tier_reports(bundle, problems)]
    for name, data in reports:
        problems += _report_versions(name, data, cert)
    if report.get("cluster") not in (None, env["cluster"]):
        problems.append(
            f"cluster mismatch: report.json's evidence came from {report['cluster']}, "
            f"environment.json says {env['cluster']}"
        )
    k8s_env = (env.get("kubernetes") or {}).get("version")
    k8s_report = (report.get("kubernetes") or {}).get("version")
    if k8s_env != k8s_report:
        problems.append(
            f"version mismatch: environment.json says Kubernetes {k8s_env}, "
            f"report.json {k8s_report}"
        )
    reproduce = bundle / "REPRODUCE.md"
    if reproduce.is_file():
        text = reproduce.read_text(encoding="utf-8", errors="replace")
        if f"--istio-version {cert['istio']['minor']}" not in text and (
            f"--istio-version {release}" not in text
        ):
            problems.append(
                f"version mismatch: REPRODUCE.md does not run --istio-version "
                f"{cert['istio']['minor']}"
            )
    return problems


def _check_claims(report: Mapping[str, Any], cert: Mapping[str, Any]) -> list[str]:
    unknown = sorted(set(cert["modes"]) - set(MODES))
    if unknown:
        return [
            f"certification.json: modes {', '.join(unknown)} are not in this meshconform's "
            f"catalog ({', '.join(MODES)}); validate with the meshconform version that wrote it"
        ]
    problems: list[str] = []
    required = required_claims(cert["product"], cert["modes"])
    listed = {(c["id"], c["mode"]): c for c in cert["claims"]}
    missing = [f"{cid} in {mode}" for cid, mode in required if (cid, mode) not in listed]
    if missing:
        problems.append(
            f"certification.json: required claims without a verdict: {', '.join(missing)}"
        )
    recomputed = {(c["id"], c["mode"]): c for c in claim_verdicts(report["claims"], required)}
    for key, claim in listed.items():
        actual = recomputed.get(key)
        if actual is None:
            continue
        if claim["verdict"] != actual["verdict"]:
            problems.append(
                f"certification.json: {key[0]} in {key[1]} says {claim['verdict']}, but "
                f"report.json's results give {actual['verdict']} (a required claim's results "
                "are missing or were changed)"
            )
    verdict, _ = certification_verdict(list(recomputed.values()), cert["tier_runs"])
    if not missing and verdict != cert["verdict"]:
        problems.append(
            f"certification.json: verdict {cert['verdict']}, but its claims and tier runs "
            f"give {verdict}"
        )
    return problems


def validate_bundle(bundle: Path) -> list[str]:
    """Every problem with a certification bundle, one line each; empty when it is valid."""
    if not bundle.is_dir():
        return [f"{bundle} is not a directory (pass the --out folder of meshconform certify)"]
    problems = [f"{name}: missing" for name in BUNDLE_FILES if not (bundle / name).is_file()]
    report, cert, env = _check_schemas(bundle, problems)
    if report is not None and cert is not None and env is not None:
        problems += _check_versions(bundle, report, cert, env)
        problems += _check_claims(report, cert)
    problems += check_secrets(bundle)
    return problems
