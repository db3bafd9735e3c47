"""Process pods, for real: a pod injected by istiod, built as namespaces and processes.

One control plane + Istio (sidecar mode) for the module, with the process kubelet. A pod
bound to its node gets a network namespace with a real address (its ``status.podIP``),
Istio's rules from its own ``istio-init`` arguments, and pilot-agent + Envoy as UID 1337
with a workload certificate from istiod; Ready comes from ``/healthz/ready``. Deleting
the pod, stopping the plane, or killing the process that runs it leaves no namespace,
link, rule or process.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshconform import manifests
from meshconform.certs import TestCA
from meshconform.claims import Outcome
from meshconform.live.clusters import Cluster
from meshconform.live.controlplane.pods import netns
from meshconform.live.controlplane.pods.kubelet import NODE, ProcessKubelet
from meshconform.live.controlplane.processes import pid_alive
from meshconform.live.kube import Kube
from meshconform.observe.pods import describe_pod, pod_failure
from meshconform.traffic import egress as egress_claims
from meshconform.traffic.expect import Expect
from meshconform.traffic.observation import Probe, Seen, run
from meshconform.wait import Decision, Done, Failed, Pending, Timeouts, wait_until
from meshconform.wait.probes import PodClient

from .planes import istio_plane, require_process_pods


def in_namespaces(inodes: set[str]) -> list[str]:
    """Processes on the machine inside any of these network namespaces (pid and command)."""
    found = []
    for task in Path("/proc").glob("[0-9]*"):
        try:
            if str((task / "ns/net").readlink()) in inodes:
                found.append(f"{task.name} {(task / 'cmdline').read_bytes()[:120]!r}")
        except OSError:
            continue
    return found


def netns_of(pid: int) -> str:
    return str(Path(f"/proc/{pid}/ns/net").readlink())


#: network namespaces the tests saw; none may have a process left at the end
SEEN: set[str] = set()


@dataclass
class Plane:
    cluster: Cluster
    kubelet: ProcessKubelet
    timeouts: Timeouts


@pytest.fixture(scope="module")
def plane() -> Iterator[Plane]:
    require_process_pods()
    with istio_plane() as (cluster, timeouts):
        kubelet = cluster.plane.kubelet if cluster.plane is not None else None
        assert kubelet is not None, cluster.process_pods_unsupported
        assert kubelet.node_holder is not None
        SEEN.add(netns_of(kubelet.node_holder.pid))
        yield Plane(cluster, kubelet, timeouts)
    left = in_namespaces(SEEN)
    assert not left, f"processes left in the pods' network namespaces: {left}"
    assert "meshconform" not in subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout


def proxy_ready(pod: dict[str, Any] | None) -> Decision[dict[str, Any]]:
    if pod is None:
        return Pending("no pod yet")
    status = pod.get("status") or {}
    if status.get("reason") == "ProcessPodFailed":
        return Failed(str(status.get("message")))
    statuses = [*(status.get("initContainerStatuses") or []),
                *(status.get("containerStatuses") or [])]
    for c in statuses:
        if c["name"] == "istio-proxy" and c.get("ready"):
            return Done(pod)
    return Pending(f"status: {status}")


def test_pod_built_from_its_injected_spec(plane: Plane) -> None:
    """The client Deployment's pod: scheduled to the process node, built, Ready, exec."""
    kube = plane.cluster.kube
    ns = f"mc-pp-{secrets.token_hex(3)}"
    kube.create_namespace(ns, {"istio-injection": "enabled"})
    kube.apply_all(manifests.load_manifests(
        "workloads/run-ca.yaml", CA_PEM_B64=b64(b"-----BEGIN CERTIFICATE-----\n")), ns)  # fmt: skip
    kube.apply_all(manifests.load_manifests("workloads/client.yaml"), ns)
    pod = wait_until(f"{ns} client pod Ready", lambda: ready_pod(kube, ns, "app=client"),
                     timeout=90, interval=0.25)  # fmt: skip
    assert pod["spec"]["nodeName"] == NODE
    built = plane.kubelet.pods[f"{ns}/{pod['metadata']['name']}"]
    SEEN.add(netns_of(built.holder.pid))
    # the pod IP in the API server is the address of the pod's eth0
    assert pod["status"]["podIP"] == built.ip
    addresses = netns.run(netns.in_ns(built.holder.pid, ["ip", "-4", "-o", "addr", "show", "eth0"]),
                          what="addr")  # fmt: skip
    assert f"{built.ip}/24" in addresses
    # Istio's rules, from the injected istio-init arguments
    rules = netns.iptables_save(built.holder.pid)
    assert "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001" in rules
    assert "--uid-owner 1337" in rules
    init = next(c for c in pod["status"]["initContainerStatuses"] if c["name"] == "istio-init")
    assert init["state"]["terminated"]["exitCode"] == 0
    # pilot-agent runs as 1337
    agent = plane.cluster.plane.processes.get(f"{built.stem}/istio-proxy")  # type: ignore[union-attr]
    assert agent is not None
    # (the Proc is nsenter; pilot-agent is its child, in the pod's PID namespace)
    child = Path(f"/proc/{agent.pid}/task/{agent.pid}/children").read_text().split()[0]
    status = Path(f"/proc/{child}/status").read_text()
    assert "Name:\tpilot-agent" in status
    assert "Uid:\t1337\t1337" in status
    # exec: as the curl image's user, in the pod's network, through the sidecar
    out = kube.exec(ns, pod["metadata"]["name"],
                    ["sh", "-c", "id -u && head -1 /etc/meshconform/ca.pem"],
                    container="client")  # fmt: skip
    assert out.rc == 0, out
    assert out.stdout.splitlines() == ["100", "-----BEGIN CERTIFICATE-----"]
    holder, inode = built.holder.pid, netns_of(built.holder.pid)
    kube.delete_namespace(ns)
    wait_until("pod torn down", lambda: Done(None) if not pid_alive(holder) and
               built.key not in plane.kubelet.pods else Pending("still there"),
               timeout=30, interval=0.1)  # fmt: skip
    assert not in_namespaces({inode}), "processes outlived the deleted pod"


def ready_pod(kube: Kube, namespace: str, selector: str) -> Decision[dict[str, Any]]:
    pods_ = kube.list("v1", "Pod", namespace, label_selector=selector)
    for pod in pods_:
        status = pod.get("status") or {}
        if status.get("reason") == "ProcessPodFailed":
            return Failed(str(status.get("message")))
        conditions = status.get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            return Done(pod)
    return Pending(f"pods: {[p.get('status') for p in pods_]}")


# -- egress: the live checks' observations on process pods, conforming and faulty -----

HTTP_HOST = "http.external.meshconform.test"
TLS_HOST = "tls.external.meshconform.test"
UNREGISTERED = "unregistered.meshconform.test"


@dataclass
class Egress:
    namespace: str
    client: PodClient
    external_ip: str
    ca: TestCA

    def resolve(self, host: str, port: int) -> str:
        return f"{host}:{port}:{self.external_ip}"


@pytest.fixture(scope="module")
def egress(plane: Plane, tmp_path_factory: pytest.TempPathFactory) -> Egress:
    """The live checks' external servers (outside the mesh) and an in-mesh client under a
    REGISTRY_ONLY Sidecar, all process pods."""
    kube = plane.cluster.kube
    ca = TestCA.create(tmp_path_factory.mktemp("ca"))
    outside = f"mc-pp-out-{secrets.token_hex(3)}"
    kube.create_namespace(outside, {})
    cert = ca.issue([TLS_HOST], stem="external")
    kube.apply_all(manifests.load_manifests(
        "workloads/tls-secret.yaml", NAME="external-tls",
        TLS_CRT_B64=b64(cert.cert_pem()), TLS_KEY_B64=b64(cert.key_pem())), outside)  # fmt: skip
    kube.apply_all(manifests.load_manifests("workloads/external.yaml"), outside)
    external = wait_until("external pod Ready", lambda: ready_pod(kube, outside, "app=external"),
                          timeout=90, interval=0.25)  # fmt: skip
    ns = f"mc-pp-egress-{secrets.token_hex(3)}"
    kube.create_namespace(ns, {"istio-injection": "enabled"})
    kube.apply_all(manifests.load_manifests(
        "workloads/run-ca.yaml", CA_PEM_B64=b64(ca.cert_path.read_bytes())), ns)  # fmt: skip
    kube.apply_all(manifests.load_manifests("egress/sidecar-registry-only.yaml"), ns)
    kube.apply_all(manifests.load_manifests("workloads/client.yaml"), ns)
    pod = wait_until("client Ready", lambda: ready_pod(kube, ns, "app=client"), timeout=90,
                     interval=0.25)  # fmt: skip
    client = PodClient(kube, ns, str(pod["metadata"]["name"]), plane.timeouts)
    return Egress(ns, client, str(external["status"]["podIP"]), ca)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def registry_mode(plane: Plane, ns: str, mode: str) -> None:
    body = manifests.load_manifests("egress/sidecar-registry-only.yaml")[0]
    body["spec"]["outboundTrafficPolicy"]["mode"] = mode
    plane.cluster.kube.apply(body, ns)


def egress_target(egress: Egress, timeouts: Timeouts) -> egress_claims.EgressTarget:
    """What the live egress checks send: the same evaluators, from the client pod."""
    return egress_claims.EgressTarget(address=egress.external_ip, http_port=80, tls_port=443,
                                      http_host=HTTP_HOST, tls_host=TLS_HOST,
                                      unknown_host=UNREGISTERED, ca=Path(CA_IN_POD),
                                      path="/get", timeouts=timeouts,
                                      transport=egress.client.transport)  # fmt: skip


def expected(conforming: bool) -> Outcome:
    return Outcome.HOLDS if conforming else Outcome.BROKEN


def judge(client: PodClient, url: str, holds: Any, fails: Any, conforming: bool,
          timeouts: Timeouts) -> Seen:  # fmt: skip
    """One probe as the live checks send it: True = the claim's expectation was seen."""
    return run(Probe(client.request(url), holds, fails), client.transport, timeouts,
               wait_for=expected(conforming))  # fmt: skip


@pytest.mark.parametrize("policy", ["REGISTRY_ONLY", "ALLOW_ANY"])
def test_registry_only_fault(plane: Plane, egress: Egress, policy: str) -> None:
    """egress-registry-only-blocks: holds under REGISTRY_ONLY (HTTP 502, TLS refused);
    fails under ALLOW_ANY because the unregistered host is reached."""
    registry_mode(plane, egress.namespace, policy)
    conforming = policy == "REGISTRY_ONLY"
    seen = egress_claims.registry_only_blocks(egress_target(egress, plane.timeouts),
                                              wait_for=expected(conforming))  # fmt: skip
    assert seen.outcome is expected(conforming), seen.text
    registry_mode(plane, egress.namespace, "REGISTRY_ONLY")


@pytest.mark.parametrize("entry", ["present", "removed"])
def test_service_entry_fault(plane: Plane, egress: Egress, entry: str) -> None:
    """egress-service-entry-allows-http/-tls: hold with the ServiceEntries; with them
    removed both fail because REGISTRY_ONLY blocks the hosts."""
    kube = plane.cluster.kube
    http_entry = manifests.load_manifests("egress/service-entry-http.yaml", HOST=HTTP_HOST,
                                          ENDPOINT=egress.external_ip)  # fmt: skip
    tls_entry = manifests.load_manifests("egress/service-entry-tls.yaml", HOST=TLS_HOST)
    if entry == "present":
        kube.apply_all([*http_entry, *tls_entry], egress.namespace)
    else:
        for obj in [*http_entry, *tls_entry]:
            kube.delete("networking.istio.io/v1", "ServiceEntry", obj["metadata"]["name"],
                        egress.namespace)  # fmt: skip
    conforming = entry == "present"
    target = egress_target(egress, plane.timeouts)
    for evaluate in (egress_claims.service_entry_allows_http,
                     egress_claims.service_entry_allows_tls):  # fmt: skip
        seen = evaluate(target, wait_for=expected(conforming))
        assert seen.outcome is expected(conforming), seen.text


CA_IN_POD = "/etc/meshconform/ca.pem"


# -- mTLS, authz, DNS: conforming and faulty, same observations as the live checks ----


@dataclass
class Secured:
    namespace: str  # meshed: echo + an in-mesh client
    mesh_client: PodClient
    outsider: PodClient  # a client in a namespace outside the mesh (plaintext)

    @property
    def url(self) -> str:
        return f"http://echo.{self.namespace}.svc.cluster.local/get"


def _client(plane: Plane, ns: str, manifest: str = "workloads/client.yaml",
            app: str = "client") -> PodClient:  # fmt: skip
    kube = plane.cluster.kube
    kube.apply_all(manifests.load_manifests(manifest), ns)
    pod = wait_until(f"{ns} {app} Ready", lambda: ready_pod(kube, ns, f"app={app}"), timeout=90,
                     interval=0.25)  # fmt: skip
    return PodClient(kube, ns, str(pod["metadata"]["name"]), plane.timeouts)


@pytest.fixture(scope="module")
def secured(plane: Plane) -> Secured:
    kube = plane.cluster.kube
    ns = f"mc-pp-sec-{secrets.token_hex(3)}"
    kube.create_namespace(ns, {"istio-injection": "enabled"})
    kube.apply_all(manifests.load_manifests("workloads/echo.yaml"), ns)
    wait_until("echo Ready", lambda: ready_pod(kube, ns, "app=echo"), timeout=90, interval=0.25)
    plain = f"mc-pp-plain-{secrets.token_hex(3)}"
    kube.create_namespace(plain, {})
    return Secured(ns, _client(plane, ns), _client(plane, plain))


@pytest.mark.parametrize("mtls", ["STRICT", "PERMISSIVE"])
def test_mtls_faults(plane: Plane, secured: Secured, mtls: str) -> None:
    """mtls-strict-rejects-plaintext holds under STRICT and fails under PERMISSIVE (the
    plaintext client is answered); mtls-permissive-accepts-plaintext the reverse."""
    plane.cluster.kube.apply_all(manifests.load_manifests(
        "security/peer-authentication.yaml", MTLS_MODE=mtls), secured.namespace)  # fmt: skip
    in_mesh = judge(secured.mesh_client, secured.url, Expect.ok(), Expect.rejected_plaintext(),
                    True, plane.timeouts)  # fmt: skip
    assert in_mesh.verdict is True, f"echo must answer an in-mesh client: {in_mesh.line}"
    # the strict claim's observation: plaintext rejected holds it, an answer breaks it
    strict = judge(secured.outsider, secured.url, Expect.rejected_plaintext(), Expect.ok(),
                   mtls == "STRICT", plane.timeouts)  # fmt: skip
    assert strict.verdict is (mtls == "STRICT"), strict.line
    # the permissive claim is the same observation, read the other way round
    permissive = judge(secured.outsider, secured.url, Expect.ok(), Expect.rejected_plaintext(),
                       mtls == "PERMISSIVE", plane.timeouts)  # fmt: skip
    assert permissive.verdict is (mtls == "PERMISSIVE"), permissive.line


@pytest.mark.parametrize("policy", ["DENY", "ALLOW-all"])
def test_authz_fault(plane: Plane, secured: Secured, policy: str) -> None:
    """authz-deny holds with the DENY policy (403 RBAC: access denied) and fails when an
    ALLOW-all policy stands in its place (the request is answered)."""
    kube = plane.cluster.kube
    kube.apply_all(manifests.load_manifests(
        "security/peer-authentication.yaml", MTLS_MODE="STRICT"), secured.namespace)  # fmt: skip
    deny = manifests.load_manifests("security/authz-deny.yaml",
                                    SOURCE_NAMESPACE=secured.namespace)[0]  # fmt: skip
    if policy == "ALLOW-all":
        deny["spec"] = {"selector": deny["spec"]["selector"], "action": "ALLOW", "rules": [{}]}
    kube.apply(deny, secured.namespace)
    try:
        seen = judge(secured.mesh_client, secured.url, Expect.denied_by_policy(), Expect.ok(),
                     policy == "DENY", plane.timeouts)  # fmt: skip
        assert seen.verdict is (policy == "DENY"), seen.line
    finally:
        kube.delete("security.istio.io/v1", "AuthorizationPolicy", deny["metadata"]["name"],
                    secured.namespace)  # fmt: skip


@pytest.mark.parametrize("capture", ["on", "off"])
def test_dns_capture_fault(plane: Plane, egress: Egress, capture: str) -> None:
    """dns-proxy-resolves-service-entry holds with DNS capture (the host resolves to the
    ServiceEntry's address) and fails with capture off (the name does not resolve)."""
    kube = plane.cluster.kube
    host = f"dns-{egress.namespace}.meshconform.test"
    address = "198.51.100.7"
    kube.apply_all(manifests.load_manifests(
        "egress/service-entry-dns-address.yaml", HOST=host, ADDRESS=address,
        ENDPOINT=egress.external_ip), egress.namespace)  # fmt: skip
    client = (egress.client if capture == "on" else
              _client(plane, egress.namespace, "workloads/client-no-dns-capture.yaml",
                      "client-nodns"))  # fmt: skip

    seen = judge(client, f"http://{host}/get", Expect.resolved_to(address), Expect.dns_failed(),
                 capture == "on", plane.timeouts)  # fmt: skip
    assert seen.verdict is (capture == "on"), seen.line


# -- containers that exit: restarts and phases, as a kubelet reports them --------------


def exits_pod(plane: Plane, injected: bool, restart_policy: str,
              script: str = "exit 3") -> tuple[str, str]:  # fmt: skip
    """``fixtures/workloads/exits.yaml`` (the curl image running ``sh -c script``) under
    ``restart_policy``, in a new namespace with or without injection; (namespace, name)."""
    kube = plane.cluster.kube
    ns = f"mc-pp-exit-{secrets.token_hex(3)}"
    kube.create_namespace(ns, {"istio-injection": "enabled"} if injected else {})
    body = manifests.load_manifests("workloads/exits.yaml")[0]
    body["spec"]["restartPolicy"] = restart_policy
    body["spec"]["containers"][0]["command"] = ["sh", "-c", script]
    kube.apply(body, ns)
    return ns, str(body["metadata"]["name"])


def app_status(pod: dict[str, Any], name: str = "app") -> dict[str, Any]:
    found = [c for c in (pod.get("status") or {}).get("containerStatuses") or []
             if c["name"] == name]  # fmt: skip
    return found[0] if found else {}


def condition_status(pod: dict[str, Any], kind: str) -> str | None:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == kind), None)


def test_exiting_app_restarts_with_backoff(plane: Plane) -> None:
    """restartPolicy Always: an app that exits 3 as it starts is restarted (restartCount >= 1,
    lastState.terminated exit 3 Error), then backs off (CrashLoopBackOff, the kubelet's
    first back-off of 10 s), not Ready; the waiters' judgement calls the pod unable to
    start, as on kind."""
    kube = plane.cluster.kube
    ns, name = exits_pod(plane, injected=True, restart_policy="Always")

    def crash_looping() -> Decision[dict[str, Any]]:
        pod = kube.get("v1", "Pod", name, ns)
        app = app_status(pod or {})
        waiting = (app.get("state") or {}).get("waiting") or {}
        if app.get("restartCount", 0) >= 1 and waiting.get("reason") == "CrashLoopBackOff":
            return Done(pod or {})
        return Pending(describe_pod(pod) if pod else "no pod yet")

    try:
        pod = wait_until(f"{ns}/{name} in CrashLoopBackOff", crash_looping, timeout=60,
                         interval=0.25)  # fmt: skip
        app = app_status(pod)
        assert app["lastState"]["terminated"]["exitCode"] == 3, app
        assert app["lastState"]["terminated"]["reason"] == "Error", app
        assert "back-off 10s restarting failed container=app" in app["state"]["waiting"]["message"]
        assert app["ready"] is False
        assert app["started"] is False
        assert pod["status"]["phase"] == "Running", describe_pod(pod)
        assert condition_status(pod, "Ready") == "False"
        assert condition_status(pod, "ContainersReady") == "False"
        proxy = app_status(pod, "istio-proxy")
        assert "running" in proxy["state"], proxy
        assert proxy["restartCount"] == 0
        failure = pod_failure(pod)
        assert failure is not None
        assert "CrashLoopBackOff" in failure
        assert "last exit 3: Error" in failure
    finally:
        kube.delete_namespace(ns)


@pytest.mark.parametrize("injected", [False, True], ids=["no-sidecar", "classic-sidecar"])
def test_exited_app_never_restarts(plane: Plane, injected: bool) -> None:
    """restartPolicy Never: an app that runs (Ready) and then exits 3 stays terminated
    (exit 3, Error, no restart). Without a sidecar the pod is Failed. With the classic
    sidecar istio-proxy still runs, so the pod stays Running and not Ready (the documented
    Job problem)."""
    kube = plane.cluster.kube
    ns, name = exits_pod(plane, injected=injected, restart_policy="Never",
                         script="sleep 2; exit 3")  # fmt: skip

    def app_terminated() -> Decision[dict[str, Any]]:
        pod = kube.get("v1", "Pod", name, ns)
        if pod is not None and "terminated" in (app_status(pod).get("state") or {}):
            return Done(pod)
        return Pending(describe_pod(pod) if pod else "no pod yet")

    try:
        pod = wait_until(f"{ns}/{name}'s app terminated", app_terminated, timeout=60,
                         interval=0.25)  # fmt: skip
        app = app_status(pod)
        assert app["state"]["terminated"]["exitCode"] == 3, app
        assert app["state"]["terminated"]["reason"] == "Error", app
        assert app["restartCount"] == 0
        assert app["ready"] is False
        assert condition_status(pod, "Ready") == "False"
        if injected:
            assert pod["status"]["phase"] == "Running", describe_pod(pod)
            assert "running" in app_status(pod, "istio-proxy")["state"], describe_pod(pod)
        else:
            assert pod["status"]["phase"] == "Failed", describe_pod(pod)
            failure = pod_failure(pod)
            assert failure is not None
            assert "phase Failed" in failure
        built = plane.kubelet.pods[f"{ns}/{name}"]
        assert plane.cluster.plane.processes.get(built.launches["app"].proc) is None  # type: ignore[union-attr]
    finally:
        kube.delete_namespace(ns)
