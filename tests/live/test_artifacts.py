"""Failure artifacts: layout, every container's logs, and no secret ever written."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from meshconform.live.artifacts import ArtifactWriter, IstioctlAccess, collect, containers_of
from meshconform.plugin.live import namespace_name

PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x\n-----END RSA PRIVATE KEY-----")

NATIVE_POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "job-x7k2p", "namespace": "mc-job-abcde",
                 "annotations": {"note": "token: sk-live-0123456789abcdef"},
                 "managedFields": [{"manager": "kube-controller-manager"}]},
    "spec": {"initContainers": [{"name": "istio-init"},
                                {"name": "istio-proxy", "restartPolicy": "Always"}],
             "containers": [{"name": "app"}]},
    "status": {"phase": "Running",
               "initContainerStatuses": [{"name": "istio-init", "restartCount": 0},
                                         {"name": "istio-proxy", "restartCount": 2}],
               "containerStatuses": [{"name": "app", "restartCount": 0}]},
}
SECRET = {"apiVersion": "v1", "kind": "Secret",
          "metadata": {"name": "tls", "namespace": "mc-job-abcde"},
          "data": {"tls.key": "c2VjcmV0LWtleS1ieXRlcw==", "tls.crt": "Y2VydA=="}}


class Reader:
    """The read side of Kube over canned objects (tests the writer, not Kubernetes)."""

    def __init__(self) -> None:
        self.log_calls: list[tuple[str, bool]] = []

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        return {"Pod": [NATIVE_POD], "Job": [SECRET]}.get(kind, [])

    def logs(self, namespace: str, pod: str, container: str | None = None,
             tail: int | None = None, previous: bool = False) -> str:
        self.log_calls.append((str(container), previous))
        return f"{container} says Authorization: Bearer abc.def.ghi\n{PEM}\n"

    def events(self, namespace: str, involved_name: str | None = None) -> list[dict[str, Any]]:
        return [{"type": "Warning", "reason": "BackOff", "count": 3,
                 "lastTimestamp": "2026-11-23T10:00:00Z", "message": "password=hunter2hunter2",
                 "involvedObject": {"kind": "Pod", "name": "job-x7k2p"}}]


def test_collect_writes_everything_redacted(tmp_path: Path) -> None:
    reader = Reader()
    calls: list[list[str]] = []

    def runner(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        calls.append(list(argv))
        dump = ('{"configs": [{"private_key": {"inline_string": "-----BEGIN PRIVATE KEY-----'
                '\\nMIIEvQIBADANBgkqhkiG9w0\\n-----END PRIVATE KEY-----\\n"}}]}')
        return subprocess.CompletedProcess(argv, 0, dump, "")

    access = IstioctlAccess(Path("/bin/istioctl"), Path("/state/cni.kubeconfig"), "kind-x")
    out = collect(reader, ["mc-job-abcde"], tmp_path, istioctl=access, runner=runner)
    names = sorted(str(p.relative_to(tmp_path)) for p in out.written)
    assert names == [
        "mc-job-abcde/events.txt",
        "mc-job-abcde/jobs/tls.yaml",
        "mc-job-abcde/logs/job-x7k2p.app.log",
        "mc-job-abcde/logs/job-x7k2p.istio-init.log",
        "mc-job-abcde/logs/job-x7k2p.istio-proxy.log",
        "mc-job-abcde/logs/job-x7k2p.istio-proxy.previous.log",
        "mc-job-abcde/pods/job-x7k2p.yaml",
        "mc-job-abcde/proxy-config/job-x7k2p.json",
        "proxy-status.txt",
    ]
    assert ("istio-proxy", True) in reader.log_calls
    assert calls[1][:5] == ["/bin/istioctl", "proxy-config", "all", "job-x7k2p.mc-job-abcde",
                            "-o"]
    everything = "\n".join(p.read_text() for p in out.written)
    for secret in ("abc.def.ghi", "MIIEowIBAAKCAQEA7x", "hunter2hunter2", "sk-live-0123456789",
                   "c2VjcmV0LWtleS1ieXRlcw==", "MIIEvQIBADANBgkqhkiG9w0"):
        assert secret not in everything
    assert "tls.key" in everything  # a Secret keeps its keys
    assert "managedFields" not in everything
    assert not any("kubeconfig" in p.name for p in tmp_path.rglob("*"))


def test_writer_refuses_kubeconfigs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kubeconfig"):
        ArtifactWriter(tmp_path).text("sidecar.kubeconfig", "apiVersion: v1")


def test_containers_of_lists_init_containers_first() -> None:
    assert containers_of(NATIVE_POD) == [("istio-init", False), ("istio-proxy", True),
                                         ("app", False)]


def test_namespace_names_are_dns_labels() -> None:
    name = namespace_name("test_job_in_injected_namespace_completes[native-sidecar-istio-1.30]")
    assert name.startswith("mc-job-in-injected-namespace")
    assert len(name) <= 40
    assert name.replace("-", "").isalnum()
    assert name == name.lower()
    assert namespace_name("test_x", suffix="ab1cd") == "mc-x-ab1cd"
    assert namespace_name("test___").startswith("mc-check-")
    assert namespace_name("a") != namespace_name("a")


def test_failure_artifacts_cover_shared_namespaces_and_istio_system(tmp_path: Path) -> None:
    """Defect 9 (issue 10): gateway and egress failures need the shared apps' namespaces
    (strict-echo, outside) and istio-system (istiod and gateway logs, proxy config)."""
    from types import SimpleNamespace  # noqa: PLC0415

    from meshconform.plugin import live  # noqa: PLC0415

    class Listed(Reader):
        def __init__(self) -> None:
            super().__init__()
            self.namespaces: list[str | None] = []

        def list(self, api_version: str, kind: str, namespace: str | None = None,
                 label_selector: str | None = None) -> list[dict[str, Any]]:
            if kind == "Pod":
                self.namespaces.append(namespace)
            return super().list(api_version, kind, namespace, label_selector)

    kube = Listed()
    cluster = SimpleNamespace(kube=kube, name="meshconform-cni", kubeconfig=tmp_path / "k",
                              context=None, kind=None, plane=None)
    config = SimpleNamespace(stash=pytest.Stash())
    config.stash[live.STATE] = SimpleNamespace(
        resolvers={}, timeouts=SimpleNamespace(exec_command=5.0))
    item = SimpleNamespace(stash=pytest.Stash(), config=config,
                           nodeid="suites/core/gateway/test_gateway_live.py::test_x[cni]")
    live.note_namespace(item, cluster, "mc-gateway-x-abcde")  # type: ignore[arg-type]
    live.note_namespace(item, cluster, "mc-strict-echo-1a2b3c")  # type: ignore[arg-type]
    live.note_namespace(item, cluster, "mc-outside-4d5e6f")  # type: ignore[arg-type]
    live.note_namespace(item, cluster, "mc-strict-echo-1a2b3c")  # type: ignore[arg-type]
    summary = live.collect_failure_artifacts(item, tmp_path / "art")  # type: ignore[arg-type]
    assert summary is not None
    assert kube.namespaces == ["mc-gateway-x-abcde", "mc-strict-echo-1a2b3c",
                               "mc-outside-4d5e6f", "istio-system"]
    check = tmp_path / "art" / live.check_folder(item)  # type: ignore[arg-type]
    assert (check / "istio-system" / "events.txt").is_file()
    assert (check / "mc-outside-4d5e6f" / "pods").is_dir()


def test_the_shared_app_fixtures_note_their_namespaces() -> None:
    from meshconform import paths  # noqa: PLC0415

    source = (paths.repo_root() / "suites" / "conftest.py").read_text("utf-8")
    for fixture in ("def strict_echo(", "def outside("):
        body = source.split(fixture, 1)[1].split("\n@pytest.fixture", 1)[0]
        assert "note_namespace(" in body, f"{fixture} does not note its namespace"
