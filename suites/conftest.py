"""Shared fixtures of the live checks, built on the plugin's contract.

Cost decides scope (STYLE.md rule 8). The plugin's ``kube`` is per check, so apps
shared by several checks are kept in :class:`SharedApps`, one per mode, created on
first use and deleted at the end of the session (unless ``--keep``):

- ``strict_echo``: echo in an enrolled namespace under PeerAuthentication STRICT
  (the in-mesh target of init-container, start-up and gateway checks);
- ``outside``: a namespace outside the mesh with the ``external`` servers (no
  Service: addressed by pod IP, so not in the service registry) and a plaintext
  ``echo`` (the plaintext-accepting server of the bypass workaround).

Per check and cheap: a client pod to exec curl in (``client_in``), an echo in the
check's own namespace (``echo_in``), and the gateway's routes and Secret
(``gateway_target``).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from meshconform import manifests
from meshconform.certs import TestCA
from meshconform.live.clusters import Cluster
from meshconform.live.istio import ISTIO_NAMESPACE
from meshconform.modes import Mode
from meshconform.options import RunOptions
from meshconform.plugin.live import note_namespace
from meshconform.setups import Remembered
from meshconform.traffic.gateway import GatewayTarget
from meshconform.wait import Timeouts, conditions
from meshconform.wait.probes import PodClient
from meshconform.wait.workloads import get_ready_pod

#: host names of the external servers; .test is reserved (RFC 2606), so never real
EXTERNAL_HTTP_HOST = "http.external.meshconform.test"
EXTERNAL_TLS_HOST = "tls.external.meshconform.test"
UNREGISTERED_HOST = "unregistered.meshconform.test"
RUN_CA_PATH = "/etc/meshconform/ca.pem"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class Echo:
    namespace: str

    @property
    def host(self) -> str:
        return f"echo.{self.namespace}.svc.cluster.local"

    def url(self, path: str = "/get") -> str:
        return f"http://{self.host}{path}"


@dataclass(frozen=True)
class Outside:
    """The namespace outside the mesh and what runs there."""

    namespace: str
    external_ip: str  # the external pod: port 80 HTTP, 443 TLS for EXTERNAL_TLS_HOST
    echo_cluster_ip: str  # plaintext echo's Service

    def resolve(self, host: str, port: int) -> str:
        """``curl --resolve`` value sending ``host`` to the external pod."""
        return f"{host}:{port}:{self.external_ip}"


@dataclass
class SharedApps(Remembered):
    """Shared apps per (app, mode): made once; a failed one is remembered (``Remembered``),
    so every check that needs it ends ``error`` at once with the first cause."""

    cleanups: list[Callable[[], None]] = field(default_factory=list)


@pytest.fixture(scope="session")
def shared_apps(run_options: RunOptions) -> Iterator[SharedApps]:
    apps = SharedApps()
    yield apps
    if not run_options.keep_namespaces:
        for cleanup in reversed(apps.cleanups):
            cleanup()


def _shared_namespace(kube: Any, apps: SharedApps, stem: str, labels: dict[str, str]) -> str:
    name = f"mc-{stem}-{secrets.token_hex(3)}"
    kube.create_namespace(name, {**labels, "meshconform.io/check": "true"})

    def cleanup() -> None:
        if not kube.closed:  # a released cluster is gone (or kept) with its namespaces
            kube.delete_namespace(name)

    apps.cleanups.append(cleanup)
    return name


def _deploy(kube: Any, relpath: str, namespace: str, timeouts: Timeouts,
            **variables: str) -> None:
    """Apply a manifest and wait for each of its Deployments to be available."""
    objs = kube.apply_all(manifests.load_manifests(relpath, NAMESPACE=namespace, **variables),
                          namespace)
    for obj in objs:
        if obj["kind"] == "Deployment":
            name = obj["metadata"]["name"]
            kube.watch_until(f"deployment {namespace}/{name} available", "apps/v1",
                             "Deployment", name, namespace, conditions.deployment_ready,
                             timeout=timeouts.deployment_ready)


@pytest.fixture
def strict_echo(request: pytest.FixtureRequest, cluster: Cluster, kube: Any, mode: Mode,
                shared_apps: SharedApps, timeouts: Timeouts) -> Echo:
    """echo in an enrolled namespace under STRICT mTLS, shared by the checks of a mode.
    A failed check's artifacts include its namespace."""

    def create() -> Echo:
        ns = _shared_namespace(kube, shared_apps, "strict-echo", dict(mode.namespace_labels))
        kube.apply_all(manifests.load_manifests("security/peer-authentication.yaml",
                                                MTLS_MODE="STRICT"), ns)
        _deploy(kube, "workloads/echo.yaml", ns, timeouts)
        return Echo(ns)

    echo: Echo = shared_apps.get(("strict_echo", mode.name),
                                      f"the shared app strict-echo ({mode.name})", create)
    note_namespace(request.node, cluster, echo.namespace)
    return echo


@pytest.fixture
def outside(request: pytest.FixtureRequest, cluster: Cluster, kube: Any, mode: Mode,
            shared_apps: SharedApps, timeouts: Timeouts, run_ca: TestCA) -> Outside:
    """The external servers and a plaintext echo, in a namespace outside the mesh.
    A failed check's artifacts include its namespace."""

    def create() -> Outside:
        ns = _shared_namespace(kube, shared_apps, "outside", {})
        cert = run_ca.issue([EXTERNAL_TLS_HOST], stem=f"external-{ns}")
        kube.apply_all(manifests.load_manifests(
            "workloads/tls-secret.yaml", NAME="external-tls",
            TLS_CRT_B64=b64(cert.cert_pem()), TLS_KEY_B64=b64(cert.key_pem())), ns)
        _deploy(kube, "workloads/external.yaml", ns, timeouts)
        _deploy(kube, "workloads/echo.yaml", ns, timeouts)
        pod = get_ready_pod(kube, ns, "app=external", timeouts)
        service = kube.get("v1", "Service", "echo", ns) or {}
        return Outside(ns, str(pod["status"]["podIP"]), str(service["spec"]["clusterIP"]))

    found: Outside = shared_apps.get(("outside", mode.name),
                                     f"the shared app outside ({mode.name})", create)
    note_namespace(request.node, cluster, found.namespace)
    return found


ClientFactory = Callable[..., PodClient]


@pytest.fixture
def client_in(kube: Any, apply: Callable[..., list[dict[str, Any]]], timeouts: Timeouts,
              run_ca: TestCA) -> ClientFactory:
    """``client_in(namespace, manifest=..., app=...)``: a Ready curl pod, with the run CA at
    ``/etc/meshconform/ca.pem``."""

    def make(namespace: str, manifest: str = "workloads/client.yaml",
             app: str = "client") -> PodClient:
        apply("workloads/run-ca.yaml", namespace, CA_PEM_B64=b64(run_ca.cert_path.read_bytes()))
        apply(manifest, namespace)
        pod = get_ready_pod(kube, namespace, f"app={app}", timeouts)
        return PodClient(kube, namespace, str(pod["metadata"]["name"]), timeouts)

    return make


@pytest.fixture
def echo_in(kube: Any, apply: Callable[..., list[dict[str, Any]]],
            timeouts: Timeouts) -> Callable[[str], Echo]:
    """``echo_in(namespace)``: echo deployed and available in the check's own namespace."""

    def make(namespace: str) -> Echo:
        apply("workloads/echo.yaml", namespace)
        kube.watch_until(f"deployment {namespace}/echo available", "apps/v1", "Deployment",
                         "echo", namespace, conditions.deployment_ready,
                         timeout=timeouts.deployment_ready)
        return Echo(namespace)

    return make


@pytest.fixture
def gateway_target(kube: Any, apply: Callable[..., list[dict[str, Any]]], gateway: Any,
                   mesh_ns: str, strict_echo: Echo, run_ca: TestCA, timeouts: Timeouts,
                   run_options: RunOptions) -> Iterator[GatewayTarget]:
    """Gateway + VirtualServices for two hosts unique to this check, the certificate from
    the run CA in a Secret in the gateway's namespace; the probe target for them."""
    host = f"{mesh_ns}.gw.meshconform.test"
    other = f"other-{mesh_ns}.gw.meshconform.test"
    credential = f"mc-gw-{mesh_ns}"
    cert = run_ca.issue([host, other], stem=credential)
    kube.apply_all(manifests.load_manifests(
        "workloads/tls-secret.yaml", NAME=credential,
        TLS_CRT_B64=b64(cert.cert_pem()), TLS_KEY_B64=b64(cert.key_pem())), ISTIO_NAMESPACE)
    apply("gateway/gateway.yaml", mesh_ns, HOST=host, OTHER_HOST=other, CREDENTIAL=credential)
    apply("gateway/virtual-services.yaml", mesh_ns, HOST=host, OTHER_HOST=other,
          BACKEND=strict_echo.host)
    yield GatewayTarget(address=gateway.host, host=host, ca=run_ca.cert_path,
                        https_port=gateway.https_port, http_port=gateway.http_port,
                        health_port=gateway.status_port, path="/get", timeouts=timeouts)
    if not run_options.keep_namespaces:
        kube.delete("v1", "Secret", credential, ISTIO_NAMESPACE)


@pytest.fixture
def other_host_of() -> Callable[[GatewayTarget], str]:
    """The second host the gateway fixture serves (routed to echo's /status/418)."""
    return lambda target: f"other-{target.host}"
