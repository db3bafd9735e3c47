"""Start, watch and stop the controlplane cluster's processes, each by its own PID.

- each process gets its own session (``start_new_session``) and, unless the cluster is
  kept, ``PR_SET_PDEATHSIG=SIGKILL``: when the process that started it dies, even by
  SIGKILL, the kernel kills it too, so no etcd or istiod outlives a killed run;
- output goes to ``<name>.log`` in the cluster's folder (for diagnostics; never a key);
- :meth:`Processes.stop` stops in reverse order of start: SIGTERM, a bounded wait,
  then SIGKILL (kube-apiserver and istiod ignore SIGTERM for a while; see
  shared/research/controlplane.md "Stopping");
- the PIDs are written to ``pids.json`` so ``--reuse-cluster`` can reattach to a kept
  cluster and a later run can stop it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from meshconform.errors import ProvisioningError

_PR_SET_PDEATHSIG = 1
PIDS_FILE = "pids.json"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); it is gone for our purposes
    try:
        stat = Path(f"/proc/{pid}/stat").read_text("utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def wait_gone(pid: int, limit: float) -> bool:
    """Wait until ``pid`` has exited, for a process that may not be our child.

    A pidfd becomes readable when the process exits (Linux >= 5.3): no polling loop.
    A zombie child counts as gone.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not pid_alive(pid):
            return True
        readable, _, _ = select.select([fd], [], [], limit)
        return bool(readable) or not pid_alive(pid)
    finally:
        os.close(fd)


@dataclass
class Proc:
    name: str
    pid: int
    argv: tuple[str, ...]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid)

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def log_tail(self, lines: int = 12) -> str:
        try:
            text = self.log.read_text("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.strip().splitlines()[-lines:])

    def describe_exit(self) -> str:
        code = self.exit_code()
        return f"{self.name} (pid {self.pid}) exited with {code}; its log ends:\n{self.log_tail()}"


class Processes:
    """The processes of one control plane, in start order."""

    def __init__(self, folder: Path, *, die_with_parent: bool = True) -> None:
        self.folder = folder
        self.die_with_parent = die_with_parent
        self.procs: list[Proc] = []
        #: the process kubelet starts and stops pods' processes from its own thread
        self.lock = threading.RLock()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        preexec: Callable[[], None] | None = None,
        inherit_env: bool = True,
    ) -> Proc:
        """Start ``argv``; ``preexec`` runs in the child before exec (after the death
        signal is set, so it may change namespaces; it must set the death signal again if
        it changes the user, which clears it). ``inherit_env=False``: only ``env``."""
        log = self.folder / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)

        def before_exec() -> None:  # pragma: no cover - runs in the child
            if self.die_with_parent:
                _die_with_parent()
            if preexec is not None:
                preexec()

        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env={**(os.environ if inherit_env else {}), **(env or {})},
                start_new_session=True,
                preexec_fn=(  # noqa: PLW1509
                    before_exec if (self.die_with_parent or preexec is not None) else None
                ),
            )
        proc = Proc(name, popen.pid, tuple(argv), log, popen)
        with self.lock:
            self.procs.append(proc)
            self.save()
        return proc

    def get(self, name: str) -> Proc | None:
        return next((p for p in self.procs if p.name == name), None)

    def check_alive(self) -> None:
        """Raise ProvisioningError naming the first process that has exited."""
        for proc in self.procs:
            if not proc.alive():
                raise ProvisioningError(proc.describe_exit())

    def save(self) -> None:
        data = [{"name": p.name, "pid": p.pid, "argv": list(p.argv)} for p in self.procs]
        (self.folder / PIDS_FILE).write_text(json.dumps(data, indent=1), "utf-8")

    @classmethod
    def reattach(cls, folder: Path) -> Processes:
        """The processes a kept cluster left running, from its ``pids.json``."""
        found = cls(folder, die_with_parent=False)
        try:
            data = json.loads((folder / PIDS_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return found
        for entry in data:
            found.procs.append(
                Proc(
                    str(entry["name"]),
                    int(entry["pid"]),
                    tuple(entry.get("argv") or ()),
                    folder / f"{entry['name']}.log",
                )
            )
        return found

    def stop(self, grace: float = 10.0) -> list[str]:
        """Stop every process, last started first; returns the names that needed SIGKILL."""
        killed = [p.name for p in reversed(self.procs) if self._stop_one(p, grace)]
        self.procs.clear()
        with contextlib.suppress(OSError):
            (self.folder / PIDS_FILE).unlink()
        return killed

    def stop_some(self, names: Sequence[str], grace: float = 10.0) -> list[str]:
        """Stop the named processes (reverse start order) and forget them; the others run on.

        Returns the names that needed SIGKILL.
        """
        with self.lock:
            chosen = [p for p in self.procs if p.name in set(names)]
        killed = [p.name for p in reversed(chosen) if self._stop_one(p, grace)]
        with self.lock:
            self.procs = [p for p in self.procs if p not in chosen]
            self.save()
        return killed

    def _stop_one(self, proc: Proc, grace: float) -> bool:
        if not proc.alive():
            self._reap(proc)
            return False
        if proc.popen is None and not _same_program(proc):
            return False  # the PID was reused by something that is not ours: leave it
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        if self._wait(proc, grace):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        self._wait(proc, grace)
        return True

    @staticmethod
    def _reap(proc: Proc) -> None:
        if proc.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(0)

    @staticmethod
    def _wait(proc: Proc, limit: float) -> bool:
        if proc.popen is not None:
            try:
                proc.popen.wait(limit)
            except subprocess.TimeoutExpired:
                return False
            return True
        return wait_gone(proc.pid, limit)


def _same_program(proc: Proc) -> bool:
    """Is the PID still running the program we started (guards against PID reuse)?"""
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(proc.argv) and cmdline[:1] == [proc.argv[0].encode()]
