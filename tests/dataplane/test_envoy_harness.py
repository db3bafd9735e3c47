"""The Envoy harness: ready by the admin endpoint, never leaves a process behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from meshconform.dataplane import xds
from meshconform.dataplane.envoy import running_envoy, start_envoy
from meshconform.waiters import WaitFailed


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
