"""Process handling of the controlplane cluster: stop by PID, die with a killed parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meshconform.errors import ProvisioningError
from meshconform.live.controlplane.processes import Processes, free_port, pid_alive, wait_gone
from meshconform.wait import Done, Pending, wait_until


def _gone(pid: int) -> bool:
    return not pid_alive(pid)


def test_stop_in_reverse_order_escalates_to_sigkill(tmp_path: Path) -> None:
    procs = Processes(tmp_path)
    polite = procs.start("polite", ["sleep", "600"])
    # ignores SIGTERM, like kube-apiserver and istiod for a while
    stubborn = procs.start(
        "stubborn", [sys.executable, "-c", "import signal,time; "
                     "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); "
                     "time.sleep(600)"])
    wait_until("stubborn ignores SIGTERM", lambda: Done(None) if "up" in
               stubborn.log.read_text() else Pending("starting"), timeout=10, interval=0.05)
    assert (tmp_path / "pids.json").is_file()
    killed = procs.stop(grace=0.5)
    assert killed == ["stubborn"]
    assert _gone(polite.pid)
    assert _gone(stubborn.pid)
    assert not (tmp_path / "pids.json").exists()


def test_check_alive_names_the_exited_process_and_its_log(tmp_path: Path) -> None:
    procs = Processes(tmp_path)
    done = procs.start("etcd", ["sh", "-c", "echo 'listen tcp: address in use' >&2; exit 3"])
    wait_until("exit", lambda: Done(None) if not done.alive() else Pending("running"),
               timeout=10, interval=0.05)
    exited = r"(?s)etcd \(pid \d+\) exited with 3.*address in use"
    with pytest.raises(ProvisioningError, match=exited):
        procs.check_alive()
    procs.stop()


def test_reattach_adopts_and_stops_a_kept_process(tmp_path: Path) -> None:
    kept = Processes(tmp_path, die_with_parent=False)
    proc = kept.start("kept", ["sleep", "600"])
    adopted = Processes.reattach(tmp_path)
    assert [p.pid for p in adopted.procs] == [proc.pid]
    assert adopted.procs[0].alive()
    adopted.stop(grace=2)
    proc.popen.wait(5)  # type: ignore[union-attr]  (reap our own child)
    assert _gone(proc.pid)


def test_reattach_leaves_a_reused_pid_alone(tmp_path: Path) -> None:
    """A pids.json whose PID now runs another program must not get that program killed."""
    other = subprocess.Popen(["sleep", "600"])
    try:
        (tmp_path / "pids.json").write_text(
            f'[{{"name": "etcd", "pid": {other.pid}, "argv": ["/usr/bin/etcd"]}}]')
        Processes.reattach(tmp_path).stop(grace=0.5)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


_PARENT = """
import sys
from pathlib import Path
from meshconform.live.controlplane.processes import Processes
procs = Processes(Path(sys.argv[1]))
child = procs.start("etcd", ["sleep", "600"])
print(child.pid, flush=True)
sys.stdin.read()  # block until killed
"""


def test_processes_die_with_a_killed_parent(tmp_path: Path) -> None:
    """SIGKILL of the suite's process runs no cleanup; the kernel must end its processes."""
    with subprocess.Popen([sys.executable, "-c", _PARENT, str(tmp_path)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert pid_alive(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
    assert wait_gone(child, 10), f"process {child} outlived its killed parent"


def test_free_port_is_bindable() -> None:
    import socket  # noqa: PLC0415

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_stale_throwaway_folders_are_swept(tmp_path: Path) -> None:
    """A killed run leaves its folder (its processes died with it); the next run clears it,
    but never a folder whose processes live, nor one younger than ten minutes."""
    from meshconform.live.controlplane.provider import sweep_stale  # noqa: PLC0415

    dead = tmp_path / "meshconform-cp-cni-aaaa"
    dead.mkdir()
    (dead / "pids.json").write_text('[{"name": "etcd", "pid": 999999999, "argv": ["etcd"]}]')
    living = tmp_path / "meshconform-cp-cni-bbbb"
    living.mkdir()
    procs = Processes(living)
    procs.start("etcd", ["sleep", "600"])
    young = tmp_path / "meshconform-cp-cni-cccc"
    young.mkdir()
    old = time.time() - 3600
    for folder in (dead, living):
        os.utime(folder, (old, old))
    try:
        assert sweep_stale(tmp_path, "meshconform-cp-cni") == ["meshconform-cp-cni-aaaa"]
        assert living.is_dir()
        assert young.is_dir()
    finally:
        procs.stop()


def test_a_running_plane_of_the_same_name_is_never_removed(tmp_path: Path) -> None:
    """Subprocesses of a run inherit its run id, so two planes can get one name: the second
    must refuse, not delete the first one's folder (its PKI) under its running processes."""
    from meshconform.live.controlplane.cluster import start_control_plane  # noqa: PLC0415

    folder = tmp_path / "meshconform-cp-gwlab-1.31-abcd1234"
    folder.mkdir()
    (folder / "pki").mkdir()
    (folder / "pki" / "ca.crt").write_text("a CA", "utf-8")
    procs = Processes(folder)
    procs.start("etcd", [sys.executable, "-c", "import time; time.sleep(600)"])
    procs.save()
    try:
        with pytest.raises(ProvisioningError, match="is running \\(etcd"):
            start_control_plane(folder.name, None,  # type: ignore[arg-type]
                                nodes=(), kubelet_version="v1.35.4", ready_timeout=1,
                                folder=folder)
        assert (folder / "pki" / "ca.crt").is_file()
    finally:
        procs.stop(grace=1)
