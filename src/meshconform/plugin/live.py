"""The live tier's fixtures and the hooks the plugin core calls.

Hooks (called by the core plugin):

- ``live_session_start(config, options)``: preflight (docker/kind or the API
  server, istioctl) before anything is created, then a ClusterPool in ``config.stash``;
- ``live_session_finish(config)``: the controller deletes the clusters this run created;
- ``collect_failure_artifacts(item, dest)``: diagnostics of a failed check, written
  to ``dest/<check>/`` (``dest`` is the run's artifacts folder);
- ``kubernetes_version(config)``: the API server's version when an existing cluster
  is used (``None`` for kind: the pinned ``--kubernetes`` is what runs).

Fixtures (a contract with the checks): ``cluster``, ``kube``, ``mesh_ns``,
``plain_ns``, ``apply``, ``gateway``, ``istioctl``, ``observable`` (the evidence the
cluster can give: meshconform.evidence). They use the core's ``mode``,
``istio_release``, ``run_options`` and ``timeouts``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import string
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from meshconform import manifests
from meshconform.errors import ProvisioningError, UsageError
from meshconform.evidence import PROVIDES, ClusterKind, Evidence
from meshconform.live import artifacts
from meshconform.live.clusters import (
    Cluster,
    ClusterPool,
    GatewayEndpoint,
    Kind,
    busy_ports,
    check_api_server,
    check_docker,
    gateway_from_kind_config,
    load_kind_config,
)
from meshconform.live.istio import (
    GATEWAY,
    ISTIO_NAMESPACE,
    IstioInstaller,
    gateway_from_service,
    operator_overlay,
)
from meshconform.live.kube import Kube
from meshconform.live.tools import ToolResolver
from meshconform.modes import Mode
from meshconform.options import RunOptions
from meshconform.plugin.matrix import item_mode, item_tier
from meshconform.plugin.results import phase_timings
from meshconform.products.recipes import refuse_foreign_products
from meshconform.versions import CONTROL_PLANE_KUBERNETES, IstioRelease, node_image
from meshconform.wait import Timeouts

if TYPE_CHECKING:
    from meshconform.live.controlplane.binaries import ControlPlaneBinaries

__all__ = [
    "GatewayEndpoint",
    "apply",
    "cluster",
    "collect_failure_artifacts",
    "gateway",
    "istioctl",
    "kube",
    "kubernetes_version",
    "live_session_finish",
    "live_session_start",
    "mesh_ns",
    "namespace_name",
    "note_namespace",
    "observable",
    "plain_ns",
]

ApplyFn = Callable[..., list[dict[str, Any]]]


@dataclass
class LiveState:
    options: RunOptions
    timeouts: Timeouts
    pool: ClusterPool
    controller: bool
    resolvers: dict[str, ToolResolver] = field(default_factory=dict)
    gateways: dict[str, GatewayEndpoint] = field(default_factory=dict)
    #: phases this process did the work for (``results.phase_timings`` of the config)
    timings: dict[str, float] = field(default_factory=dict)
    server_version: str | None = None
    #: --cluster controlplane: the binaries it runs
    binaries: ControlPlaneBinaries | None = None

    def resolver(self, release: IstioRelease) -> ToolResolver:
        if release.release not in self.resolvers:
            self.resolvers[release.release] = ToolResolver(self.options.binaries, istio=release)
        return self.resolvers[release.release]

    def cluster(self, mode: Mode, release: IstioRelease) -> Cluster:
        def prepare(cluster: Cluster) -> None:
            if cluster.kind is ClusterKind.CONTROLPLANE:
                from meshconform.live.controlplane import provider  # noqa: PLC0415

                assert self.binaries is not None
                provider.install_istio(
                    cluster, self.binaries, release, self.options.istio_config, self.timeouts
                )
            else:
                IstioInstaller(
                    self.resolver(release).path("istioctl"),
                    release,
                    self.timeouts,
                    files=self.options.istio_config,
                ).ensure(cluster)
            # a product an earlier run left installed would change every check's mesh
            refuse_foreign_products(cluster.kube, self.options.product)
            if _claim_phases(self.options.report_dir, cluster):
                self.timings.update(
                    {
                        f"{phase}:{cluster.mode.name}": round(seconds, 3)
                        for phase, seconds in cluster.phases.items()
                    }
                )

        return self.pool.get(mode, prepare=prepare)


STATE = pytest.StashKey[LiveState]()
#: node id of each mode's last live check -> the mode whose cluster goes after it
RELEASE_AFTER = pytest.StashKey[dict[str, Mode]]()
#: (cluster, namespace) pairs a check created; read by collect_failure_artifacts
NAMESPACES = pytest.StashKey[list[tuple[Cluster, str]]]()


def _phases_dir(report_dir: Path) -> Path:
    return report_dir / "phases"


def _claim_phases(report_dir: Path, cluster: Cluster) -> bool:
    """True for the first process of the run to prepare this cluster (it did the work).

    Runs under the cluster's file lock, so the marker file decides without a race.
    """
    folder = _phases_dir(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cluster.mode.name}.json"
    if path.exists():
        return False
    path.write_text(
        json.dumps(
            {
                f"{phase}:{cluster.mode.name}": round(seconds, 3)
                for phase, seconds in cluster.phases.items()
            }
        ),
        "utf-8",
    )
    return True


# -- hooks the core plugin calls -----------------------------------------------------


def live_session_start(config: pytest.Config, options: RunOptions) -> None:
    """Check every live prerequisite (fast, nothing created), then stash the ClusterPool."""
    if not options.live:
        return
    controller = not hasattr(config, "workerinput")
    timeouts = options.timeouts
    release = options.istio[0]
    resolvers = {release.release: ToolResolver(options.binaries, istio=release)}
    server_version = None
    binaries = None
    for config_file in options.istio_config:
        operator_overlay(config_file)  # bad YAML: one line now, not an error per check
    if options.cluster is ClusterKind.CONTROLPLANE:
        from meshconform.live.controlplane import binaries as cp_binaries  # noqa: PLC0415
        from meshconform.live.controlplane.provider import ControlPlaneProvider  # noqa: PLC0415

        # built before anything starts; a missing piece is one line naming it
        binaries = cp_binaries.provision(release)
        given = options.binaries.get("istioctl")
        if given is not None:  # --istioctl wins in every tier, here over the build's own
            istioctl = resolvers[release.release].path("istioctl")
            binaries = dataclasses.replace(binaries, istioctl=istioctl)
        server_version = CONTROL_PLANE_KUBERNETES
        pool = ClusterPool(
            node_image=node_image(options.kubernetes),
            timeouts=timeouts,
            controlplane=ControlPlaneProvider(
                binaries,
                timeouts,
                keep=options.keep_cluster,
                reuse=options.reuse_cluster,
            ),
        )
    elif options.kubeconfig is not None:
        server_version = check_api_server(options.kubeconfig, options.context)
        pool = ClusterPool(
            node_image=node_image(options.kubernetes),
            timeouts=timeouts,
            kubeconfig=options.kubeconfig,
            context=options.context,
        )
    else:
        check_docker()
        kind = Kind(resolvers[release.release].path("kind"))
        baseline: frozenset[str] = frozenset()
        if controller:
            try:
                baseline = frozenset(kind.clusters())
            except (ProvisioningError, subprocess.TimeoutExpired) as error:
                raise UsageError(
                    f"kind cannot list clusters: {error}",
                    "Check that `kind get clusters` works on this machine",
                ) from None
            _check_kind_clusters(options, baseline)
        pool = ClusterPool(
            node_image=node_image(options.kubernetes),
            timeouts=timeouts,
            kind=kind,
            keep=options.keep_cluster,
            images=manifests.pinned_images(),
            baseline=baseline,
        )
    if binaries is None:
        resolvers[release.release].path("istioctl")  # before any cluster exists
    if controller:
        for stale in _phases_dir(options.report_dir).glob("*.json"):
            stale.unlink()
    config.stash[STATE] = LiveState(
        options=options,
        timeouts=timeouts,
        pool=pool,
        controller=controller,
        resolvers=resolvers,
        timings=phase_timings(config),
        server_version=server_version,
        binaries=binaries,
    )


def _check_kind_clusters(options: RunOptions, existing: frozenset[str]) -> None:
    for mode in options.modes:
        if mode.cluster_name in existing:
            if not options.reuse_cluster:
                raise UsageError(
                    f"a kind cluster named {mode.cluster_name} already exists",
                    "Pass --reuse-cluster to run on it, or delete it with "
                    f"`kind delete cluster --name {mode.cluster_name}`",
                )
            continue
        endpoint = gateway_from_kind_config(load_kind_config(mode))
        busy = busy_ports(endpoint)
        if busy:
            raise UsageError(
                f"host port(s) {', '.join(map(str, busy))} that the {mode.name} cluster maps to "
                f"its gateway are in use on {endpoint.host}",
                f"Stop what listens there, or change hostPort in {mode.kind_config}",
            )


def plan_releases(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Note the last live check of each mode: after its teardown the mode's cluster is
    released (``ClusterPool.release``), so a run over several modes holds one cluster at a
    time instead of all of them (five control planes with process pods, or five kind
    clusters, on one machine). Only for clusters the run removes anyway: not with
    --keep-cluster, --reuse-cluster or --kubeconfig (their namespaces and product installs
    are cleaned at the session's end), and not under xdist (workers share clusters; the
    controller deletes them)."""
    state = config.stash.get(STATE, None)
    if state is None or not state.controller or _distributed(config):
        return
    options = state.options
    if options.keep_cluster or options.reuse_cluster or options.kubeconfig is not None:
        return
    last: dict[str, tuple[pytest.Item, Mode]] = {}
    for item in items:
        mode = item_mode(item)
        if item_tier(item) == "live" and mode is not None:
            last[mode.name] = (item, mode)
    config.stash[RELEASE_AFTER] = {item.nodeid: mode for item, mode in last.values()}


def _distributed(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) or getattr(
        config.option, "dist", "no"
    ) not in ("no", None)


def release_after(item: pytest.Item) -> None:
    """After ``item``'s teardown: release its mode's cluster if it was the mode's last check.

    A failure to stop is reported as a warning; the run's results stand.
    """
    mode = item.config.stash.get(RELEASE_AFTER, {}).get(item.nodeid)
    state = item.config.stash.get(STATE, None)
    if mode is None or state is None:
        return
    try:
        removed = state.pool.release(mode)
    except (ProvisioningError, OSError, subprocess.TimeoutExpired) as error:
        item.warn(pytest.PytestWarning(f"releasing the {mode.name} cluster failed: {error}"))
        return
    for name in removed:
        state.gateways.pop(name, None)


def live_session_finish(config: pytest.Config) -> None:
    """Close clients; on the controller, delete the clusters this run created (unless kept)."""
    state = config.stash.get(STATE, None)
    if state is None:
        return
    state.pool.close()
    if state.controller:
        state.pool.finish(state.options.modes)


def check_folder(item: pytest.Item) -> str:
    """The artifacts subfolder of one check: its node id, made filesystem-safe."""
    return artifacts.safe_name(item.nodeid.replace("::", "__").replace("/", "_"))


#: lines of each istio-system container's log kept in the artifacts (istiod is chatty)
ISTIO_LOG_TAIL = 2000


def note_namespace(item: pytest.Item, cluster: Cluster, namespace: str) -> None:
    """Record that ``item`` used ``namespace`` of ``cluster`` (its own, or a shared app's),
    so a failure collects it; the same namespace is collected once."""
    used = item.stash.setdefault(NAMESPACES, [])
    if not any(c is cluster and ns == namespace for c, ns in used):
        used.append((cluster, namespace))


def artifact_namespaces(used: list[tuple[Cluster, str]]) -> list[tuple[Cluster, list[str]]]:
    """Per cluster the check used: its namespaces in order, then istio-system (istiod,
    the gateway, ztunnel and the CNI agent: what gateway and egress failures need)."""
    grouped: list[tuple[Cluster, list[str]]] = []
    for cluster, namespace in used:
        entry = next((e for e in grouped if e[0] is cluster), None)
        if entry is None:
            entry = (cluster, [])
            grouped.append(entry)
        if namespace not in entry[1]:
            entry[1].append(namespace)
    return [
        (c, [*[n for n in names if n != ISTIO_NAMESPACE], ISTIO_NAMESPACE]) for c, names in grouped
    ]


def collect_failure_artifacts(item: pytest.Item, dest: Path) -> str | None:
    """Write the failed check's pods, logs, events and proxy state to ``dest/<check>/``:
    its own namespaces, the shared apps' it used (strict-echo, outside) and istio-system."""
    used = item.stash.get(NAMESPACES, [])
    state = item.config.stash.get(STATE, None)
    if not used or state is None:
        return None
    dest = dest / check_folder(item)
    written = 0
    problems: list[str] = []
    for cluster, namespaces in artifact_namespaces(used):
        access = None
        resolver = next(iter(state.resolvers.values()), None)
        on_kubelets = cluster.kind is not ClusterKind.CONTROLPLANE
        if resolver is not None and on_kubelets:
            access = artifacts.IstioctlAccess(
                resolver.path("istioctl"), cluster.kubeconfig, cluster.context
            )
        out = artifacts.collect(
            cluster.kube,
            namespaces,
            dest,
            istioctl=access,
            timeout=state.timeouts.exec_command,
            container_logs=on_kubelets,
            log_tail={ISTIO_NAMESPACE: ISTIO_LOG_TAIL},
        )
        if cluster.plane is not None:  # no pods to read logs from: the processes' own logs
            pods = tuple(f"pods/{ns}." for ns in namespaces)  # the process pods' processes
            for proc in cluster.plane.processes.procs:
                if proc.name in ("istiod", "kube-apiserver", "gateway") or (
                    proc.name.startswith(pods)
                ):
                    out.text(f"controlplane/{proc.name}.log", proc.log_tail(400))
            dns = cluster.plane.folder / "pods/cluster-dns.log"
            if dns.is_file():  # the node's DNS: every query a pod's lookups reached it with
                out.text("controlplane/cluster-dns.log", _tail(dns, 400))
        written += len(out.written)
        problems += out.errors
    note = f"; {len(problems)} could not be collected" if problems else ""
    return f"{written} diagnostic files in {dest}{note}"


def _tail(path: Path, lines: int) -> str:
    return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:]) + "\n"


def kubernetes_version(config: pytest.Config) -> str | None:
    """The existing cluster's Kubernetes version (``--kubeconfig``); None for kind."""
    state = config.stash.get(STATE, None)
    return state.server_version if state is not None else None


# -- naming ------------------------------------------------------------------------------

_NOT_DNS = re.compile(r"[^a-z0-9]+")
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def namespace_name(test_name: str, suffix: str | None = None, limit: int = 40) -> str:
    """``mc-<test name, shortened>-<5 random>``: a valid, unique DNS-1123 label."""
    stem = _NOT_DNS.sub("-", test_name.lower().removeprefix("test_")).strip("-")
    stem = stem[: limit - len("mc--") - 5].strip("-") or "check"
    suffix = suffix or "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))
    return f"mc-{stem}-{suffix}"


# -- fixtures ----------------------------------------------------------------------------


def _state(config: pytest.Config) -> LiveState:
    state = config.stash.get(STATE, None)
    if state is None:
        raise UsageError(
            "a live check ran without the live tier set up", "Select the live tier (--tier live)"
        )
    return state


@pytest.fixture
def cluster(request: pytest.FixtureRequest, mode: Mode, istio_release: IstioRelease) -> Cluster:
    """The current mode's cluster, with Istio installed and ready (created once per run)."""
    return _state(request.config).cluster(mode, istio_release)


@pytest.fixture
def kube(cluster: Cluster) -> Kube:
    return cluster.kube


def _namespace(
    request: pytest.FixtureRequest, cluster: Cluster, labels: dict[str, str]
) -> Iterator[str]:
    state = _state(request.config)
    name = namespace_name(request.node.name)
    cluster.kube.create_namespace(name, {**labels, "meshconform.io/check": "true"})
    note_namespace(request.node, cluster, name)
    yield name
    if not state.options.keep_namespaces:
        cluster.kube.delete_namespace(name)


@pytest.fixture
def mesh_ns(request: pytest.FixtureRequest, cluster: Cluster, mode: Mode) -> Iterator[str]:
    """A fresh namespace enrolled in the mesh the mode's way; deleted unless --keep."""
    yield from _namespace(request, cluster, dict(mode.namespace_labels))


@pytest.fixture
def plain_ns(request: pytest.FixtureRequest, cluster: Cluster) -> Iterator[str]:
    """A fresh namespace outside the mesh; deleted unless --keep."""
    yield from _namespace(request, cluster, {})


@pytest.fixture
def apply(request: pytest.FixtureRequest, kube: Kube) -> Iterator[ApplyFn]:
    """``apply(relpath, namespace, **variables)``: server-side apply a fixtures/ manifest.

    ``${NAMESPACE}`` defaults to ``namespace``. Namespaced objects go with their
    namespace; cluster-scoped ones are deleted at teardown (unless --keep).
    """
    state = _state(request.config)
    cluster_scoped: list[dict[str, Any]] = []

    def _apply(relpath: str, namespace: str, **variables: str) -> list[dict[str, Any]]:
        variables.setdefault("NAMESPACE", namespace)
        applied = kube.apply_all(manifests.load_manifests(relpath, **variables), namespace)
        cluster_scoped.extend(o for o in applied if not o["metadata"].get("namespace"))
        return applied

    yield _apply
    if not state.options.keep_namespaces:
        for obj in reversed(cluster_scoped):
            kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])


@pytest.fixture
def gateway(request: pytest.FixtureRequest, cluster: Cluster) -> Iterator[GatewayEndpoint]:
    """Where the mode's ingress gateway answers from this machine.

    On the controlplane cluster, a config the gateway's Envoy rejected while the check
    ran (a NACK) ends the check in an error with Envoy's message: never silent.
    """
    rejections = cluster.gateway_rejections
    before = set(rejections()) if rejections is not None else set()
    yield _gateway_endpoint(request, cluster)
    if rejections is not None:
        new = [line for line in rejections() if line not in before]
        if new:
            raise ProvisioningError(
                "the gateway's Envoy rejected istiod's config: " + "; ".join(new)
            )


def _gateway_endpoint(request: pytest.FixtureRequest, cluster: Cluster) -> GatewayEndpoint:
    if cluster.gateway is not None:
        return cluster.gateway
    state = _state(request.config)
    if cluster.name not in state.gateways:
        service = cluster.kube.get("v1", "Service", GATEWAY, ISTIO_NAMESPACE)
        if service is None:
            raise UsageError(
                f"the cluster has no Service {ISTIO_NAMESPACE}/{GATEWAY}",
                "Install Istio with an ingress gateway named istio-ingressgateway",
            )
        state.gateways[cluster.name] = gateway_from_service(
            service, cluster.kube.list("v1", "Node")
        )
    return state.gateways[cluster.name]


@pytest.fixture
def istioctl(request: pytest.FixtureRequest, istio_release: IstioRelease) -> Path:
    """istioctl of the run's Istio release."""
    return _state(request.config).resolver(istio_release).path("istioctl")


@pytest.fixture
def observable(cluster: Cluster) -> frozenset[Evidence]:
    """What this cluster can give as evidence (no kubelet, no traffic on controlplane)."""
    return PROVIDES[cluster.kind]
