"""Defect 1 (issue 10): a setup that failed is remembered, and every dependent check ends
``error`` at once with the original cause instead of paying for the setup again."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from meshconform.errors import ProvisioningError
from meshconform.live.clusters import Cluster, ClusterPool, Kind
from meshconform.modes import MODES
from meshconform.setups import Remembered, SetupFailed
from meshconform.wait import Timeouts

KIND = Path("/opt/bin/kind")


class Runner:
    """kind as the pool sees it: the cluster exists already (adopted, nothing created)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        if list(argv[1:3]) == ["get", "clusters"]:
            return subprocess.CompletedProcess(argv, 0, "meshconform-ambient\n", "")
        if list(argv[1:3]) == ["get", "kubeconfig"]:
            return subprocess.CompletedProcess(argv, 0, KUBECONFIG, "")
        return subprocess.CompletedProcess(argv, 0, "", "")


KUBECONFIG = """apiVersion: v1
kind: Config
current-context: kind-meshconform-ambient
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: kind-meshconform-ambient, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: t}}]
"""


def _pool(tmp_path: Path, runner: Runner) -> ClusterPool:
    return ClusterPool(node_image="img", timeouts=Timeouts(), kind=Kind(KIND, runner),
                       state=tmp_path)


def test_a_failed_cluster_setup_is_not_retried_and_names_the_first_cause(
    tmp_path: Path,
) -> None:
    prepared: list[str] = []

    def prepare(cluster: Cluster) -> None:
        prepared.append(cluster.name)
        raise ProvisioningError("ztunnel not ready: pod ztunnel-x Pending (Insufficient cpu)")

    pool = _pool(tmp_path, Runner())
    with pytest.raises(ProvisioningError, match="Insufficient cpu"):
        pool.get(MODES["ambient"], prepare=prepare)
    for _ in range(3):
        with pytest.raises(SetupFailed) as again:
            pool.get(MODES["ambient"], prepare=prepare)
        assert "ztunnel not ready" in str(again.value)
        assert "Insufficient cpu" in str(again.value)
    assert prepared == ["meshconform-ambient"]
    assert not isinstance(again.value, AssertionError)  # ends `error`, never `fail`


def test_another_process_of_the_same_run_sees_the_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """xdist workers share the cluster: the second worker must not prepare it again."""
    monkeypatch.setenv("MESHCONFORM_RUN_ID", "run-1")
    monkeypatch.delenv("PYTEST_XDIST_TESTRUNUID", raising=False)

    def prepare(cluster: Cluster) -> None:
        raise ProvisioningError("istioctl install failed (exit 1)")

    with pytest.raises(ProvisioningError):
        _pool(tmp_path, Runner()).get(MODES["ambient"], prepare=prepare)
    second = Runner()
    with pytest.raises(SetupFailed, match="istioctl install failed"):
        _pool(tmp_path, second).get(MODES["ambient"], prepare=prepare)
    assert second.calls == []  # decided from the marker, under the lock, before kind

    monkeypatch.setenv("MESHCONFORM_RUN_ID", "run-2")  # a new run tries again
    with pytest.raises(ProvisioningError, match="istioctl install failed"):
        _pool(tmp_path, Runner()).get(MODES["ambient"], prepare=prepare)


def test_a_failed_shared_app_is_not_retried() -> None:
    calls: list[int] = []

    def create() -> str:
        calls.append(1)
        raise ProvisioningError("deployment outside/external: ImagePullBackOff")

    apps = Remembered()
    with pytest.raises(ProvisioningError):
        apps.get(("outside", "cni"), "the shared app outside (cni)", create)
    with pytest.raises(SetupFailed, match=r"outside \(cni\) could not be set up.*ImagePullBackOff"):
        apps.get(("outside", "cni"), "the shared app outside (cni)", create)
    assert calls == [1]
    assert apps.get(("outside", "sidecar"), "x", lambda: "ok") == "ok"


def test_an_interrupt_is_not_remembered_as_a_setup_failure() -> None:
    def interrupted() -> str:
        raise KeyboardInterrupt

    apps = Remembered()
    with pytest.raises(KeyboardInterrupt):
        apps.get("k", "x", interrupted)
    assert apps.get("k", "x", lambda: "ok") == "ok"


def test_the_suites_shared_apps_remember_failures() -> None:
    """suites/conftest.py's SharedApps is the remembering kind (its fixtures rely on it)."""
    import importlib.util  # noqa: PLC0415

    from meshconform import paths  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location(
        "suites_conftest_under_test", paths.repo_root() / "suites" / "conftest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    apps = module.SharedApps()
    assert isinstance(apps, Remembered)

    def broken() -> str:
        raise ProvisioningError("echo CrashLoopBackOff")

    with pytest.raises(ProvisioningError):
        apps.get(("strict_echo", "cni"), "strict-echo (cni)", broken)
    with pytest.raises(SetupFailed, match="CrashLoopBackOff"):
        apps.get(("strict_echo", "cni"), "strict-echo (cni)", broken)
