"""The plugin's command-line options and what they become: :class:`RunOptions` and, for
``--probe-gateway``, a :class:`GatewayTarget`. Both are kept in ``config.stash``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from meshconform.errors import UsageError
from meshconform.options import RunOptions, parse_options
from meshconform.products import known_products
from meshconform.traffic.cli import gateway_target
from meshconform.traffic.gateway import GatewayTarget

OPTIONS_KEY = pytest.StashKey[RunOptions]()
PROBE_KEY = pytest.StashKey[GatewayTarget]()

#: the tools whose path an option can give (``--istioctl PATH`` and so on)
BINARY_OPTIONS = ("kind", "kubectl", "istioctl", "helm")

MARKERS = (
    "claim(id, manifests=()): binds a check to a claim of the catalog "
    "(src/meshconform/claims.yaml); manifests: the files under fixtures/ it applies",
    "requires(*capabilities): mode capabilities the check needs; the plugin skips centrally",
    "static: static tier (real istioctl, no cluster)",
    "dataplane: dataplane tier (real Envoy on loopback)",
    "live: live tier (a real cluster with Istio)",
    "workloads: area: pod lifecycle, jobs, start-up order, init containers, injection",
    "egress: area: egress control and DNS proxying",
    "gateway: area: ingress gateway routing and TLS",
    "security: area: mTLS and authorization",
    "probe_gateway: runs only with --probe-gateway, against that reachable gateway",
    "evidence(*sources): live tier: what the verdict rests on (meshconform.evidence); "
    "default the whole data plane; skipped centrally where the cluster cannot give it",
    "mode_independent: the check's subject is the same in every mode (a probed gateway, "
    "the dataplane's Envoy gateway): it runs and reports once, as mode 'any'",
)


def add_options(parser: pytest.Parser) -> None:
    """Register the ``meshconform`` and ``meshconform probe`` option groups."""
    group = parser.getgroup("meshconform", "meshconform conformance suite")
    group.addoption(
        "--mesh-mode",
        action="append",
        default=[],
        metavar="MODE",
        help="sidecar, cni, native-sidecar, cni-native-sidecar, ambient, or all (repeatable, "
        "comma separated; default all)",
    )
    group.addoption(
        "--istio-version",
        action="append",
        default=[],
        metavar="VERSION",
        help="supported Istio minor or patch, or all (static tier: several)",
    )
    group.addoption(
        "--tier",
        action="append",
        default=[],
        metavar="TIER",
        help="static, dataplane, live, or all (default: static,dataplane)",
    )
    group.addoption("--product", default=None, help="target product to install and check")
    group.addoption(
        "--kubernetes-version",
        default=None,
        metavar="MINOR",
        help="Kubernetes minor of the kind node image (default from versions.py)",
    )
    group.addoption(
        "--cluster",
        default=None,
        choices=("kind", "controlplane"),
        help="live tier: kind (default; Docker) or controlplane (a real API server, "
        "controllers and istiod as processes, no kubelet)",
    )
    group.addoption(
        "--istio-config",
        action="append",
        default=[],
        metavar="FILE",
        help="live tier: your IstioOperator or Helm values, layered on the mode's overlay",
    )
    group.addoption(
        "--kubeconfig",
        default=None,
        help="use this existing cluster instead of creating a kind cluster",
    )
    group.addoption("--context", default=None, help="kubeconfig context (with --kubeconfig)")
    group.addoption(
        "--keep-cluster",
        action="store_true",
        help="do not delete the kind clusters this run created",
    )
    group.addoption(
        "--reuse-cluster",
        action="store_true",
        help="use an existing kind cluster of the same name if there is one",
    )
    group.addoption(
        "--keep", action="store_true", help="keep each check's namespace for inspection"
    )
    group.addoption(
        "--report-dir",
        default=None,
        help="where report.json, report.md and junit.xml go (default meshconform-report)",
    )
    group.addoption(
        "--artifacts-dir",
        default=None,
        help="where failed checks' diagnostics go (default <report-dir>/artifacts)",
    )
    group.addoption(
        "--timeout-scale", type=float, default=1.0, help="multiply every timeout (slow machines)"
    )
    group.addoption(
        "--timeout-override",
        action="append",
        default=[],
        metavar="NAME=SECONDS",
        help="set one field of Timeouts, e.g. pod_ready=300 (repeatable; after --timeout-scale)",
    )
    for tool in BINARY_OPTIONS:
        group.addoption(
            f"--{tool}",
            default=None,
            metavar="PATH",
            help=f"path of the {tool} binary (default: resolve it)"
            + ("; every tier uses it" if tool == "istioctl" else ""),
        )
    probe = parser.getgroup(
        "meshconform probe", "the gateway claims against any reachable Istio ingress gateway"
    )
    probe.addoption(
        "--probe-gateway",
        default=None,
        metavar="HOST:PORT",
        help="the gateway's HTTPS address; runs only the gateway probe checks, no cluster needed",
    )
    probe.addoption("--probe-host", default=None, help="a host one Gateway server serves")
    probe.addoption(
        "--probe-ca",
        default=None,
        type=Path,
        metavar="CA.pem",
        help="CA (PEM) that signed that host's certificate",
    )
    probe.addoption("--probe-http-port", type=int, default=80)
    probe.addoption("--probe-health-port", type=int, default=15021)
    probe.addoption("--probe-path", default="/")


def is_controller(config: pytest.Config) -> bool:
    """True in the process that runs the session (not an xdist worker)."""
    return not hasattr(config, "workerinput")


def options_from(config: pytest.Config) -> RunOptions:
    """The run's options, checked; raises UsageError on bad input."""
    get = config.getoption
    return parse_options(
        mesh_modes=get("mesh_mode"),
        istio_versions=get("istio_version"),
        tiers=get("tier"),
        product=get("product"),
        kubernetes=get("kubernetes_version"),
        kubeconfig=get("kubeconfig"),
        context=get("context"),
        keep_cluster=get("keep_cluster"),
        reuse_cluster=get("reuse_cluster"),
        keep_namespaces=get("keep"),
        report_dir=get("report_dir"),
        artifacts_dir=get("artifacts_dir"),
        timeout_scale=get("timeout_scale"),
        timeout_overrides=get("timeout_override"),
        binaries={t: get(t) for t in BINARY_OPTIONS},
        known_products=known_products(),
        cluster=get("cluster"),
        istio_config=get("istio_config"),
    )


def probe_target_from(config: pytest.Config) -> GatewayTarget | None:
    """The gateway named by --probe-* options, checked like ``meshconform probe gateway``."""
    get = config.getoption
    given = {name: get(name) for name in ("probe_gateway", "probe_host", "probe_ca")}
    if not any(given.values()):
        return None
    missing = [f"--{n.replace('_', '-')}" for n, v in given.items() if not v]
    if missing:
        raise UsageError(
            f"probing a gateway needs {', '.join(missing)} too",
            "Pass --probe-gateway HOST:PORT --probe-host NAME --probe-ca CA.pem",
        )
    return gateway_target(
        argparse.Namespace(
            address=get("probe_gateway"),
            host=get("probe_host"),
            ca=get("probe_ca"),
            http_port=get("probe_http_port"),
            health_port=get("probe_health_port"),
            path=get("probe_path"),
        )
    )


def run_options(config: pytest.Config) -> RunOptions:
    """The options ``pytest_configure`` stored."""
    return config.stash[OPTIONS_KEY]
