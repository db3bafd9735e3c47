"""Cluster DNS and Service routing for process pods, inside the node's network namespace.

A kind cluster gives pods two things besides their sidecar: CoreDNS at the cluster DNS
address (Service names, NXDOMAIN for names it does not know) and kube-proxy (a
ClusterIP reaches an endpoint even from a pod without a sidecar). Neither is in a
registry this suite may use, and neither is what the checks test, so the process node
has small equivalents, both visible in the evidence:

- cluster DNS: UDP DNS on :data:`CLUSTER_DNS` (an address of the node namespace):
  ``A`` for ``<service>.<namespace>.svc.cluster.local`` (its ClusterIP), an empty answer
  for other types of a known name, NXDOMAIN for everything else. pilot-agent's DNS proxy
  forwards what it does not know here, as it forwards to CoreDNS. Answers come from the
  Services the sync thread last listed (every 0.5 s), as CoreDNS answers from its
  informer's cache: a query never waits for the API server. A Service created since the
  last list is NXDOMAIN until the next one;
- :func:`service_rules`: the node namespace's ``nat`` rules from the EndpointSlices, as
  kube-proxy writes them in iptables mode (DNAT ClusterIP:port to a ready endpoint,
  masquerade), re-applied with ``iptables-restore`` when the Services change. Pods with
  a sidecar never use them for meshed traffic (Envoy picks the endpoint itself).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meshconform.live.controlplane.pods import netns
from meshconform.live.kube import Kube

CLUSTER_DNS = "10.96.0.10"
DOMAIN = "svc.cluster.local"
_CLONE_NEWNET = 0x40000000


def _name(packet: bytes, offset: int) -> tuple[str, int]:
    labels: list[str] = []
    while True:
        length = packet[offset]
        offset += 1
        if length == 0:
            return ".".join(labels), offset
        labels.append(packet[offset : offset + length].decode("ascii", "replace"))
        offset += length


def answer(query: bytes, lookup: Callable[[str], str | None]) -> bytes:
    """The response to one DNS query: A from ``lookup(name)``, NXDOMAIN when it has none."""
    ident, flags = struct.unpack("!HH", query[:4])
    name, end = _name(query, 12)
    qtype = struct.unpack("!H", query[end : end + 2])[0]
    question = query[12 : end + 4]
    address = lookup(name.lower().rstrip("."))
    rd = flags & 0x0100
    if address is None:
        header = struct.pack("!HHHHHH", ident, 0x8180 | rd | 3, 1, 0, 0, 0)  # NXDOMAIN
        return header + question
    if qtype != 1:  # a known name, no record of that type
        return struct.pack("!HHHHHH", ident, 0x8180 | rd, 1, 0, 0, 0) + question
    record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 5, 4) + socket.inet_aton(address)
    return struct.pack("!HHHHHH", ident, 0x8180 | rd, 1, 1, 0, 0) + question + record


def query_line(query: bytes, reply: bytes, peer: tuple[str, int], seconds: float) -> str:
    """One log line: time, client, name, type, response code and answer count, duration."""
    name, end = _name(query, 12)
    qtype = struct.unpack("!H", query[end : end + 2])[0]
    rcode = struct.unpack("!H", reply[2:4])[0] & 0xF
    answers = struct.unpack("!H", reply[6:8])[0]
    stamp = time.strftime("%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}"
    kind = {1: "A", 28: "AAAA"}.get(qtype, str(qtype))
    code = {0: "NOERROR", 3: "NXDOMAIN"}.get(rcode, str(rcode))
    took = f"{seconds * 1000:.1f}ms"
    return f"{stamp} {peer[0]}:{peer[1]} {name} {kind} {code} answers={answers} {took}\n"


def addresses(services: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(namespace, name) -> ClusterIP of every Service that has one (not headless)."""
    found = {}
    for svc in services:
        ip = (svc.get("spec") or {}).get("clusterIP")
        if ip and ip != "None":
            found[(svc["metadata"]["namespace"], svc["metadata"]["name"])] = str(ip)
    return found


def service_rules(services: list[dict[str, Any]], slices: list[dict[str, Any]]) -> str:
    """``iptables-restore`` input for the node namespace: kube-proxy's DNAT, simplified
    to the first ready endpoint of each port."""
    endpoints: dict[tuple[str, str, str], tuple[str, int]] = {}
    for item in slices:
        meta = item["metadata"]
        service = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        ready = [
            e["addresses"][0]
            for e in item.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready") is not False and e.get("addresses")
        ]
        for port in item.get("ports") or []:
            if service and ready and port.get("port"):
                key = (meta["namespace"], service, str(port.get("name") or ""))
                endpoints.setdefault(key, (ready[0], int(port["port"])))
    lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]"]
    for svc in services:
        ip = (svc.get("spec") or {}).get("clusterIP")
        if not ip or ip == "None":
            continue
        for port in svc["spec"].get("ports") or []:
            meta = svc["metadata"]
            key = (meta["namespace"], meta["name"], str(port.get("name") or ""))
            target = endpoints.get(key)
            if target is None:
                continue
            proto = str(port.get("protocol") or "TCP").lower()
            lines.append(
                f"-A PREROUTING -d {ip}/32 -p {proto} -m {proto} --dport {port['port']} "
                f"-j DNAT --to-destination {target[0]}:{target[1]}"
            )
    lines += ["-A POSTROUTING -m conntrack --ctstate DNAT -j MASQUERADE", "COMMIT", ""]
    return "\n".join(lines)


class ClusterServices:
    """Cluster DNS and Service rules of one process node (threads of the running process)."""

    def __init__(self, kube: Kube, node_pid: int, log: Path | None = None) -> None:
        self.kube = kube
        self.node_pid = node_pid
        #: one line per query (as CoreDNS's log plugin): when, who, what, the answer, how
        #: long it took; the evidence when a pod's lookups time out
        self.log = log
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._rules = ""
        #: (namespace, name) -> ClusterIP of the Services last listed
        self._addresses: dict[tuple[str, str], str] = {}
        self.errors: list[str] = []

    def start(self) -> None:
        netns.run(
            netns.in_ns(self.node_pid, ["ip", "addr", "add", f"{CLUSTER_DNS}/32", "dev", "lo"]),
            what="cluster DNS address",
        )
        sock = self._socket()
        for target, args in ((self._serve, (sock,)), (self._sync, ())):
            thread = threading.Thread(target=target, args=args, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def _socket(self) -> socket.socket:
        """A UDP socket bound to :data:`CLUSTER_DNS`:53 in the node namespace (setns is per
        thread: this thread enters, binds, and returns)."""
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/proc/{self.node_pid}/ns/net", os.O_RDONLY)
        try:
            libc.setns(target, _CLONE_NEWNET)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.bind((CLUSTER_DNS, 53))
                sock.settimeout(0.5)
            finally:
                libc.setns(own, _CLONE_NEWNET)
        finally:
            os.close(own)
            os.close(target)
        return sock

    def lookup(self, name: str) -> str | None:
        """The ClusterIP of ``<service>.<namespace>.svc.cluster.local`` from the Services
        last listed; None (NXDOMAIN) for anything else. Never a request to the API server:
        this runs on the server's only thread, and one request that hung once stopped every
        pod's lookups for the rest of the plane's life."""
        parts = name.split(".")
        if not name.endswith("." + DOMAIN) or len(parts) != 5:
            return None
        return self._addresses.get((parts[1], parts[0]))

    def _serve(self, sock: socket.socket) -> None:
        out = self.log.open("a", encoding="utf-8", buffering=1) if self.log else None
        try:
            while not self._stop.is_set():
                try:
                    query, peer = sock.recvfrom(4096)
                except TimeoutError:
                    continue
                except OSError as error:  # the socket closed (stop), or a transient error
                    if self._stop.is_set() or sock.fileno() < 0:
                        return
                    self.errors.append(f"cluster DNS: {error}")
                    continue
                started = time.monotonic()
                with contextlib.suppress(Exception):
                    reply = answer(query, self.lookup)
                    sock.sendto(reply, peer)
                    if out is not None:
                        out.write(query_line(query, reply, peer, time.monotonic() - started))
        finally:
            sock.close()
            if out is not None:
                out.close()

    def _sync(self) -> None:
        while not self._stop.wait(0.5):
            try:
                services = self.kube.list("v1", "Service")
                self._addresses = addresses(services)
                slices = self.kube.list("discovery.k8s.io/v1", "EndpointSlice")
                rules = service_rules(services, slices)
                if rules != self._rules:
                    import subprocess  # noqa: PLC0415

                    subprocess.run(
                        netns.in_ns(self.node_pid, ["iptables-restore"]),
                        input=rules, text=True, check=True, capture_output=True, timeout=20,
                    )  # fmt: skip
                    self._rules = rules
            except Exception as error:  # noqa: BLE001 - reported, retried
                self.errors.append(f"service rules: {error}")
