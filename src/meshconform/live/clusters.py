"""kind clusters, one per mesh mode, shared by xdist workers; or the user's cluster.

- a cluster is named ``Mode.cluster_name`` and created from ``clusters/<mode>.yaml``
  with the pinned node image (``--image``), its kubeconfig in the state folder
  (``paths.cache_dir()/clusters``, never the report folder CI uploads);
- xdist workers share it through a ``filelock`` per cluster name: the first one
  creates it (retrying transient failures, as Istio CI does), the others adopt it;
- an interrupt (SIGINT, SIGTERM) during create deletes the half-made cluster,
  unless ``--keep-cluster``; a failed delete is added to the create error, never
  raised instead of it. SIGTERM at any other time (Istio install, checks) ends the
  run like Ctrl-C (the plugin installs ``setups.install_sigterm_interrupt``), so
  ``ClusterPool.finish`` still runs;
- only the controller deletes, at session end, and only clusters that did not
  exist when the run started (``ClusterPool.finish``), unless ``--keep-cluster``.

Why not pytest-kind: docs/decisions.md.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import yaml
from filelock import FileLock

from meshconform import paths
from meshconform.errors import ProvisioningError, UsageError
from meshconform.evidence import ClusterKind
from meshconform.live.kube import Kube
from meshconform.modes import Mode
from meshconform.setups import Remembered, first_failure
from meshconform.wait import Timeouts

if TYPE_CHECKING:
    from meshconform.live.controlplane.cluster import ControlPlane
    from meshconform.live.controlplane.provider import ControlPlaneProvider

Runner = Callable[[Sequence[str], float], "subprocess.CompletedProcess[str]"]

#: the ingress gateway's NodePorts (fixtures/istio/<mode>.yaml) that kind maps to the host
GATEWAY_NODEPORTS = {"http": 30080, "https": 30443, "status": 30021}
CREATE_ATTEMPTS = 5  # Istio CI: prow/lib.sh retries `kind create cluster` 5 times
KIND_WAIT = "180s"
#: kind/docker errors that another attempt cannot fix
_PERMANENT = (
    "port is already allocated",
    "address already in use",
    "already exist for a cluster with the name",
    "Cannot connect to the Docker daemon",
    "unknown field",
    "error converting YAML",
    "invalid configuration",
    "no such file or directory",
)
#: kind refused because the cluster's nodes exist: they belong to someone else (another
#: run created the cluster meanwhile), so they must not be deleted
_NOT_OURS = "already exist for a cluster with the name"


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """The default runner: no shell, output captured, never raises on a non-zero exit."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


# -- kind configs ------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayEndpoint:
    """Where the ingress gateway answers, as seen from the machine running pytest."""

    host: str
    http_port: int
    https_port: int
    status_port: int


def load_kind_config(mode: Mode) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(mode.kind_config.read_text("utf-8"))
    return config


def gateway_from_kind_config(config: dict[str, Any]) -> GatewayEndpoint:
    """The host ports mapped to the gateway NodePorts on the ``ingress-ready`` node."""
    by_node_port: dict[int, tuple[str, int]] = {}
    for node in config.get("nodes") or []:
        for mapping in node.get("extraPortMappings") or []:
            by_node_port[int(mapping["containerPort"])] = (
                str(mapping.get("listenAddress", "127.0.0.1")),
                int(mapping["hostPort"]),
            )
    missing = [p for p in GATEWAY_NODEPORTS.values() if p not in by_node_port]
    if missing:
        raise UsageError(
            f"kind config {config.get('name')} maps no host port to NodePort "
            f"{', '.join(map(str, missing))}",
            "Add extraPortMappings for 30080/30443/30021 to the control-plane node",
        )
    host = by_node_port[GATEWAY_NODEPORTS["http"]][0]
    return GatewayEndpoint(
        host="127.0.0.1" if host in ("0.0.0.0", "") else host,  # noqa: S104 (we read it)
        http_port=by_node_port[GATEWAY_NODEPORTS["http"]][1],
        https_port=by_node_port[GATEWAY_NODEPORTS["https"]][1],
        status_port=by_node_port[GATEWAY_NODEPORTS["status"]][1],
    )


def busy_ports(endpoint: GatewayEndpoint) -> list[int]:
    """Host ports of the endpoint something else already listens on.

    Binds with SO_REUSEADDR, as Docker's port proxy does (Go listeners set it): a port
    left in TIME_WAIT by the previous run's probes is free for Docker, so it is free
    here too; a listener still refuses the bind.
    """
    busy = []
    for port in (endpoint.http_port, endpoint.https_port, endpoint.status_port):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((endpoint.host, port))
            except OSError:
                busy.append(port)
    return busy


# -- the kind CLI ------------------------------------------------------------------


class Kind:
    """The kind (and docker) commands the suite runs; ``runner`` is injectable for tests."""

    def __init__(self, binary: Path, runner: Runner = run_command, docker: str = "docker") -> None:
        self.binary = binary
        self.docker = docker
        self._run = runner

    def create_argv(self, name: str, config: Path, image: str, kubeconfig: Path) -> list[str]:
        return [
            str(self.binary),
            "create",
            "cluster",
            "--name",
            name,
            "--config",
            str(config),
            "--image",
            image,
            "--kubeconfig",
            str(kubeconfig),
            "--wait",
            KIND_WAIT,
        ]

    def delete_argv(self, name: str, kubeconfig: Path | None = None) -> list[str]:
        argv = [str(self.binary), "delete", "cluster", "--name", name]
        # the file create wrote the context to; without it kind edits $KUBECONFIG instead
        return [*argv, "--kubeconfig", str(kubeconfig)] if kubeconfig is not None else argv

    def clusters(self, timeout: float = 30) -> set[str]:
        done = self._run([str(self.binary), "get", "clusters"], timeout)
        if done.returncode != 0:
            raise ProvisioningError(f"`kind get clusters` failed: {_tail(done.stderr)}")
        return {line.strip() for line in done.stdout.splitlines() if line.strip()}

    def kubeconfig(self, name: str, timeout: float = 30) -> str:
        done = self._run([str(self.binary), "get", "kubeconfig", "--name", name], timeout)
        if done.returncode != 0:
            raise ProvisioningError(
                f"`kind get kubeconfig --name {name}` failed: {_tail(done.stderr)}"
            )
        return done.stdout

    def nodes(self, name: str, timeout: float = 30) -> list[str]:
        done = self._run([str(self.binary), "get", "nodes", "--name", name], timeout)
        if done.returncode != 0:
            raise ProvisioningError(f"`kind get nodes --name {name}` failed: {_tail(done.stderr)}")
        return sorted(line.strip() for line in done.stdout.splitlines() if line.strip())

    def delete(self, name: str, timeout: float = 120, kubeconfig: Path | None = None) -> None:
        done = self._run(self.delete_argv(name, kubeconfig), timeout)
        if done.returncode != 0:
            raise ProvisioningError(
                f"`kind delete cluster --name {name}` failed: {_tail(done.stderr)}"
            )

    def create(
        self,
        name: str,
        config: Path,
        image: str,
        kubeconfig: Path,
        *,
        timeout: float,
        attempts: int = CREATE_ATTEMPTS,
    ) -> int:
        """Create the cluster, retrying transient failures; returns the attempts used."""
        errors: list[str] = []
        for attempt in range(1, attempts + 1):
            try:
                done = self._run(self.create_argv(name, config, image, kubeconfig), timeout)
            except subprocess.TimeoutExpired:
                errors.append(f"attempt {attempt}: no result within {timeout:.0f}s")
                if not self._clean_up(name, kubeconfig, errors):
                    break
                continue
            if done.returncode == 0:
                return attempt
            why = _tail(done.stderr or done.stdout)
            errors.append(f"attempt {attempt}: {why}")
            if _NOT_OURS.lower() in why.lower():
                break  # another run's cluster: deleting it would pull it from under that run
            # kind cleans up after itself, a timeout may not have
            if not self._clean_up(name, kubeconfig, errors):
                break
            if any(p.lower() in why.lower() for p in _PERMANENT):
                break
        raise ProvisioningError(f"kind could not create cluster {name}: " + "; ".join(errors))

    def _clean_up(self, name: str, kubeconfig: Path, errors: list[str]) -> bool:
        """Delete a half-made cluster; a failed delete is recorded beside the create error
        it followed (never instead of it). False: do not try to create again."""
        try:
            self.delete(name, kubeconfig=kubeconfig)
        except (ProvisioningError, OSError, subprocess.TimeoutExpired) as error:
            errors.append(f"clean-up failed too: {error}")
            return False
        return True

    def preload_argvs(self, name: str, image: str, nodes: Sequence[str]) -> list[list[str]]:
        """Commands that make ``image`` present on every node before any pod asks for it.

        A digest-pinned image is pulled by each node's containerd (``crictl pull``):
        ``kind load docker-image`` cannot carry a manifest digest (kind#1140, kind#4028),
        so the kubelet would pull again. A tag-only image goes through the host's docker.
        """
        if "@sha256:" in image:
            return [[self.docker, "exec", node, "crictl", "pull", image] for node in nodes]
        return [
            [self.docker, "pull", image],
            [str(self.binary), "load", "docker-image", image, "--name", name],
        ]

    def preload(self, name: str, images: Sequence[str], timeout: float) -> None:
        nodes = self.nodes(name)
        for image in images:
            for argv in self.preload_argvs(name, image, nodes):
                if argv[1] == "pull" and self._image_present(image):
                    continue
                done = self._run(argv, timeout)
                if done.returncode != 0:
                    raise ProvisioningError(
                        f"preloading {image} into {name} failed "
                        f"({' '.join(argv[:4])}): {_tail(done.stderr)}"
                    )

    def _image_present(self, image: str) -> bool:
        return self._run([self.docker, "image", "inspect", image], 30).returncode == 0


# -- preflight ---------------------------------------------------------------------


#: `docker info` on a busy CI runner or a Docker Desktop VM that is waking up takes
#: seconds; only a daemon that stays silent this long stops the run
DOCKER_INFO_TIMEOUT = 20.0


def check_docker(docker: str = "docker", timeout: float = DOCKER_INFO_TIMEOUT) -> None:
    """One UsageError if the docker client is missing or no daemon answers in ``timeout``."""
    import shutil  # noqa: PLC0415

    client = shutil.which(docker)
    if client is None:
        raise UsageError(
            "the docker client is not installed (no `docker` on PATH); "
            "the live tier creates kind clusters in Docker",
            "Install Docker (https://docs.docker.com/engine/install/), or pass "
            "--kubeconfig to use an existing cluster",
        )
    try:
        done = run_command([client, "info", "--format", "{{.ServerVersion}}"], timeout)
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"the Docker daemon did not answer `docker info` within {timeout:g}s",
            "Start Docker or check DOCKER_HOST; or pass --kubeconfig",
        ) from None
    if done.returncode != 0 or not done.stdout.strip():
        raise UsageError(
            f"no Docker daemon is reachable: {_tail(done.stderr, 1) or 'no answer'}",
            "Start Docker (systemctl start docker, or Docker Desktop) or set "
            "DOCKER_HOST; or pass --kubeconfig to use an existing cluster",
        )


def check_api_server(kubeconfig: Path, context: str | None, timeout: float = 2.0) -> str:
    """The server's version, or one UsageError if ``/version`` does not answer in time."""
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415
    from urllib3.exceptions import HTTPError  # noqa: PLC0415

    kube = Kube(kubeconfig, context)
    try:
        return kube.server_version(timeout=timeout, retries=False)
    except (ApiException, HTTPError, OSError) as error:
        raise UsageError(
            f"the API server of {kubeconfig}{' (context ' + context + ')' if context else ''} "
            f"did not answer /version (limit {timeout:.0f}s): {str(error).splitlines()[0]}",
            "Check the cluster is running and the kubeconfig points at it",
        ) from None
    finally:
        kube.close()


# -- the pool ----------------------------------------------------------------------


@dataclass
class Cluster:
    name: str
    mode: Mode
    kubeconfig: Path
    context: str | None
    created_by_us: bool
    kube: Kube
    #: set for kind clusters: the host ports mapped to the gateway
    gateway: GatewayEndpoint | None = None
    #: seconds spent per phase in this process ("cluster", "istio")
    phases: dict[str, float] = field(default_factory=dict)
    kind: ClusterKind = ClusterKind.KIND
    #: the running processes of a controlplane cluster
    plane: ControlPlane | None = None
    #: how Istio was installed here, for the report's evidence (controlplane)
    istio_evidence: list[str] = field(default_factory=list)
    #: controlplane: the gateway's config rejections so far (Envoy's messages)
    gateway_rejections: Callable[[], list[str]] | None = None
    #: controlplane: why process pods (traffic between real proxies) cannot run, or None
    process_pods_unsupported: str | None = "process pods run only on the controlplane cluster"


def state_dir() -> Path:
    """Kubeconfigs, locks and ownership markers; outside the report folder on purpose."""
    return paths.cache_dir() / "clusters"


def run_id() -> str:
    """One id per pytest run, the same in every xdist worker of that run."""
    value = os.environ.get("PYTEST_XDIST_TESTRUNUID") or os.environ.get("MESHCONFORM_RUN_ID")
    if not value:
        value = uuid.uuid4().hex
        os.environ["MESHCONFORM_RUN_ID"] = value
    return value


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class ClusterPool:
    """mode -> Cluster for this process; creation is shared across processes by file locks."""

    def __init__(
        self,
        *,
        node_image: str,
        timeouts: Timeouts,
        kind: Kind | None = None,
        kubeconfig: Path | None = None,
        context: str | None = None,
        keep: bool = False,
        images: Sequence[str] = (),
        state: Path | None = None,
        baseline: frozenset[str] = frozenset(),
        controlplane: ControlPlaneProvider | None = None,
    ) -> None:
        if kind is None and kubeconfig is None and controlplane is None:
            raise ValueError("a ClusterPool needs kind, a control plane or a kubeconfig")
        #: --cluster controlplane: control planes as processes, one per mode
        self.controlplane = controlplane
        self.node_image = node_image
        self.timeouts = timeouts
        self.kind = kind
        self.kubeconfig = kubeconfig
        self.context = context
        self.keep = keep
        self.images = tuple(images)
        self.state = state or state_dir()
        #: kind clusters that existed when the run started: never deleted by this run
        self.baseline = baseline
        self._clusters: dict[str, Cluster] = {}
        #: mode name -> the first setup failure of this run (not retried)
        self._setups = Remembered()

    def lock(self, name: str) -> FileLock:
        self.state.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.state / f"{name}.lock"))

    def get(self, mode: Mode, prepare: Callable[[Cluster], None] | None = None) -> Cluster:
        """The cluster for ``mode``, created or adopted once; ``prepare`` runs under its lock.

        A setup that fails is remembered for the rest of the run, in this process and
        (through ``<name>.failed`` beside the lock) in the other workers of the run:
        every later call raises :class:`~meshconform.setups.SetupFailed` at once with
        the first cause, instead of creating or preparing again.
        """
        if mode.name in self._clusters:
            return self._clusters[mode.name]
        self._setups.raise_if_failed(mode.name)
        if self.controlplane is not None:
            shared = self.controlplane.keep or self.controlplane.reuse
            name = f"controlplane-{mode.name}" + ("" if shared else f"-{run_id()[:8]}")
        else:
            name = mode.cluster_name if self.kind is not None else f"existing-{mode.name}"
        with self.lock(name):
            earlier = self._failure_marker(name)
            if earlier is not None:
                self._setups.fail(mode.name, earlier)
                self._setups.raise_if_failed(mode.name)
            try:
                if self.controlplane is not None:
                    cluster = self._controlplane_cluster(mode)
                elif self.kind is None:
                    cluster = self._existing(mode)
                else:
                    cluster = self._kind_cluster(mode)
                if prepare is not None:
                    prepare(cluster)
            except Exception as error:
                cause = first_failure(f"the {mode.name} cluster ({name})", error)
                self._setups.fail(mode.name, cause)
                self._write_failure_marker(name, cause)
                raise
        self._clusters[mode.name] = cluster
        return cluster

    def _failure_path(self, name: str) -> Path:
        return self.state / f"{name}.failed"

    def _failure_marker(self, name: str) -> str | None:
        """The cause another process of this run recorded for ``name``, if any."""
        path = self._failure_path(name)
        if not path.is_file():
            return None
        run, _, cause = path.read_text("utf-8").partition("\n")
        return cause if run == run_id() and cause else None

    def _write_failure_marker(self, name: str, cause: str) -> None:
        self._failure_path(name).write_text(f"{run_id()}\n{cause}", "utf-8")

    def _existing(self, mode: Mode) -> Cluster:
        assert self.kubeconfig is not None
        return Cluster(
            name=self.context or self.kubeconfig.name,
            mode=mode,
            kubeconfig=self.kubeconfig,
            context=self.context,
            created_by_us=False,
            kube=Kube(self.kubeconfig, self.context),
        )

    def _controlplane_cluster(self, mode: Mode) -> Cluster:
        assert self.controlplane is not None
        started = time.monotonic()
        plane, ours = self.controlplane.plane(mode)
        cluster = Cluster(
            name=plane.name,
            mode=mode,
            kubeconfig=plane.kubeconfig,
            context=plane.name,
            created_by_us=ours,
            kube=Kube(plane.kubeconfig, plane.name),
            kind=ClusterKind.CONTROLPLANE,
            plane=plane,
        )
        cluster.phases["cluster"] = time.monotonic() - started
        return cluster

    def _kind_cluster(self, mode: Mode) -> Cluster:
        assert self.kind is not None
        name = mode.cluster_name
        kubeconfig = self.state / f"{mode.name}.kubeconfig"
        marker = self.state / f"{name}.owner"
        started = time.monotonic()
        if name in self.kind.clusters():
            _write_private(kubeconfig, self.kind.kubeconfig(name))
            created = marker.is_file() and marker.read_text("utf-8").strip() == run_id()
        else:
            marker.unlink(missing_ok=True)
            self._create(mode, kubeconfig)
            marker.write_text(run_id(), "utf-8")
            created = True
            if self.images:
                self.kind.preload(name, self.images, self.timeouts.cluster_create)
        cluster = Cluster(
            name=name,
            mode=mode,
            kubeconfig=kubeconfig,
            context=f"kind-{name}",
            created_by_us=created,
            kube=Kube(kubeconfig, f"kind-{name}"),
            gateway=gateway_from_kind_config(load_kind_config(mode)),
        )
        cluster.phases["cluster"] = time.monotonic() - started
        return cluster

    def _create(self, mode: Mode, kubeconfig: Path) -> None:
        assert self.kind is not None
        kubeconfig.unlink(missing_ok=True)
        try:
            with sigterm_as_interrupt():
                self.kind.create(
                    mode.cluster_name,
                    mode.kind_config,
                    self.node_image,
                    kubeconfig,
                    timeout=self.timeouts.cluster_create,
                )
        except BaseException as error:
            # interrupted or failed for good: leave no half-made cluster behind, but never
            # one that kind refused to create because it already exists (not ours)
            theirs = _NOT_OURS.lower() in str(error).lower()
            if not self.keep and not theirs and mode.cluster_name not in self.baseline:
                try:
                    self.kind.delete(mode.cluster_name, kubeconfig=kubeconfig)
                except (ProvisioningError, OSError, subprocess.TimeoutExpired) as cleanup:
                    # the create error (or the interrupt) stays what is raised
                    error.add_note(f"deleting the half-made cluster failed too: {cleanup}")
            raise
        kubeconfig.chmod(0o600)

    def finish(self, modes: Sequence[Mode]) -> list[str]:
        """Controller only: delete the kind clusters this run created; returns their names."""
        if self.kind is None or self.keep:
            return []
        existing = self.kind.clusters()
        deleted = []
        for mode in modes:
            name = mode.cluster_name
            if name in existing and name not in self.baseline:
                with self.lock(name):  # waits for a worker still creating it
                    self.kind.delete(name, kubeconfig=self.state / f"{mode.name}.kubeconfig")
                (self.state / f"{name}.owner").unlink(missing_ok=True)
                self._failure_path(name).unlink(missing_ok=True)
                (self.state / f"{mode.name}.kubeconfig").unlink(missing_ok=True)
                deleted.append(name)
        return deleted

    def release(self, mode: Mode) -> list[str]:
        """The run is done with ``mode``: close its client and remove its cluster now when
        this run made it and may remove it (a throwaway control plane; a kind cluster this
        run created, not kept), so a run over several modes holds one cluster at a time.
        Returns the names removed. Controller only (kind clusters are deleted by it)."""
        cluster = self._clusters.pop(mode.name, None)
        if cluster is None:
            return []
        cluster.kube.close()
        if self.controlplane is not None:
            return self.controlplane.release(mode)
        return self.finish([mode])

    def close(self) -> None:
        """Close clients; stop the control planes this process started (unless kept)."""
        for cluster in self._clusters.values():
            cluster.kube.close()
        self._clusters.clear()
        if self.controlplane is not None:
            self.controlplane.close()


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
