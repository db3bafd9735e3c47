"""Install Istio once per cluster with the mode's overlay, then wait until it really serves.

``istioctl install -y -f fixtures/istio/<mode>.yaml --set hub=<ISTIO_HUB> --set
tag=<release>``, skipped when istiod already runs that release. Then, each by
watching (shared/research/istio-behaviours.md section 5, "Flakiness sources"):

1. the Istio CRDs are Established;
2. istiod is available and its validation webhook enforces: a server-side dry-run
   create of an INVALID, unlabelled VirtualService is denied (an admitted one proves
   nothing: the default validator fails open until istiod is up);
3. the mode's node agents (istio-cni-node, ztunnel) are ready on every node;
4. the ingress gateway is ready and exposes the NodePorts kind maps to the host.

A failure names the component and why (pod states, recent warning events).
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from meshconform import paths
from meshconform.errors import ProvisioningError, UsageError
from meshconform.live.clusters import (
    GATEWAY_NODEPORTS,
    Cluster,
    GatewayEndpoint,
    Runner,
    run_command,
)
from meshconform.live.kube import Kube
from meshconform.modes import Mode
from meshconform.observe.pods import describe_pod
from meshconform.static.install import as_istio_operator
from meshconform.versions import ISTIO_HUB, IstioRelease
from meshconform.wait import (
    Decision,
    Done,
    Failed,
    Pending,
    Timeouts,
    WaitFailed,
    WaitTimeout,
    conditions,
    wait_until,
)

ISTIO_NAMESPACE = "istio-system"
ISTIOD = "istiod"
GATEWAY = "istio-ingressgateway"
#: the CRDs every check relies on; all *.istio.io CRDs present are waited on as well
CORE_CRDS = (
    "virtualservices.networking.istio.io",
    "destinationrules.networking.istio.io",
    "gateways.networking.istio.io",
    "serviceentries.networking.istio.io",
    "sidecars.networking.istio.io",
    "peerauthentications.security.istio.io",
    "authorizationpolicies.security.istio.io",
)
#: the object the webhook probe dry-runs (nothing is stored). It is INVALID for Istio's
#: validation (an HTTP route with no destination, redirect or direct response), valid for
#: the CRD schema, and carries no ``istio.io/rev`` label: only the default-revision
#: validator (``istiod-default-validator``) sees it, and that one starts with
#: ``failurePolicy: Ignore`` until istiod flips it. So the webhook is ready only when it
#: DENIES this object; an admitted dry run proves nothing (shared/research/
#: controlplane.md "What it showed").
WEBHOOK_PROBE: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "meshconform-webhook-probe", "namespace": ISTIO_NAMESPACE},
    "spec": {"hosts": ["meshconform-webhook-probe.invalid"], "http": [{"name": "no-route"}]},
}
_WEBHOOK_NOT_READY = (
    "failed calling webhook",
    "connection refused",
    "no endpoints available",
    "context deadline exceeded",
    "service unavailable",
)


@dataclass(frozen=True)
class InstallResult:
    version: str
    reused: bool
    seconds: float


#: time istioctl needs besides its readiness wait (render, apply, webhook tag), so that
#: istioctl's own "resources not ready" report arrives before the process is killed
INSTALL_MARGIN = 120.0


def install_argv(
    istioctl: Path,
    mode: Mode,
    release: IstioRelease,
    kubeconfig: Path,
    context: str | None,
    *,
    readiness_timeout: float | None = None,
    files: Sequence[Path] = (),
    sets: Sequence[str] = (),
) -> list[str]:
    """``istioctl install``: the mode's overlay, then the user's files (later ones win)."""
    argv = [str(istioctl), "install", "-y", "-f", str(mode.istio_overlay)]
    for extra in files:
        argv += ["-f", str(extra)]
    argv += [
        "--set",
        f"hub={ISTIO_HUB}",
        "--set",
        f"tag={release.release}",
    ]
    for value in sets:
        argv += ["--set", value]
    argv += ["--kubeconfig", str(kubeconfig)]
    if context:
        argv += ["--context", context]
    if readiness_timeout is not None:
        argv += ["--readiness-timeout", f"{max(1, round(readiness_timeout))}s"]
    return argv


def operator_overlay(path: Path) -> Path:
    """``path`` as an IstioOperator file ``istioctl install -f`` accepts.

    An IstioOperator is used as is; Helm values are wrapped as ``spec.values`` (their
    ``meshConfig`` as ``spec.meshConfig``) into the suite's cache, named by content.
    """
    text = as_istio_operator(path)
    if text == path.read_text("utf-8"):
        return path
    folder = paths.cache_dir() / "istio-config"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    target = folder / f"{path.stem}-{digest}.yaml"
    if not target.is_file():
        target.write_text(text, "utf-8")
    return target


def image_tag(image: str) -> str | None:
    """``docker.io/istio/pilot:1.30.3-distroless`` -> ``1.30.3`` (None without a tag)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    return last.split(":", 1)[1].removesuffix("-distroless")


def installed_version(istiod: dict[str, Any] | None) -> str | None:
    """The release istiod runs, read from its ``discovery`` container image."""
    if istiod is None:
        return None
    containers = (((istiod.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    for container in containers:
        if container.get("name") == "discovery":
            return image_tag(container.get("image", ""))
    return None


def webhook_decision(error: str | None) -> Decision[str]:
    """Is the validation webhook enforcing, given the dry run's error (None = admitted)?

    Ready means it DENIED the invalid probe. Admitted means no validating webhook saw it
    or one failed open (``failurePolicy: Ignore``): keep waiting.
    """
    if error is None:
        return Pending(
            "an invalid VirtualService was admitted: the default-revision validator is "
            "missing, or failing open (failurePolicy Ignore) while istiod is not answering"
        )
    first = error.splitlines()[0][:300]
    lowered = error.lower()
    if any(marker in lowered for marker in _WEBHOOK_NOT_READY):
        return Pending(f"webhook not answering yet: {first}")
    if "denied the request" in lowered:
        return Done(first, f"the webhook denied the invalid probe: {first}")
    return Failed(f"dry-run create of the webhook probe failed: {first}")


def istio_validators(configs: Sequence[dict[str, Any]]) -> list[str]:
    """Names of Istio's validating webhooks among ValidatingWebhookConfigurations.

    ``istiod-default-validator`` and ``istio-validator-<rev>`` hold webhooks named
    ``*.validation.istio.io`` (manifests/charts/base and istio-discovery).
    """
    return [
        hook.get("name", "")
        for config in configs
        for hook in config.get("webhooks") or []
        if str(hook.get("name", "")).endswith("validation.istio.io")
    ]


def gateway_nodeport_problem(service: dict[str, Any] | None) -> str | None:
    """Why the gateway Service does not expose the NodePorts kind maps, or None."""
    if service is None:
        return f"Service {ISTIO_NAMESPACE}/{GATEWAY} does not exist"
    ports = {p.get("nodePort") for p in (service.get("spec") or {}).get("ports") or []}
    missing = sorted(p for p in GATEWAY_NODEPORTS.values() if p not in ports)
    if missing:
        return (
            f"Service {ISTIO_NAMESPACE}/{GATEWAY} has nodePorts {sorted(map(str, ports))}, "
            f"kind maps {missing} to the host (fixtures/istio/<mode>.yaml must pin them)"
        )
    if (service.get("spec") or {}).get("externalTrafficPolicy") == "Local":
        return (
            "the gateway Service has externalTrafficPolicy Local: the NodePort on the "
            "control-plane node only answers if a gateway pod runs there; keep Cluster"
        )
    return None


def gateway_from_service(
    service: dict[str, Any], nodes: Sequence[dict[str, Any]]
) -> GatewayEndpoint:
    """Where an existing cluster's gateway answers: its LoadBalancer, else a node + nodePorts."""
    ports = (service.get("spec") or {}).get("ports") or []
    by_port = {p.get("port"): p for p in ports}
    wanted = {"http": 80, "https": 443, "status": 15021}
    missing = [str(n) for n in wanted.values() if n not in by_port]
    if missing:
        raise ProvisioningError(
            f"Service {ISTIO_NAMESPACE}/{GATEWAY} has no port {', '.join(missing)}"
        )
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if ingress:
        host = ingress[0].get("ip") or ingress[0].get("hostname")
        if host:
            return GatewayEndpoint(host, 80, 443, 15021)
    for address_type in ("ExternalIP", "InternalIP"):
        for node in nodes:
            for address in (node.get("status") or {}).get("addresses") or []:
                if address.get("type") == address_type and address.get("address"):
                    node_ports = [by_port[n].get("nodePort") for n in wanted.values()]
                    if not all(node_ports):
                        raise ProvisioningError(
                            f"Service {ISTIO_NAMESPACE}/{GATEWAY} has no LoadBalancer "
                            "address and no nodePorts"
                        )
                    http, https, status = (int(p) for p in node_ports)
                    return GatewayEndpoint(address["address"], http, https, status)
    raise ProvisioningError(
        f"no address to reach {GATEWAY}: no LoadBalancer ingress and no node address"
    )


class IstioInstaller:
    """Installs and waits for Istio on one cluster; ``runner`` is injectable for tests."""

    def __init__(
        self,
        istioctl: Path,
        release: IstioRelease,
        timeouts: Timeouts,
        runner: Runner = run_command,
        *,
        files: Sequence[Path] = (),
        sets: Sequence[str] = (),
    ) -> None:
        self.istioctl = istioctl
        self.release = release
        self.timeouts = timeouts
        self._run = runner
        #: --istio-config files, layered on the mode's overlay, as IstioOperator overlays
        #: (Helm values files are wrapped, as the static tier does)
        self.files = tuple(operator_overlay(f) for f in files)
        #: extra --set flags (the controlplane cluster's webhook URLs)
        self.sets = tuple(sets)
        #: the webhook's answer to the invalid probe, once it denied it
        self.webhook_denial: str | None = None
        #: seconds per step ("istioctl install", then each component waited on)
        self.step_seconds: dict[str, float] = {}

    def ensure(self, cluster: Cluster) -> InstallResult:
        """Install (unless this release already runs) and wait; records ``phases['istio']``."""
        started = time.monotonic()
        kube = cluster.kube
        current = installed_version(kube.get("apps/v1", "Deployment", ISTIOD, ISTIO_NAMESPACE))
        if current is not None and current != self.release.release:
            raise UsageError(
                f"cluster {cluster.name} already runs Istio {current}, this run installs "
                f"{self.release.release}",
                f"Pass --istio-version {current}, or delete the cluster "
                f"(kind delete cluster --name {cluster.name}) and run again",
            )
        reused = current == self.release.release
        if not reused:
            self._install(cluster)
            self.step_seconds["istioctl install"] = round(time.monotonic() - started, 3)
        self.wait_ready(kube, cluster.mode, check_nodeports=cluster.gateway is not None)
        seconds = time.monotonic() - started
        cluster.phases["istio"] = seconds
        return InstallResult(self.release.release, reused, seconds)

    def _install(self, cluster: Cluster) -> None:
        # istioctl waits for readiness itself (default 5m, the same as istio_install): let
        # it report which component is not ready instead of killing it at that moment
        argv = install_argv(
            self.istioctl,
            cluster.mode,
            self.release,
            cluster.kubeconfig,
            cluster.context,
            readiness_timeout=self.timeouts.istio_install,
            files=self.files,
            sets=self.sets,
        )
        limit = self.timeouts.istio_install + INSTALL_MARGIN
        try:
            done = self._run(argv, limit)
        except subprocess.TimeoutExpired:
            raise ProvisioningError(
                f"istioctl install ({cluster.mode.name}, Istio {self.release.release}) gave no "
                f"result within {limit:.0f}s\n" + diagnose(cluster.kube)
            ) from None
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise ProvisioningError(
                f"istioctl install ({cluster.mode.name}, Istio {self.release.release}) failed "
                f"(exit {done.returncode}):\n{tail}\n" + diagnose(cluster.kube)
            )

    def wait_ready(self, kube: Kube, mode: Mode, check_nodeports: bool = True) -> None:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("Istio CRDs", lambda: self._crds(kube)),
            (
                "istiod",
                lambda: self._workload(
                    kube,
                    "Deployment",
                    ISTIOD,
                    conditions.deployment_ready,
                    self.timeouts.deployment_ready,
                ),
            ),
            ("istiod validation webhook", lambda: self._webhook(kube)),
            *((ds, self._daemonset_step(kube, ds)) for ds in mode.daemonsets),
            (
                GATEWAY,
                lambda: self._workload(
                    kube,
                    "Deployment",
                    GATEWAY,
                    conditions.deployment_ready,
                    self.timeouts.deployment_ready,
                ),
            ),
        ]
        for component, step in steps:
            began = time.monotonic()
            try:
                step()
                self.step_seconds[component] = round(time.monotonic() - began, 3)
            except (WaitFailed, WaitTimeout) as error:
                raise ProvisioningError(
                    f"Istio {self.release.release} ({mode.name}): {component} not ready: "
                    f"{error}\n" + diagnose(kube)
                ) from None
        if check_nodeports:
            problem = gateway_nodeport_problem(kube.get("v1", "Service", GATEWAY, ISTIO_NAMESPACE))
            if problem is not None:
                raise ProvisioningError(f"Istio ({mode.name}): {problem}")

    def _daemonset_step(self, kube: Kube, name: str) -> Callable[[], None]:
        return lambda: self._workload(
            kube, "DaemonSet", name, conditions.daemonset_ready, self.timeouts.daemonset_ready
        )

    def _crds(self, kube: Kube) -> None:
        present = {
            c["metadata"]["name"]
            for c in kube.list("apiextensions.k8s.io/v1", "CustomResourceDefinition")
            if c["metadata"]["name"].endswith(".istio.io")
        }
        for name in sorted(present | set(CORE_CRDS)):
            kube.watch_until(
                f"CRD {name} established",
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                name,
                None,
                conditions.crd_established,
                self.timeouts.crd_established,
            )

    def _workload(
        self,
        kube: Kube,
        kind: str,
        name: str,
        ready: Callable[[dict[str, Any] | None], Decision[Any]],
        timeout: float,
    ) -> None:
        def condition(obj: dict[str, Any] | None) -> Decision[Any]:
            decision = ready(obj)
            if obj is None or not isinstance(decision, Pending):
                return decision
            pods = kube.list(
                "v1", "Pod", ISTIO_NAMESPACE, label_selector=conditions.selector_of(obj)
            )
            return conditions.with_pods(decision, pods)

        kube.watch_until(
            f"{kind} {ISTIO_NAMESPACE}/{name} ready",
            "apps/v1",
            kind,
            name,
            ISTIO_NAMESPACE,
            condition,
            timeout,
        )

    def _webhook(self, kube: Kube) -> None:
        configs = kube.list(
            "admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", None
        )
        if not istio_validators(configs):
            # Validation switched off (global.configValidation=false): nothing will ever
            # deny, and waiting for a denial would turn that into a setup error. The
            # istio-resources-admitted check then observes the invalid probe admitted.
            self.webhook_denial = (
                "no Istio validating webhook is configured (global.configValidation off?): "
                "nothing to wait for"
            )
            return
        resource = kube.dynamic.resources.get(
            api_version=WEBHOOK_PROBE["apiVersion"], kind=WEBHOOK_PROBE["kind"]
        )

        def probe() -> Decision[str]:
            try:
                kube.dynamic.create(
                    resource, body=WEBHOOK_PROBE, namespace=ISTIO_NAMESPACE, dry_run="All"
                )
            except ApiException as error:
                body = error.body.decode() if isinstance(error.body, bytes) else error.body
                return webhook_decision(f"{error.status} {error.reason}: {body or ''}")
            return webhook_decision(None)

        # No watch can tell when a webhook starts answering: poll the dry run.
        self.webhook_denial = wait_until(
            "istiod validation webhook denies an invalid VirtualService",
            probe,
            self.timeouts.webhook_ready,
            interval=1.0,
        )


def diagnose(kube: Kube, namespace: str = ISTIO_NAMESPACE, events: int = 15) -> str:
    """Pod states and the latest warning events of the Istio namespace, for an error message."""
    lines: list[str] = []
    try:
        pods = kube.list("v1", "Pod", namespace)
        lines += [f"  {describe_pod(p)}" for p in pods] or [f"  no pods in {namespace}"]
        warnings = [e for e in kube.events(namespace) if e.get("type") == "Warning"]
        lines += [f"  event {_event_line(e)}" for e in warnings[-events:]]
    except (ApiException, OSError) as error:
        lines.append(f"  (could not read {namespace}: {str(error).splitlines()[0]})")
    return "state of " + namespace + ":\n" + "\n".join(lines)


def _event_line(event: dict[str, Any]) -> str:
    involved = event.get("involvedObject") or {}
    return (
        f"{involved.get('kind', '')}/{involved.get('name', '')}: {event.get('reason', '')}: "
        f"{event.get('message', '')}".strip()
    )


def ensure_istio(
    cluster: Cluster,
    release: IstioRelease,
    istioctl: Path,
    timeouts: Timeouts,
    runner: Runner = run_command,
) -> InstallResult:
    return IstioInstaller(istioctl, release, timeouts, runner).ensure(cluster)
