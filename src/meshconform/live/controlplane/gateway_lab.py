"""A warm gateway lab: one control plane with istiod and the ingress gateway, reused per scenario.

The dataplane tier and ``meshconform gateway-check`` both need Istio resources compiled by
the real istiod and served by a real Envoy. Starting the control plane, istiod and the
gateway costs ~50 s; compiling and serving one more set of resources on a running one
costs well under a second. So a :class:`GatewayLab` is started once (per pytest session,
or kept between ``gateway-check`` runs with ``--keep-lab``) and each scenario applies its
resources in a namespace of its own, for hosts of its own, and deletes them afterwards
(:meth:`GatewayLab.serve`).

- The lab is the controlplane cluster of mode ``sidecar`` (the ingress gateway is the same
  router proxy in every mode, docs/controlplane.md) named ``meshconform-cp-gwlab-<minor>``
  when kept; a throwaway lab carries the run's id and its processes die with the process
  that started it (PR_SET_PDEATHSIG), a kept one is stopped with
  ``meshconform gateway-check --stop-lab``.
- A kept lab is reused only when every process still runs and its istiod is the binary of
  the requested Istio release; otherwise its leftovers are stopped and a new one starts.
- Scenarios on a kept lab are serialized by a file lock: two scenarios' resources on one
  gateway would see each other (a Gateway for hosts ``*`` takes every SNI).
- Routed backends are local stand-ins: one real HTTP server per VirtualService destination,
  made known to istiod by a ServiceEntry (STATIC, endpoint 127.0.0.1:<its port>), as no
  kubelet runs pods here.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import secrets
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from meshconform.dataplane.upstreams import Upstream
from meshconform.errors import ProvisioningError
from meshconform.evidence import ClusterKind
from meshconform.live.clusters import Cluster, GatewayEndpoint, run_id
from meshconform.live.controlplane import binaries as cp_binaries
from meshconform.live.controlplane.cluster import (
    ControlPlane,
    reattach,
    start_control_plane,
    state_root,
)
from meshconform.live.controlplane.gateway import (
    PROCESS,
    RunningGateway,
    reattach_gateway,
)
from meshconform.live.controlplane.processes import Processes, pid_alive
from meshconform.live.controlplane.provider import install_istio, nodes_for, sweep_stale
from meshconform.live.kube import Kube
from meshconform.modes import get_mode
from meshconform.versions import CONTROL_PLANE_KUBERNETES, IstioRelease
from meshconform.wait import Done, Pending, Timeouts, WaitTimeout, wait_until

#: the gateway is the same router proxy in every mode; the lab runs the sidecar mode's install
LAB_MODE = "sidecar"
STATE_FILE = "gwlab.json"
#: the order a team applies them in: what is referenced exists before what references it
APPLY_ORDER = ("Secret", "ServiceEntry", "DestinationRule", "Gateway", "VirtualService")
CLUSTER_DOMAIN = "svc.cluster.local"
#: on every object a scenario applies: what an interrupted scenario left is found and removed
LAB_LABEL = "meshconform.io/gateway-lab"
#: API versions the lab lists leftovers of
LAB_KINDS = (
    ("v1", "Secret"),
    ("networking.istio.io/v1", "ServiceEntry"),
    ("networking.istio.io/v1", "DestinationRule"),
    ("networking.istio.io/v1", "Gateway"),
    ("networking.istio.io/v1", "VirtualService"),
)


def lab_name(release: IstioRelease) -> str:
    """The kept lab's name (listed by ``meshconform controlplane status``)."""
    return f"meshconform-cp-gwlab-{release.minor}"


class ResourceRejected(Exception):
    """The API server (Istio's validation webhook, or the schema) refused a resource."""

    def __init__(self, rejections: Sequence[tuple[str, str]]) -> None:
        self.rejections = list(rejections)  # (kind/name, the API server's message)
        super().__init__("; ".join(f"{what}: {why}" for what, why in self.rejections))


class GatewayRejected(Exception):
    """Envoy rejected (NACKed) the config istiod compiled from the resources."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


def api_message(error: Exception) -> str:
    """The API server's own message from a kubernetes client error (webhook denials)."""
    body = getattr(error, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            return str(json.loads(body).get("message") or body)
        except ValueError:
            return body
    return str(error).splitlines()[0]


def fqdn(host: str, namespace: str) -> str:
    """A destination host as istiod resolves it: a short name is relative to the namespace."""
    return host if "." in host else f"{host}.{namespace}.{CLUSTER_DOMAIN}"


def destinations(virtual_service: Mapping[str, Any], namespace: str) -> list[tuple[str, int]]:
    """(FQDN, port) of every route destination of a VirtualService (http, tls, tcp)."""
    found: list[tuple[str, int]] = []
    spec = virtual_service.get("spec") or {}
    for kind in ("http", "tls", "tcp"):
        for rule in spec.get(kind) or []:
            for route in rule.get("route") or []:
                dest = route.get("destination") or {}
                if not dest.get("host"):
                    continue
                port = int((dest.get("port") or {}).get("number") or 80)
                item = (fqdn(str(dest["host"]), namespace), port)
                if item not in found:
                    found.append(item)
    return found


def standin_entry(name: str, host: str, port: int, local_port: int) -> dict[str, Any]:
    """A ServiceEntry telling istiod that ``host:port`` is served at 127.0.0.1:local_port."""
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/part-of": "meshconform", LAB_LABEL: str(os.getpid())},
        },
        "spec": {
            "hosts": [host],
            "location": "MESH_INTERNAL",
            "ports": [{"number": port, "name": f"http-{port}", "protocol": "HTTP"}],
            "resolution": "STATIC",
            "endpoints": [{"address": "127.0.0.1", "ports": {f"http-{port}": local_port}}],
        },
    }


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@contextlib.contextmanager
def _held(lock: FileLock, timeout: float, name: str) -> Iterator[None]:
    """The kept lab's lock, or an error naming why it is not free."""
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise ProvisioningError(
            f"the gateway lab {name} is busy: another run has used it for over "
            f"{timeout:.0f} s (a pytest session holds it while it runs)"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _running_gateway(plane: ControlPlane) -> RunningGateway:
    gateway = reattach_gateway(plane)
    if gateway is None:
        raise ProvisioningError("the lab's ingress gateway is not running after the install")
    return gateway


@dataclass
class Served:
    """One scenario's resources as the gateway serves them."""

    namespace: str
    endpoint: GatewayEndpoint
    applied: list[dict[str, Any]]
    #: what the lab changed about the resources to run them here (recorded as evidence)
    notes: list[str] = field(default_factory=list)
    #: the stand-in backends: FQDN:port -> the local server's port
    standins: dict[str, int] = field(default_factory=dict)
    #: seconds: apply (API server + webhook), served (istiod compiled, Envoy serves)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class GatewayLab:
    """A running control plane + istiod + ingress gateway; see the module doc."""

    release: IstioRelease
    plane: ControlPlane
    kube: Kube
    gateway: RunningGateway
    gateway_namespace: str
    gateway_labels: dict[str, str]
    evidence: list[str]
    timeouts: Timeouts
    #: stop the plane on close (started here and not kept)
    owned: bool
    lock: FileLock | None
    timings: dict[str, float] = field(default_factory=dict)
    reused: bool = False

    # -- start, reuse, stop ----------------------------------------------------------

    @classmethod
    def open(
        cls,
        release: IstioRelease,
        *,
        keep: bool = False,
        reuse: bool = True,
        timeouts: Timeouts | None = None,
        root: Path | None = None,
    ) -> GatewayLab:
        """Reuse the kept lab of ``release`` if it runs (and ``reuse``), else start one (kept
        if ``keep``).

        Missing binaries raise ToolMissingError (one line naming the fix); a failed start
        raises ProvisioningError after stopping what it started.
        """
        timeouts = timeouts or Timeouts()
        binaries = cp_binaries.provision(release, build=False)
        root = root or state_root()
        root.mkdir(parents=True, exist_ok=True)
        name = lab_name(release)
        started = time.monotonic()
        lock = FileLock(str(root / f"{name}.lock"))
        with _held(lock, timeouts.deployment_ready, name):
            kept = None
            if reuse:
                kept = cls._reuse(release, root / name, binaries.istiod, timeouts, lock)
            if kept is not None:
                kept.timings["lab_reattach"] = round(time.monotonic() - started, 3)
                return kept
            sweep_stale(root, name)
            if not keep:
                # the run id alone is not enough: subprocesses of a run inherit it, and
                # a second lab of that name would remove this one's folder under it
                name = f"{name}-{run_id()[:8]}-{os.getpid()}"
            folder = root / name
            plane = start_control_plane(
                name,
                binaries,
                nodes=nodes_for(get_mode(LAB_MODE)),
                kubelet_version=CONTROL_PLANE_KUBERNETES,
                ready_timeout=timeouts.controlplane_ready,
                folder=folder,
                die_with_parent=not keep,
            )
            kube = Kube(plane.kubeconfig, plane.name)
            try:
                cluster = Cluster(
                    name=plane.name,
                    mode=get_mode(LAB_MODE),
                    kubeconfig=plane.kubeconfig,
                    context=plane.name,
                    created_by_us=True,
                    kube=kube,
                    kind=ClusterKind.CONTROLPLANE,
                    plane=plane,
                )
                installed = install_istio(cluster, binaries, release, [], timeouts)
                gateway = _running_gateway(plane)
                from meshconform.live.controlplane.gateway import (  # noqa: PLC0415
                    gateway_identity,
                )

                identity = gateway_identity(installed.install)
                state = {
                    "istiod": str(binaries.istiod),
                    "namespace": identity.namespace,
                    "labels": identity.labels,
                    "evidence": list(installed.evidence),
                }
                (folder / STATE_FILE).write_text(json.dumps(state), "utf-8")
            except BaseException:
                kube.close()
                plane.stop(remove=True)
                raise
            lab = cls(
                release,
                plane,
                kube,
                gateway,
                identity.namespace,
                identity.labels,
                list(installed.evidence),
                timeouts,
                owned=not keep,
                lock=lock if keep else None,
            )
            lab.timings["lab_start"] = round(time.monotonic() - started, 3)
            return lab

    @classmethod
    def _reuse(
        cls,
        release: IstioRelease,
        folder: Path,
        istiod: Path,
        timeouts: Timeouts,
        lock: FileLock,
    ) -> GatewayLab | None:
        if not folder.exists():
            return None
        plane = reattach(folder.name, folder)
        state: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            state = json.loads((folder / STATE_FILE).read_text("utf-8"))
        gateway = reattach_gateway(plane) if plane is not None else None
        if plane is None or gateway is None or state.get("istiod") != str(istiod):
            # not usable (a process died, another release's istiod): clear it away
            Processes.reattach(folder).stop(grace=5)
            shutil.rmtree(folder, ignore_errors=True)
            return None
        return cls(
            release,
            plane,
            Kube(plane.kubeconfig, plane.name),
            gateway,
            str(state["namespace"]),
            {str(k): str(v) for k, v in state["labels"].items()},
            [*state["evidence"], f"gateway lab: the kept {folder.name}, reused"],
            timeouts,
            owned=False,
            lock=lock,
            reused=True,
        )

    def close(self) -> None:
        """Stop the lab if this process started it and it is not kept."""
        self.kube.close()
        if self.owned:
            self.plane.stop(remove=True)

    @staticmethod
    def stop_kept(release: IstioRelease, root: Path | None = None) -> bool:
        """Stop the kept lab of ``release`` (by PID) and remove its folder."""
        folder = (root or state_root()) / lab_name(release)
        if not folder.exists():
            return False
        Processes.reattach(folder).stop()
        shutil.rmtree(folder, ignore_errors=True)
        return True

    def __enter__(self) -> GatewayLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the gateway's view ----------------------------------------------------------

    @property
    def endpoint(self) -> GatewayEndpoint:
        return self.gateway.endpoint

    def admin(self, path: str) -> str:
        url = f"http://127.0.0.1:{self.gateway.ports.admin}{path}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            text: str = answer.read().decode("utf-8", "replace")
            return text

    def stat(self, name: str) -> int:
        """One counter of the gateway's Envoy (e.g. ``listener.<addr>.no_filter_chain_match``)."""
        total = 0
        for line in self.admin(f"/stats?filter={name}").splitlines():
            key, _, value = line.partition(": ")
            if key.strip() == name and value.strip().isdigit():
                total += int(value)
        return total

    def config_dump(self) -> tuple[str, bool]:
        """Envoy's active listeners and routes as istiod pushed them (JSON text), and whether
        a listener is warming (waiting for a secret). Draining listeners are left out."""
        listeners = json.loads(self.admin("/config_dump?resource=dynamic_listeners"))
        routes = json.loads(self.admin("/config_dump?resource=dynamic_route_configs"))
        active: list[Any] = []
        warming = False
        for config in listeners.get("configs", []):
            active.append(config.get("active_state"))
            warming = warming or "warming_state" in config
        active += [c.get("route_config") for c in routes.get("configs", [])]
        return json.dumps(active), warming

    def alive(self) -> bool:
        proc = self.plane.processes.get(PROCESS)
        istiod = self.plane.processes.get("istiod")
        return bool(proc and proc.alive() and istiod and istiod.alive())

    # -- one scenario ----------------------------------------------------------------

    def _place(
        self, objects: Sequence[Mapping[str, Any]], namespace: str, notes: list[str]
    ) -> list[dict[str, Any]]:
        placed = []
        for original in objects:
            obj = copy.deepcopy(dict(original))
            meta = obj.setdefault("metadata", {})
            kind = obj.get("kind")
            if kind == "Secret":
                if meta.get("namespace") not in (None, self.gateway_namespace):
                    notes.append(
                        f"Secret {meta.get('name')}: applied to {self.gateway_namespace} (the "
                        "gateway's namespace, where credentialName is looked up), not "
                        f"{meta.get('namespace')}"
                    )
                meta["namespace"] = self.gateway_namespace
            else:
                meta.setdefault("namespace", namespace)
            if kind == "Gateway":
                spec = obj.setdefault("spec", {})
                selector = {str(k): str(v) for k, v in (spec.get("selector") or {}).items()}
                if not _selects(selector, self.gateway_labels):
                    spec["selector"] = {"istio": self.gateway_labels.get("istio", "ingressgateway")}
                    notes.append(
                        f"Gateway {meta.get('name')}: selector {selector} replaced by "
                        f"{spec['selector']} (the gateway running here)"
                    )
            meta.setdefault("labels", {})[LAB_LABEL] = str(os.getpid())
            placed.append(obj)
        placed.sort(
            key=lambda o: (
                APPLY_ORDER.index(o["kind"]) if o.get("kind") in APPLY_ORDER else len(APPLY_ORDER)
            )
        )
        return placed

    def _apply(self, objects: Sequence[dict[str, Any]], *, dry_run: bool) -> list[dict[str, Any]]:
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415
        from kubernetes.dynamic.exceptions import DynamicApiError  # noqa: PLC0415

        rejected: list[tuple[str, str]] = []
        applied: list[dict[str, Any]] = []
        for obj in objects:
            what = f"{obj.get('kind')}/{obj['metadata'].get('name')}"
            try:
                self.kube.apply(obj, dry_run=dry_run)
            except (ApiException, DynamicApiError) as error:
                rejected.append((what, api_message(error)))
                continue
            applied.append(obj)
        if rejected:
            if not dry_run:
                self._delete(applied)
            raise ResourceRejected(rejected)
        return applied

    def _delete(self, objects: Sequence[Mapping[str, Any]]) -> None:
        for obj in reversed(objects):
            meta = obj["metadata"]
            with contextlib.suppress(Exception):
                self.kube.delete(obj["apiVersion"], obj["kind"], meta["name"], meta["namespace"])

    def _wait_served(self, hosts: Sequence[str], markers: Sequence[str], timeout: float) -> bool:
        """Until Envoy holds config naming every host (istiod compiled and pushed it)."""

        def served() -> Done[None] | Pending:
            rejected = self.gateway.rejected()
            if rejected:
                raise GatewayRejected(rejected)
            dump, warming = self.config_dump()
            missing = [h for h in [*hosts, *markers] if h not in dump]
            if missing:
                return Pending(f"not in Envoy's config yet: {', '.join(missing)}")
            if warming:
                return Pending("a listener is still warming (waiting for its secret)")
            return Done(None)

        try:
            wait_until("istiod's config served by the gateway", served, timeout, interval=0.1)
        except WaitTimeout:
            return False
        return True

    def _wait_gone(self, markers: Sequence[str], timeout: float) -> None:
        def gone() -> Done[None] | Pending:
            dump, _ = self.config_dump()
            left = [m for m in markers if m in dump]
            return Pending(f"still served: {left}") if left else Done(None)

        with contextlib.suppress(WaitTimeout):
            wait_until("the scenario's config removed", gone, timeout, interval=0.1)

    def _remove_leftovers(self) -> None:
        """Objects an interrupted run left on a kept lab: :data:`LAB_LABEL` names the PID of
        the process that applied them, and that process is gone."""
        for api_version, kind in LAB_KINDS:
            for obj in self.kube.list(api_version, kind, label_selector=LAB_LABEL):
                meta = obj["metadata"]
                owner = str((meta.get("labels") or {}).get(LAB_LABEL, ""))
                if owner.isdigit() and pid_alive(int(owner)):
                    continue
                with contextlib.suppress(Exception):
                    self.kube.delete(api_version, kind, meta["name"], meta.get("namespace"))

    def _wait_not_terminating(self, namespace: str) -> None:
        """A namespace an earlier scenario deleted is gone before it is created again."""

        def settled() -> Done[None] | Pending:
            found = self.kube.get("v1", "Namespace", namespace)
            phase = ((found or {}).get("status") or {}).get("phase")
            return (
                Pending(f"namespace {namespace} is terminating")
                if phase == "Terminating"
                else Done(None)
            )

        wait_until(
            f"namespace {namespace} deleted", settled, self.timeouts.namespace_delete, interval=0.2
        )

    @contextlib.contextmanager
    def serve(
        self,
        objects: Sequence[Mapping[str, Any]],
        *,
        hosts: Sequence[str] = (),
        standins: bool = True,
        served_timeout: float = 20.0,
    ) -> Iterator[Served]:
        """Apply ``objects`` (after a dry run through admission), start stand-in backends,
        wait until Envoy serves config for ``hosts``; delete everything afterwards.

        Raises ResourceRejected (the API server's messages, nothing left applied) and
        GatewayRejected (Envoy's NACK messages).
        """
        held = (
            _held(self.lock, self.timeouts.deployment_ready, self.plane.name)
            if self.lock is not None
            else contextlib.nullcontext()
        )
        with held, contextlib.ExitStack() as stack:
            started = time.monotonic()
            namespace = f"mc-gwlab-{secrets.token_hex(4)}"
            notes: list[str] = []
            placed = self._place(objects, namespace, notes)
            backends: dict[str, int] = {}
            if standins:
                found: list[tuple[str, int]] = []
                for obj in placed:
                    if obj.get("kind") == "VirtualService":
                        for item in destinations(obj, obj["metadata"]["namespace"]):
                            if item not in found:
                                found.append(item)
                for index, (host, port) in enumerate(found):
                    upstream = stack.enter_context(Upstream(f"standin-{host}:{port}"))
                    backends[f"{host}:{port}"] = upstream.port
                    entry = standin_entry(f"mc-standin-{index}", host, port, upstream.port)
                    entry["metadata"]["namespace"] = namespace
                    placed.append(entry)
                    notes.append(
                        f"backend {host}:{port}: a local stand-in (HTTP 200) at "
                        f"127.0.0.1:{upstream.port}, known to istiod by ServiceEntry "
                        f"mc-standin-{index}"
                    )
                placed.sort(
                    key=lambda o: (
                        APPLY_ORDER.index(o["kind"])
                        if o.get("kind") in APPLY_ORDER
                        else len(APPLY_ORDER)
                    )
                )
            namespaces = sorted(
                {o["metadata"]["namespace"] for o in placed} - {self.gateway_namespace}
            )
            self._remove_leftovers()
            for ns in namespaces:
                self._wait_not_terminating(ns)
                if self.kube.get("v1", "Namespace", ns) is None:
                    self.kube.create_namespace(ns, {LAB_LABEL: "namespace"})
            applied: list[dict[str, Any]] = []
            markers: list[str] = []
            try:
                self._apply(placed, dry_run=True)
                applied = self._apply(placed, dry_run=False)
                timings = {"apply": round(time.monotonic() - started, 3)}
                markers = [
                    f".{o['metadata']['name']}.{o['metadata']['namespace']}"
                    for o in applied
                    if o.get("kind") == "Gateway"
                ]
                if not self._wait_served(hosts, [], served_timeout):
                    notes.append(
                        f"Envoy's config did not name {', '.join(hosts)} within "
                        f"{served_timeout:.0f} s: probed as it was"
                    )
                timings["served"] = round(time.monotonic() - started - timings["apply"], 3)
                yield Served(namespace, self.endpoint, applied, notes, backends, timings)
            finally:
                self._delete(applied)
                # the scenario's own namespace goes; namespaces the resources name stay
                # (empty) for the next run: deleting them takes the namespace controller
                # seconds, and the next run would have to wait for it
                with contextlib.suppress(Exception):
                    self.kube.delete_namespace(namespace)
                if applied:
                    self._wait_gone(hosts or markers, 10.0)
