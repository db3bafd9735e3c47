"""Network and mount namespaces for process pods, held by processes, never by name.

Every namespace here is created by a *holder* process (``unshare ... sleep infinity``)
started through the plane's :class:`~meshconform.live.controlplane.processes.Processes`,
so it carries ``PR_SET_PDEATHSIG``. A namespace lives exactly as long as some process is
inside it: when the run ends, or is killed, the holders and every process of the pod die,
the kernel frees the namespaces, and with them their veth links, addresses, routes and
iptables rules. Nothing is bind-mounted under ``/run/netns``, so ``ip netns list`` never
shows them and there is nothing a crashed run could leave for a sweep.

The layout of one plane (all of it inside namespaces the run created):

- a *node* network namespace with a bridge ``br0`` holding the node's first podCIDR
  address (the pods' gateway), IPv4 forwarding on and an ``unreachable`` default route:
  traffic between pods is bridged; anything addressed outside the podCIDR (a ClusterIP
  that no sidecar intercepted, a DNS server nobody runs) is refused at once with ICMP;
- the *machine link* (:func:`link_machine`): a veth whose node end is one more port of
  the bridge and whose machine end holds the podCIDR's last address, so the machine
  (the gateway's Envoy) reaches pods directly, as a node does. Its only route is the
  one the kernel makes for that address (the plane's podCIDR, on that link); nothing is
  forwarded in the machine namespace, and the node namespace still routes nothing off
  the machine. Each plane has its own podCIDR (:func:`claim_pod_cidr`);
- one network + mount namespace per pod: ``lo``, ``eth0`` (a veth whose peer is on the
  bridge) with the pod's address, a default route via the bridge; a private tmpfs at
  :data:`POD_ROOT` (the pod's files, owned by the proxy's UID) and ``/etc/resolv.conf``
  bind-mounted from it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import ipaddress
import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from meshconform.errors import ProvisioningError

#: an existing, empty FHS directory; each pod's mount namespace mounts its own tmpfs on it
#: (the host's directory is never written), and pilot-agent runs there: its relative
#: paths (``./var/run/secrets/...``, ``./etc/istio/proxy``) land in the pod's tmpfs
POD_ROOT = Path("/media")
BRIDGE = "br0"
#: the podCIDRs process nodes take theirs from, one /24 per plane (:func:`claim_pod_cidr`)
POD_CIDRS = ipaddress.IPv4Network("10.245.0.0/16")
NODE_PREFIX = 24
#: the node end of the machine link, a port of :data:`BRIDGE`
MACHINE_PORT = "machine0"
#: held while a run picks a podCIDR and puts its route in place (machine-wide, all runs)
CIDR_LOCK = Path("/run/meshconform-pod-cidr.lock")
_ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "throw", "unreachable",
                "prohibit", "blackhole", "nat", "anycast"}  # fmt: skip
_CLONE_NEWNS = 0x00020000
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1


class NamespaceError(ProvisioningError):
    """A namespace, link or mount could not be set up (the command and its output)."""


def run(argv: Sequence[str], *, what: str, timeout: float = 30) -> str:
    """Run a setup command (as root); raise with its output when it fails."""
    try:
        out = subprocess.run(
            list(argv), capture_output=True, text=True, check=False, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NamespaceError(f"{what}: {' '.join(argv)}: {error}") from None
    if out.returncode != 0:
        raise NamespaceError(
            f"{what}: {' '.join(argv)} exited {out.returncode}: "
            f"{(out.stderr or out.stdout).strip()[-600:]}"
        )
    return out.stdout


def in_ns(pid: int, argv: Sequence[str], *, net: bool = True, mount: bool = False) -> list[str]:
    """``argv`` run inside the namespaces of ``pid`` (nsenter)."""
    flags = [f"--target={pid}"]
    if net:
        flags.append("--net")
    if mount:
        flags.append("--mount")
    return ["nsenter", *flags, "--", *argv]


def holder_argv(*, pod: bool) -> list[str]:
    """A process that owns new namespaces until it dies.

    For a pod also a PID namespace, as a container has: ``unshare`` forks its first
    process (``sleep``, PID 1 there) and kills it when ``unshare`` itself dies. When that
    PID 1 dies the kernel kills every process in the namespace, so no child of an app
    (``sh`` running ``sleep``) or of pilot-agent (Envoy) can outlive the pod.
    """
    argv = ["unshare", "--net"]
    if pod:
        argv += ["--mount", "--propagation", "private", "--pid", "--fork", "--kill-child"]
    return [*argv, "--", "sleep", "infinity"]


def _setns(path: str, kind: int) -> None:  # pragma: no cover - runs in a child
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, kind) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def enter_pod(pid: int, cwd: Path = POD_ROOT) -> Callable[[], None]:
    """A ``preexec`` that moves the child into the network and mount namespaces of the
    pod whose holder is ``pid`` (as root; :func:`pod_argv` does the PID namespace and
    the user)."""

    def preexec() -> None:  # pragma: no cover - runs in the child
        _setns(f"/proc/{pid}/ns/net", _CLONE_NEWNET)
        _setns(f"/proc/{pid}/ns/mnt", _CLONE_NEWNS)
        os.chdir(cwd)
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() == 1:
            os._exit(1)  # the run died between fork and here

    return preexec


def pod_init(holder: int) -> int:
    """PID (on the machine) of the pod's PID 1, the holder's one child."""
    children = Path(f"/proc/{holder}/task/{holder}/children").read_text("utf-8").split()
    if not children:
        raise NamespaceError(f"the pod holder {holder} has no PID 1 (unshare --fork)")
    return int(children[0])


def pod_argv(init: int, uid: int, gid: int, argv: Sequence[str]) -> list[str]:
    """``argv`` as a process of the pod: in its PID namespace (``nsenter`` forks it there,
    so it dies with the pod's PID 1; a multi-threaded program cannot join a PID namespace
    by setns alone) and as the container's user (``setpriv``)."""
    return [
        "nsenter", f"--target={init}", "--pid", "--",
        "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
        *argv,
    ]  # fmt: skip


def setup_node(pid: int, gateway: ipaddress.IPv4Interface) -> None:
    """The node namespace: bridge with the pods' gateway address; nothing routed beyond."""
    script = (
        "set -e; ip link set lo up; "
        f"ip link add {BRIDGE} type bridge; "
        f"ip addr add {gateway.with_prefixlen} dev {BRIDGE}; "
        f"ip link set {BRIDGE} up; "
        "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0; "
        "ip route add unreachable default"
    )
    run(in_ns(pid, ["sh", "-c", script]), what="node network namespace")


def veth_name(index: int) -> str:
    return f"vp{index:08x}"[:15]


def setup_pod_network(
    pod_pid: int,
    node_pid: int,
    index: int,
    address: ipaddress.IPv4Interface,
    gateway: ipaddress.IPv4Address,
) -> None:
    """The pod's ``eth0`` (veth to the node's bridge), its address and default route."""
    peer = veth_name(index)
    run(
        [
            "ip", "link", "add", "name", peer, "netns", str(node_pid),
            "type", "veth", "peer", "name", "eth0", "netns", str(pod_pid),
        ],
        what="pod veth",
    )  # fmt: skip
    run(
        in_ns(
            node_pid, ["sh", "-c", f"ip link set {peer} master {BRIDGE} && ip link set {peer} up"]
        ),
        what="pod veth on the bridge",
    )
    script = (
        "set -e; ip link set lo up; "
        f"ip addr add {address.with_prefixlen} dev eth0; "
        "ip link set eth0 up; "
        f"ip route add default via {gateway}"
    )
    run(in_ns(pod_pid, ["sh", "-c", script]), what="pod network")


def setup_pod_files(pod_pid: int, uid: int, gid: int) -> Path:
    """Mount the pod's private tmpfs at :data:`POD_ROOT`; its path as seen from here."""
    run(
        in_ns(
            pod_pid,
            ["mount", "-t", "tmpfs", "-o", f"mode=0755,uid={uid},gid={gid},size=64m",
             "pod", str(POD_ROOT)],
            net=False,
            mount=True,
        ),
        what="pod tmpfs",
    )  # fmt: skip
    return Path(f"/proc/{pod_pid}/root{POD_ROOT}")


def bind_file(pod_pid: int, source: Path, target: Path) -> None:
    """Bind-mount ``source`` (e.g. a binary under /root) over ``target`` in the pod.

    A bind mount is reached through its new path only, so the proxy's UID can run a
    binary whose original directory it may not enter. ``target`` must exist.
    """
    run(
        in_ns(pod_pid, ["mount", "--bind", str(source), str(target)], net=False, mount=True),
        what=f"bind {source} into the pod",
    )


def iptables_save(pod_pid: int) -> str:
    """The pod's nat table as ``iptables-save`` prints it."""
    return run(in_ns(pod_pid, ["iptables-save", "-t", "nat"]), what="iptables-save")


def machine_routes() -> list[ipaddress.IPv4Network]:
    """Every IPv4 destination the machine namespace has a route for, in any table
    (default routes left out: a podCIDR is more specific than any of them)."""
    out = run(["ip", "-4", "-o", "route", "show", "table", "all"], what="machine routes")
    found = []
    for line in out.splitlines():
        words = line.split()
        if words and words[0] in _ROUTE_TYPES:
            words = words[1:]
        if not words or words[0] == "default":
            continue
        with contextlib.suppress(ValueError):
            found.append(ipaddress.IPv4Network(words[0], strict=False))
    return found


def free_pod_cidr(routes: Sequence[ipaddress.IPv4Network]) -> ipaddress.IPv4Network | None:
    """The first /24 of :data:`POD_CIDRS` that no route overlaps (None: all taken)."""
    for candidate in POD_CIDRS.subnets(new_prefix=NODE_PREFIX):
        if not any(candidate.overlaps(route) for route in routes):
            return candidate
    return None


@contextlib.contextmanager
def claim_pod_cidr(lock: Path = CIDR_LOCK) -> Iterator[ipaddress.IPv4Network]:
    """A podCIDR no route of the machine uses, held under a machine-wide lock.

    The caller must put its route in place (:func:`link_machine`) inside the ``with``:
    the route is what tells the next run that the podCIDR is taken, so concurrent runs
    (every plane of a ``--mesh-mode all`` run, other sessions, the gateway lab) never
    pick the same one. The lock is a ``flock``: a killed run releases it.
    """
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        cidr = free_pod_cidr(machine_routes())
        if cidr is None:
            raise NamespaceError(
                f"every /{NODE_PREFIX} of {POD_CIDRS} has a route on this machine: no podCIDR "
                "left for a process node (`ip route show table all`)"
            )
        yield cidr
    finally:
        os.close(fd)  # releases the lock


def machine_link_name(cidr: ipaddress.IPv4Network) -> str:
    """The machine end of a plane's machine link, named after its podCIDR (unique)."""
    return f"mcnode{cidr.network_address.packed[2]}"


def machine_address(cidr: ipaddress.IPv4Network) -> ipaddress.IPv4Interface:
    """The machine's address on the pods' network: the podCIDR's last host address."""
    return ipaddress.IPv4Interface(f"{cidr[-2]}/{cidr.prefixlen}")


def link_machine(node_pid: int, cidr: ipaddress.IPv4Network) -> str:
    """Connect the machine namespace to the node's bridge; the machine end's name.

    A veth pair: :data:`MACHINE_PORT` in the node namespace on the bridge, the other end
    here with :func:`machine_address`. The kernel routes the podCIDR on that link and
    nothing else; no forwarding is turned on here. The node end lives in a namespace only
    the node's holder keeps: when the run ends or is killed, the kernel deletes the pair,
    the address and the route with it.
    """
    name = machine_link_name(cidr)
    run(
        ["ip", "link", "add", "name", name, "type", "veth",
         "peer", "name", MACHINE_PORT, "netns", str(node_pid)],
        what="machine link",
    )  # fmt: skip
    try:
        run(
            in_ns(node_pid, ["sh", "-c", f"ip link set {MACHINE_PORT} master {BRIDGE} && "
                                         f"ip link set {MACHINE_PORT} up"]),
            what="machine link on the node's bridge",
        )  # fmt: skip
        run(["ip", "addr", "add", machine_address(cidr).with_prefixlen, "dev", name],
            what="machine link address")  # fmt: skip
        run(["ip", "link", "set", name, "up"], what="machine link up")
    except NamespaceError:
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
        raise
    return name
