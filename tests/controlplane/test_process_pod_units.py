"""Pure parts of process pods: what a pod's spec says, DNS answers, Service rules.

Inputs are small pod and Service dicts shaped like the API server's (for pure
functions only; the pods themselves are tested for real in test_process_pods.py).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
from pathlib import Path

from meshconform.live.controlplane.pods import apps, netns, services, spec, status

ADDRESS = spec.PodAddress("10.245.0.5", "10.245.0.1", "meshconform-procpods")


def _pod(annotations: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "u1",
            "labels": {"app": "x"},
            "annotations": annotations or {},
        },
        "spec": {
            "serviceAccountName": "sa",
            "initContainers": [{"name": "istio-init", "args": ["istio-iptables", "-p", "15001"]}],
            "containers": [
                {
                    "name": "istio-proxy",
                    "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
                    "env": [
                        {"name": "POD_NAMESPACE",
                         "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                        {"name": "INSTANCE_IP",
                         "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {
                            "resource": "limits.cpu", "divisor": "1"}}},
                        {"name": "APP", "valueFrom": {"fieldRef": {
                            "fieldPath": "metadata.labels['app']"}}},
                        {"name": "DERIVED", "value": "ns=$(POD_NAMESPACE)"},
                    ],
                    "resources": {"limits": {"cpu": "1500m"}},
                }
            ],
        },
    }  # fmt: skip


def test_env_resolved_as_a_kubelet_does() -> None:
    pod = _pod()
    proxy = spec.find_container(pod, spec.PROXY)
    assert proxy is not None
    env = spec.resolve_env(pod, proxy, ADDRESS)
    assert env == {"POD_NAMESPACE": "ns", "INSTANCE_IP": "10.245.0.5", "GOMAXPROCS": "2",
                   "APP": "x", "DERIVED": "ns=ns"}  # fmt: skip
    assert spec.command_line(proxy, env)[-1] == "ns.svc.cluster.local"


def test_istio_init_args_and_cni_args() -> None:
    pod = _pod({"traffic.sidecar.istio.io/excludeInboundPorts": "9000"})
    assert spec.iptables_args(pod) == ["istio-iptables", "-p", "15001"]
    args = spec.cni_iptables_args(pod, {"ISTIO_META_DNS_CAPTURE": "true"})
    flags = dict(zip(args[1::2], args[2::2], strict=False))
    assert (flags["-u"], flags["-m"], flags["-i"]) == ("1337", "REDIRECT", "*")
    assert flags["-d"] == "9000,15020,15021,15090"
    assert args[-2:] == ["--redirect-dns", "--capture-all-dns"]


def test_downward_api_labels_are_go_quoted() -> None:
    pod = _pod({"proxy.istio.io/config": '{"a": "b"}'})
    text = spec._field(pod, "metadata.annotations", ADDRESS)
    assert text == 'proxy.istio.io/config="{\\"a\\": \\"b\\"}"'


def test_only_reference_images_run() -> None:
    curl = next(iter(k for k, v in apps.reference_images().items() if v.name == "curl"))
    plan = apps.plan_app({"image": curl}, ["sh", "-c", "sleep 1"], 100, 100, {})
    assert isinstance(plan, apps.AppPlan)
    assert plan.argv == ["sh", "-c", "sleep 1"]
    why = apps.plan_app({"image": "quay.io/vendor/app:1"}, ["app"], 0, 0, {})
    assert isinstance(why, str)
    assert "cannot run here" in why
    httpbin = next(iter(k for k, v in apps.reference_images().items() if v.name == "go-httpbin"))
    plan = apps.plan_app({"image": httpbin, "args": ["-https-cert-file", "/certs/tls.crt"]},
                         [], 0, 0, {"/certs": "/media/volumes/certs"})  # fmt: skip
    assert isinstance(plan, apps.AppPlan)
    assert plan.argv[-1] == "/media/volumes/certs/tls.crt"


def _query(name: str, qtype: int = 1) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack(
        "!HH", qtype, 1
    )


def test_cluster_dns_answers() -> None:
    def lookup(name: str) -> str | None:
        return "10.96.1.2" if name == "echo.ns.svc.cluster.local" else None

    found = services.answer(_query("echo.ns.svc.cluster.local"), lookup)
    assert struct.unpack("!HHHH", found[:8]) == (7, 0x8180 | 0x0100, 1, 1)
    assert found[-4:] == socket.inet_aton("10.96.1.2")
    missing = services.answer(_query("nope.meshconform.test"), lookup)
    assert struct.unpack("!H", missing[2:4])[0] & 0xF == 3  # NXDOMAIN
    aaaa = services.answer(_query("echo.ns.svc.cluster.local", 28), lookup)
    assert struct.unpack("!HH", aaaa[4:8]) == (1, 0)  # known name, no AAAA


class _Unreachable:
    """A client whose API server does not answer: counts the requests made."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    def get(self, *args: str) -> None:
        self.asked.append(args)
        raise TimeoutError("the API server is slow")


def test_cluster_dns_answers_from_the_listed_services_without_asking() -> None:
    listed = [
        {"metadata": {"name": "echo", "namespace": "ns"}, "spec": {"clusterIP": "10.96.1.2"}},
        {"metadata": {"name": "headless", "namespace": "ns"}, "spec": {"clusterIP": "None"}},
    ]
    assert services.addresses(listed) == {("ns", "echo"): "10.96.1.2"}
    kube = _Unreachable()
    dns = services.ClusterServices(kube, node_pid=0)  # type: ignore[arg-type]
    dns._addresses = services.addresses(listed)
    assert dns.lookup("echo.ns.svc.cluster.local") == "10.96.1.2"
    assert dns.lookup("echo.ns.svc.cluster.local.ns.svc.cluster.local") is None
    assert dns.lookup("example.com") is None
    # a Service created since the last list is NXDOMAIN until the next list (0.5 s)
    assert dns.lookup("new.ns.svc.cluster.local") is None
    assert kube.asked == []  # answered from the list: never a request per query


def test_cluster_dns_log_line_says_who_asked_what_and_the_answer() -> None:
    query = _query("echo.ns.svc.cluster.local")
    found = services.answer(query, lambda name: "10.96.1.2")
    line = services.query_line(query, found, ("10.245.0.7", 40000), 0.0123)
    assert line.endswith(" 10.245.0.7:40000 echo.ns.svc.cluster.local A NOERROR answers=1 "
                         "12.3ms\n")
    missing = services.answer(_query("x.example", 28), lambda name: None)
    assert " x.example AAAA NXDOMAIN answers=0 " in services.query_line(
        _query("x.example", 28), missing, ("10.245.0.7", 1), 0)


def test_service_rules_dnat_to_a_ready_endpoint() -> None:
    svc = {
        "metadata": {"name": "echo", "namespace": "ns"},
        "spec": {"clusterIP": "10.96.1.2", "ports": [{"name": "http", "port": 80}]},
    }
    slices = [{"metadata": {"namespace": "ns", "labels": {"kubernetes.io/service-name": "echo"}},
               "endpoints": [{"addresses": ["10.245.0.3"], "conditions": {"ready": True}}],
               "ports": [{"name": "http", "port": 8080}]}]  # fmt: skip
    rules = services.service_rules([svc], slices)
    assert ("-A PREROUTING -d 10.96.1.2/32 -p tcp -m tcp --dport 80 -j DNAT "
            "--to-destination 10.245.0.3:8080") in rules  # fmt: skip
    assert "MASQUERADE" in rules


def net(text: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(text)


def test_pod_cidr_is_one_no_route_overlaps() -> None:
    machine = [net("192.0.2.0/24"), net("127.0.0.0/8")]
    assert netns.free_pod_cidr(machine) == net("10.245.0.0/24")
    # another plane's podCIDR, or only the local route of its machine address
    assert netns.free_pod_cidr([*machine, net("10.245.0.0/24")]) == net("10.245.1.0/24")
    assert netns.free_pod_cidr([net("10.245.0.254/32"), net("10.245.1.0/24")]) == net(
        "10.245.2.0/24"
    )
    # a broader route (a VPN's 10/8) is never shadowed: nothing is free
    assert netns.free_pod_cidr([net("10.0.0.0/8")]) is None


def test_machine_link_names_and_address_follow_the_cidr() -> None:
    cidr = net("10.245.17.0/24")
    assert netns.machine_link_name(cidr) == "mcnode17"
    assert str(netns.machine_address(cidr)) == "10.245.17.254/24"
    assert len(netns.machine_link_name(net("10.245.255.0/24"))) <= 15  # IFNAMSIZ


def test_claim_pod_cidr_holds_a_machine_wide_lock(tmp_path: Path) -> None:
    import fcntl  # noqa: PLC0415
    import os  # noqa: PLC0415

    lock = tmp_path / "lock"
    with netns.claim_pod_cidr(lock) as cidr:
        assert cidr.subnet_of(netns.POD_CIDRS)
        other = os.open(lock, os.O_RDWR)
        try:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held = True
            else:
                held = False
            assert held, "another run could pick a podCIDR at the same time"
        finally:
            os.close(other)


def _sidecar_pod() -> dict[str, object]:
    """An injected pod's spec as the API server stores it (classic sidecar)."""
    return {
        "metadata": {"name": "client-1", "namespace": "ns"},
        "spec": {
            "restartPolicy": "Always",
            "initContainers": [{"name": "istio-init", "image": "docker.io/istio/proxyv2:1.31.0"}],
            "containers": [
                {"name": "client", "image": "curlimages/curl:8.11.1"},
                {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.31.0"},
            ],
        },
    }


def _states(app_ready: bool) -> dict[str, status.ContainerState]:
    init = status.ContainerState("istio-init", "docker.io/istio/proxyv2:1.31.0",
                                 status.terminated_now(0, "Completed"))  # fmt: skip
    proxy = status.ContainerState("istio-proxy", "docker.io/istio/proxyv2:1.31.0",
                                  status.running(), ready=True, started=True)  # fmt: skip
    app = status.ContainerState("client", "curlimages/curl:8.11.1", status.running(),
                                ready=app_ready, started=True)  # fmt: skip
    return {"istio-init": init, "istio-proxy": proxy, "client": app}


def _conditions(found: dict[str, object]) -> dict[str, dict[str, str]]:
    body = found["status"]
    assert isinstance(body, dict)
    return {c["type"]: c for c in body["conditions"]}


def test_pod_status_is_ready_when_init_done_and_every_container_ready() -> None:
    found = status.pod_status(_sidecar_pod(), _states(True), "10.245.0.7", "10.245.0.1")
    body = found["status"]
    assert (body["phase"], body["podIP"], body["hostIP"]) == ("Running", "10.245.0.7",
                                                              "10.245.0.1")  # fmt: skip
    conditions = _conditions(found)
    assert {k: v["status"] for k, v in conditions.items()} == {
        "PodScheduled": "True", "Initialized": "True", "ContainersReady": "True",
        "Ready": "True"}  # fmt: skip
    assert [s["name"] for s in body["initContainerStatuses"]] == ["istio-init"]
    assert [s["name"] for s in body["containerStatuses"]] == ["client", "istio-proxy"]


def test_pod_status_names_the_unready_container_as_a_kubelet_does() -> None:
    found = status.pod_status(_sidecar_pod(), _states(False), "10.245.0.7", "10.245.0.1")
    ready = _conditions(found)["Ready"]
    assert ready["status"] == "False"
    assert ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [client]"


def test_pod_status_is_not_initialized_while_istio_init_failed() -> None:
    states = _states(True)
    states["istio-init"] = status.ContainerState(
        "istio-init", "docker.io/istio/proxyv2:1.31.0", status.terminated_now(1, "Error"))
    found = status.pod_status(_sidecar_pod(), states, "10.245.0.7", "10.245.0.1")
    assert found["status"]["phase"] == "Pending"
    assert _conditions(found)["Initialized"]["status"] == "False"
    assert _conditions(found)["Ready"]["status"] == "False"


class _Hanging:
    """A client whose request never returns (a stuck connection to the API server)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.asked: list[tuple[str, ...]] = []

    def get(self, *args: str) -> None:
        self.asked.append(args)
        self.release.wait(30)


def _ask(address: tuple[str, int], name: str) -> bytes:
    asker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    asker.settimeout(2)
    try:
        asker.sendto(_query(name), address)
        return asker.recvfrom(4096)[0]
    finally:
        asker.close()


def test_cluster_dns_never_waits_for_the_api_server() -> None:
    """A query is answered from the listed Services alone: a name not listed yet is
    NXDOMAIN at once, and the server goes on answering. It used to ask the API server for
    such a name on its only thread; when that request hung, every later query of every
    pod went unanswered (pilot-agent: "upstream failure: read udp ... i/o timeout", curl
    28 while resolving) for the rest of the plane's life."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.2)
    kube = _Hanging()
    dns = services.ClusterServices(kube, node_pid=0)  # type: ignore[arg-type]
    dns._addresses = {("ns", "echo"): "10.96.1.2"}
    thread = threading.Thread(target=dns._serve, args=(server,), daemon=True)
    thread.start()
    address = server.getsockname()
    try:
        unlisted = _ask(address, "new.ns.svc.cluster.local")
        assert struct.unpack("!H", unlisted[2:4])[0] & 0xF == 3  # NXDOMAIN, at once
        assert _ask(address, "echo.ns.svc.cluster.local")[-4:] == socket.inet_aton("10.96.1.2")
        assert kube.asked == []
    finally:
        kube.release.set()
        dns._stop.set()
        thread.join(2)
