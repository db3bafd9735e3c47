"""The live tier's preflight through the real plugin: one line, before anything is created."""

from __future__ import annotations

import time

import pytest


def test_live_tier_without_docker_stops_with_one_line(pytester: pytest.Pytester,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(pytester.path))  # no docker, no kind, nothing
    monkeypatch.setenv("MESHCONFORM_CACHE", str(pytester.path / "cache"))
    pytester.makepyfile("def test_nothing():\n    pass\n")
    started = time.monotonic()
    result = pytester.runpytest_inprocess("--tier", "live", "--mesh-mode", "sidecar",
                                          "-p", "no:cacheprovider")
    assert time.monotonic() - started < 2
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if "meshconform:" in line]
    assert len(errors) == 1
    assert "docker client is not installed" in errors[0]
    assert not (pytester.path / "cache" / "clusters").exists()
