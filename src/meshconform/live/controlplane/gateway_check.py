"""``meshconform gateway-check``: will my gateway configuration behave as documented?

A team's own Gateway / VirtualService / DestinationRule / Secret YAML is applied to a
gateway lab (meshconform.live.controlplane.gateway_lab: a real API server with Istio's
validation webhook, the real istiod, the ingress gateway as pilot-agent + Envoy), and the
gateway claims are probed on what Envoy then serves:

- the hosts to probe come from the Gateway servers (HTTPS servers' hosts; ``*.example.com``
  is probed as ``gateway-check.example.com``; a server for ``*`` takes the hosts of the
  VirtualServices bound to it);
- the routed backends are local stand-ins the command starts (every VirtualService
  destination answers 200), so ``gateway-routes-by-host`` judges the routing, not a backend;
- a resource the API server or Istio's validation webhook rejects is a FAIL of
  ``istio-resources-admitted`` quoting the message, and nothing is probed;
- ``--ca`` is the CA that signed the Secrets' certificates: each must verify against it
  (the probes verify the served certificate against it too).

The report is the suite's (report.json / report.md with ``--report-dir``), tier
``dataplane``. Exit 0 only if every claim holds; 1 if one does not; 2 for bad input (one
line, nothing left running). Private keys from the Secrets are never printed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from meshconform.claims import Outcome, Verdict, get_catalog
from meshconform.errors import ProvisioningError, UsageError
from meshconform.modes import MODES, get_mode
from meshconform.options import parse_istio
from meshconform.report import ClaimResult, RunInfo, write_report
from meshconform.traffic.gateway import GATEWAY_EVALUATORS, GatewayTarget
from meshconform.traffic.observation import Observation
from meshconform.wait import Timeouts, WaitTimeout

if TYPE_CHECKING:
    from meshconform.live.controlplane.gateway_lab import GatewayLab

KINDS = ("Gateway", "VirtualService", "DestinationRule", "Secret")
ADMITTED = "istio-resources-admitted"
TIER = "dataplane"
CHECK = "meshconform gateway-check"
#: the gateway lab's Istio when none is given (the release the gateway-as-processes runs on)
DEFAULT_LAB_ISTIO = "1.31"


@dataclass
class Resources:
    """What the user's folder holds, checked."""

    objects: list[dict[str, Any]]
    gateways: list[dict[str, Any]]
    hosts: list[str]
    #: host -> path to probe (the first HTTP match of its VirtualService, else "/")
    paths: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _usage(message: str, fix: str) -> UsageError:
    return UsageError(f"meshconform gateway-check: {message}", fix)


def load_resources(folder: Path) -> list[dict[str, Any]]:
    """Every object of the YAML/JSON files in ``folder`` (not recursive), in name order."""
    if not folder.is_dir():
        raise _usage(
            f"{folder} is not a directory",
            "Pass --resources DIR, a folder with your Gateway/VirtualService/Secret YAML",
        )
    files = sorted(
        p for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
    )
    objects: list[dict[str, Any]] = []
    for path in files:
        try:
            docs = list(yaml.safe_load_all(path.read_text("utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            first = str(error).splitlines()[0]
            raise _usage(f"{path.name} is not valid YAML ({first})", "Fix the file") from None
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                raise _usage(
                    f"{path.name} holds a document that is not a Kubernetes object",
                    "Each document needs apiVersion, kind and metadata.name",
                )
            items = doc.get("items") if doc["kind"] == "List" else [doc]
            for obj in items or []:
                if obj.get("kind") not in KINDS:
                    raise _usage(
                        f"{path.name}: {obj.get('kind')} {(obj.get('metadata') or {}).get('name')} "
                        "is not a resource gateway-check takes",
                        f"Keep only {', '.join(KINDS)} in the folder",
                    )
                if not (obj.get("metadata") or {}).get("name"):
                    raise _usage(f"{path.name}: a {obj['kind']} has no metadata.name", "Name it")
                objects.append(obj)
    return objects


def _secret_field(secret: Mapping[str, Any], key: str) -> bytes | None:
    data = secret.get("data") or {}
    if key in data:
        try:
            return base64.b64decode(str(data[key]), validate=True)
        except (binascii.Error, ValueError):
            name = secret["metadata"]["name"]
            raise _usage(f"Secret {name}: data.{key} is not base64", "Encode it") from None
    text = (secret.get("stringData") or {}).get(key)
    return str(text).encode() if text is not None else None


def check_secrets(objects: Sequence[Mapping[str, Any]], ca_pem: bytes) -> list[str]:
    """Each Secret is a TLS Secret whose certificate verifies against the CA; notes on them."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415

    try:
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError:
        raise _usage(
            "--ca holds no PEM certificate", "Pass the PEM CA that signed your Secrets"
        ) from None
    notes = []
    for secret in (o for o in objects if o["kind"] == "Secret"):
        name = secret["metadata"]["name"]
        crt = _secret_field(secret, "tls.crt")
        key = _secret_field(secret, "tls.key")
        if crt is None or key is None:
            raise _usage(
                f"Secret {name} has no {'tls.crt' if crt is None else 'tls.key'}",
                "Give a kubernetes.io/tls Secret with tls.crt and tls.key, as for credentialName",
            )
        try:
            leaf = x509.load_pem_x509_certificates(crt)[0]
        except ValueError:
            raise _usage(f"Secret {name}: tls.crt is not a PEM certificate", "Fix it") from None
        try:
            leaf.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature) as error:
            raise _usage(
                f"Secret {name}: its certificate ({leaf.subject.rfc4514_string()}) does not "
                f"verify against --ca ({ca.subject.rfc4514_string()}){_why(error)}",
                "Pass the CA that signed the Secret's certificate",
            ) from None
        notes.append(
            f"Secret {name}: certificate {leaf.subject.rfc4514_string()}, valid until "
            f"{leaf.not_valid_after_utc:%Y-%m-%d}, signed by --ca"
        )
    return notes


def _why(error: Exception) -> str:
    text = str(error)
    return f": {text}" if text else ""


def probe_host(server_host: str) -> str | None:
    """The name to probe for a Gateway server host (``ns/host`` allowed); None for ``*``."""
    host = server_host.split("/", 1)[1] if "/" in server_host else server_host
    if host == "*":
        return None
    if host.startswith("*."):
        return f"gateway-check.{host[2:]}"
    return host


def _bound(vs: Mapping[str, Any], gateway: Mapping[str, Any]) -> bool:
    names = (vs.get("spec") or {}).get("gateways") or []
    gw = gateway["metadata"]["name"]
    ns = gateway["metadata"].get("namespace")
    return any(n in (gw, f"{ns}/{gw}") or n.endswith(f"/{gw}") for n in names)


def _first_path(vs: Mapping[str, Any]) -> str:
    for rule in (vs.get("spec") or {}).get("http") or []:
        for match in rule.get("match") or []:
            uri = match.get("uri") or {}
            if "exact" in uri:
                return str(uri["exact"])
            if "prefix" in uri:
                return str(uri["prefix"])
        return "/"
    return "/"


def select_hosts(objects: Sequence[dict[str, Any]]) -> Resources:
    """The hosts to probe, from the Gateways' HTTPS servers."""
    gateways = [o for o in objects if o["kind"] == "Gateway"]
    if not gateways:
        raise _usage(
            "the folder holds no Gateway",
            "Add the Gateway whose servers you want checked (networking.istio.io)",
        )
    services = [o for o in objects if o["kind"] == "VirtualService"]
    hosts: list[str] = []
    notes: list[str] = []
    for gateway in gateways:
        for server in (gateway.get("spec") or {}).get("servers") or []:
            protocol = str((server.get("port") or {}).get("protocol", "")).upper()
            if protocol not in ("HTTPS", "TLS"):
                continue
            for raw in server.get("hosts") or []:
                host = probe_host(str(raw))
                candidates = (
                    [host]
                    if host is not None
                    else [
                        str(h)
                        for vs in services
                        if _bound(vs, gateway)
                        for h in (vs.get("spec") or {}).get("hosts") or []
                        if probe_host(str(h))
                    ]
                )
                if host is None:
                    notes.append(
                        f"Gateway {gateway['metadata']['name']}: a server for hosts '*'; probing "
                        f"the hosts of its VirtualServices: {', '.join(candidates) or 'none'}"
                    )
                for candidate in candidates:
                    name = probe_host(candidate)
                    if name and name not in hosts:
                        hosts.append(name)
    if not hosts:
        raise _usage(
            "no Gateway server serves HTTPS for a host to probe",
            "gateway-check probes HTTPS servers (tls.mode SIMPLE, credentialName): add one",
        )
    paths = {}
    for host in hosts:
        for vs in services:
            if host in [probe_host(str(h)) for h in (vs.get("spec") or {}).get("hosts") or []]:
                paths[host] = _first_path(vs)
                break
    return Resources(list(objects), gateways, hosts, paths, notes)


def _result(
    claim_id: str, mode: str, observation: Observation, seconds: float, host: str
) -> ClaimResult:
    expected = get_catalog()[claim_id].expect[mode].outcome
    verdict = observation.verdict(expected)
    return ClaimResult(
        id=claim_id,
        mode=mode,
        tier=TIER,
        verdict=verdict,
        expected=str(expected),
        observed=str(observation.outcome) if observation.outcome else None,
        evidence=observation.text,
        duration_s=round(seconds, 3),
        check=f"{CHECK} ({host})",
    )


def evaluate(
    resources: Resources, endpoint: Any, ca: Path, mode: str, timeouts: Timeouts
) -> list[ClaimResult]:
    """Every gateway claim for every probed host (health once: it is the gateway's)."""
    results = []
    for index, host in enumerate(resources.hosts):
        target = GatewayTarget(
            address=endpoint.host,
            host=host,
            ca=ca,
            https_port=endpoint.https_port,
            http_port=endpoint.http_port,
            health_port=endpoint.status_port,
            path=resources.paths.get(host, "/"),
            timeouts=timeouts,
        )
        for claim_id, evaluator in GATEWAY_EVALUATORS.items():
            if claim_id == "gateway-health" and index > 0:
                continue
            start = time.perf_counter()
            try:
                observation = evaluator(target)
            except WaitTimeout as flapping:
                observation = Observation(claim_id, None, (str(flapping),))
            results.append(_result(claim_id, mode, observation, time.perf_counter() - start, host))
    return results


def admitted_row(mode: str, rejections: Sequence[tuple[str, str]]) -> ClaimResult:
    lines = [f"{what}: rejected by the API server: {why}" for what, why in rejections]
    return ClaimResult(
        id=ADMITTED,
        mode=mode,
        tier=TIER,
        verdict=Verdict.FAIL,
        expected=str(Outcome.HOLDS),
        observed=str(Outcome.BROKEN),
        evidence="\n".join(lines),
        check=CHECK,
    )


def error_rows(mode: str, hosts: Sequence[str], why: str) -> list[ClaimResult]:
    return [
        ClaimResult(
            id=claim_id,
            mode=mode,
            tier=TIER,
            verdict=Verdict.ERROR,
            expected=str(get_catalog()[claim_id].expect[mode].outcome),
            evidence=why,
            check=f"{CHECK} ({host})",
        )
        for host in hosts
        for claim_id in GATEWAY_EVALUATORS
    ]


def add_gateway_check_command(sub: Any) -> dict[str, Any]:
    """Register ``gateway-check``; return {command: handler}."""
    parser = sub.add_parser(
        "gateway-check",
        help="your Gateway/VirtualService/DestinationRule/Secret YAML, compiled by the real "
        "istiod and probed on Envoy: does it behave as documented?",
    )
    parser.add_argument("--resources", type=Path, metavar="DIR")
    parser.add_argument(
        "--ca", type=Path, metavar="CA.pem", help="the CA that signed the Secrets' certificates"
    )
    parser.add_argument("--istio-version", default=None, metavar="V")
    parser.add_argument("--mesh-mode", default="native-sidecar", choices=list(MODES))
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--report-dir", type=Path, default=None)
    parser.add_argument(
        "--keep-lab",
        action="store_true",
        help="leave the gateway lab (control plane, istiod, gateway) running for the next run",
    )
    parser.add_argument("--stop-lab", action="store_true", help="stop a kept gateway lab")
    return {"gateway-check": run_gateway_check}


def run_gateway_check(args: argparse.Namespace, lab: GatewayLab | None = None) -> int:
    """The command; ``lab``: a running gateway lab to use (tests), else open (or reuse) one."""
    from meshconform.live.controlplane.gateway_lab import GatewayLab  # noqa: PLC0415

    release = parse_istio([args.istio_version or DEFAULT_LAB_ISTIO])[0]
    if args.stop_lab:
        stopped = GatewayLab.stop_kept(release)
        print(f"gateway lab {release.minor}: {'stopped' if stopped else 'none kept'}")
        return 0
    if args.resources is None or args.ca is None:
        raise _usage("--resources and --ca are required", "Run 'meshconform gateway-check -h'")
    ca: Path = args.ca
    if not ca.is_file():
        raise _usage(f"--ca {ca} does not exist", "Pass the PEM CA that signed your Secrets")
    objects = load_resources(args.resources)
    resources = select_hosts(objects)
    resources.notes += check_secrets(objects, ca.read_bytes())
    mode = get_mode(args.mesh_mode).name
    timeouts = Timeouts()
    started = time.perf_counter()
    given = lab
    if lab is None:
        try:
            lab = GatewayLab.open(release, keep=args.keep_lab, timeouts=timeouts)
        except ProvisioningError as error:
            raise UsageError(
                f"meshconform gateway-check: the gateway lab did not start: {error}",
                "See the log it quotes",
            ) from None
    try:
        results, timings, evidence = _check(lab, resources, ca, mode, timeouts)
    except ProvisioningError as error:
        raise UsageError(
            f"meshconform gateway-check: {error}", "Try again when it is free"
        ) from None
    finally:
        if given is None:
            lab.close()
    timings["total"] = round(time.perf_counter() - started, 3)
    for row in results:
        notes = "\n".join(f"[gateway lab] {n}" for n in [*resources.notes, *evidence])
        row.evidence = (
            f"{row.evidence}\n{notes}".strip() if row.verdict is not Verdict.PASS else row.evidence
        )
    info = RunInfo(
        modes=[mode],
        tiers=[TIER],
        istio_version=release.minor,
        command=f"{CHECK} --resources {args.resources} --ca {ca}",
        timings=timings,
        cluster="controlplane",
    )
    if args.report_dir is not None:
        write_report(results, info, args.report_dir)
    _print(results, args.format, resources, timings)
    ok = all(r.verdict is Verdict.PASS for r in results)
    return 0 if ok else 1


def _check(
    lab: GatewayLab, resources: Resources, ca: Path, mode: str, timeouts: Timeouts
) -> tuple[list[ClaimResult], dict[str, float], list[str]]:
    """Serve the resources on the lab and probe them; rows, timings, the lab's evidence."""
    from meshconform.live.controlplane.gateway_lab import (  # noqa: PLC0415
        GatewayRejected,
        ResourceRejected,
    )

    timings = dict(lab.timings)
    evidence = [*lab.evidence]
    try:
        with lab.serve(resources.objects, hosts=resources.hosts) as served:
            timings.update(served.timings)
            evidence += served.notes
            probe_start = time.perf_counter()
            results = evaluate(resources, served.endpoint, ca, mode, timeouts)
            timings["probe"] = round(time.perf_counter() - probe_start, 3)
    except ResourceRejected as rejected:
        results = [
            admitted_row(mode, rejected.rejections),
            *error_rows(mode, resources.hosts, "not probed: a resource was rejected"),
        ]
    except GatewayRejected as nack:
        why = "Envoy rejected the config istiod compiled:\n" + "\n".join(nack.messages)
        results = error_rows(mode, resources.hosts, why)
    return results, timings, evidence


def _print(
    results: Sequence[ClaimResult], fmt: str, resources: Resources, timings: Mapping[str, float]
) -> None:
    if fmt == "json":
        print(json.dumps([r.to_json() for r in results], indent=2))
        return
    print(f"hosts probed: {', '.join(resources.hosts)}")
    for note in resources.notes:
        print(f"  {note}")
    for r in results:
        print(
            f"{r.verdict.value.upper():5} {r.id} [{r.check}]: expected {r.expected}, "
            f"observed {r.observed or 'nothing'}"
        )
        if r.verdict is not Verdict.PASS:
            for line in r.evidence.splitlines():
                if not line.startswith("[gateway lab]"):
                    print(f"      {line}")
    print("timings (s): " + ", ".join(f"{k} {v}" for k, v in timings.items()))
    sys.stdout.flush()
