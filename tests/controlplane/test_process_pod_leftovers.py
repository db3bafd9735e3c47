"""A killed run leaves no process pod behind: namespaces, links, rules and processes go.

A child Python process builds what the process kubelet builds for a pod (node and pod
namespaces held by processes, the node's machine link with its podCIDR route in the
machine namespace, the veth on the node's bridge, Istio's kind of rules, a process in the
pod that forks a child of its own, as ``sh -c 'sleep & wait'`` does) and is then killed
with SIGKILL, as an interrupted CI job is. Afterwards no process is in those namespaces,
so the kernel has freed them with their links and rules; the machine namespace has no
link and no route of the run left; ``ip netns list`` never showed them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from meshconform.live.controlplane import pods
from meshconform.live.controlplane.pods import netns
from meshconform.live.controlplane.processes import wait_gone
from meshconform.wait import Done, Pending, wait_until

CHILD = textwrap.dedent(
    """
    import ipaddress, json, sys, time
    from pathlib import Path
    from meshconform.live.controlplane.pods import netns
    from meshconform.live.controlplane.pods.kubelet import _wait_unshared
    from meshconform.live.controlplane.processes import Processes

    folder = Path(sys.argv[1])
    procs = Processes(folder)
    node = procs.start("node", netns.holder_argv(pod=False))
    _wait_unshared(node)
    with netns.claim_pod_cidr() as cidr:
        netns.setup_node(node.pid, ipaddress.IPv4Interface(f"{cidr[1]}/24"))
        link = netns.link_machine(node.pid, cidr)
    pod = procs.start("pod", netns.holder_argv(pod=True))
    _wait_unshared(pod)
    init = netns.pod_init(pod.pid)
    netns.setup_pod_network(pod.pid, node.pid, 1, ipaddress.IPv4Interface(f"{cidr[2]}/24"),
                            cidr[1])
    netns.run(netns.in_ns(pod.pid, ["iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp",
                                    "-j", "REDIRECT", "--to-ports", "15001"]), what="rule")
    netns.setup_pod_files(pod.pid, 1337, 1337)
    app = procs.start("app", netns.pod_argv(init, 100, 100, ["sh", "-c", "sleep 1000 & wait"]),
                      preexec=netns.enter_pod(pod.pid, Path("/")), inherit_env=False,
                      env={"PATH": "/usr/bin:/bin"})
    deadline = time.monotonic() + 10  # until the app has forked its child (the orphan to be)
    while not any((t / "children").read_text().split()
                  for t in Path(f"/proc/{app.pid}/task").glob("*")):
        assert time.monotonic() < deadline, "the app never forked"
        time.sleep(0.01)
    inodes = sorted({str(Path(f"/proc/{p}/ns/net").readlink()) for p in (node.pid, pod.pid)})
    print(json.dumps({"inodes": inodes, "pids": [node.pid, pod.pid, init, app.pid],
                      "link": link, "cidr": str(cidr), "pod_ip": str(cidr[2])}), flush=True)
    time.sleep(600)
    """
)


def processes_in(inodes: set[str]) -> list[str]:
    found = []
    for task in Path("/proc").glob("[0-9]*"):
        try:
            if str((task / "ns/net").readlink()) in inodes:
                found.append(f"{task.name} {(task / 'cmdline').read_bytes()[:80]!r}")
        except OSError:
            continue
    return found


def machine_leftovers(link: str, cidr: str) -> list[str]:
    """The run's link, and every route overlapping its podCIDR, in the machine namespace."""
    found = []
    shown = subprocess.run(["ip", "link", "show", link], capture_output=True, check=False)
    if shown.returncode == 0:
        found.append(f"link {link}")
    network = ipaddress.IPv4Network(cidr)
    found += [f"route {route}" for route in netns.machine_routes() if route.overlaps(network)]
    return found


def test_killed_run_leaves_nothing(tmp_path: Path) -> None:
    reason = pods.unsupported()
    if reason is not None:
        pytest.fail(f"process pods cannot run on this machine: {reason}")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        seen = json.loads(child.stdout.readline())
        inodes = set(seen["inodes"])
        during = processes_in(inodes)
        # the pod's sleep (a grandchild of the app's sh) is in the pod too
        assert any("sleep" in line and "1000" in line for line in during), during
        # the machine reaches the pod over the link: nothing listens on port 1, so the
        # pod's kernel refuses the connection (curl 7), which only a reached pod can do
        assert machine_leftovers(seen["link"], seen["cidr"]), "no machine link while running"
        curl = subprocess.run(["curl", "-s", "--max-time", "2", f"http://{seen['pod_ip']}:1/"],
                              capture_output=True, check=False)  # fmt: skip
        assert curl.returncode == 7, f"the pod was not reached from the machine: curl {curl}"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    wait_until(
        "every process of the killed run's pods gone",
        lambda: Pending(str(processes_in(inodes))) if processes_in(inodes) else Done(None),
        timeout=10,
        interval=0.1,
    )
    for pid in seen["pids"]:
        assert wait_gone(pid, 5), (
            f"process {pid} outlived the run: "
            + subprocess.run(["ps", "-o", "pid,ppid,stat,user,cmd", "-p", str(pid)],
                             capture_output=True, text=True, check=False).stdout
        )
    wait_until(
        "the machine link and its route gone with the node's namespace",
        lambda: Pending(str(left)) if (left := machine_leftovers(seen["link"], seen["cidr"]))
        else Done(None),
        timeout=10,
        interval=0.1,
    )
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert listed.stdout.strip() == "", f"named network namespaces: {listed.stdout}"
