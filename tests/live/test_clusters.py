"""kind command lines, cluster sharing and ownership, kind configs and preflight."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from meshconform.errors import ProvisioningError, UsageError
from meshconform.live.clusters import (
    GATEWAY_NODEPORTS,
    ClusterPool,
    Kind,
    check_api_server,
    check_docker,
    gateway_from_kind_config,
    load_kind_config,
)
from meshconform.modes import MODES
from meshconform.versions import DEFAULT_KUBERNETES, node_image
from meshconform.wait import Timeouts

KIND = Path("/opt/bin/kind")


class Recorder:
    """A runner that records argv and answers from a script: (argv prefix, rc, stdout, stderr)."""

    def __init__(self, answers: Sequence[tuple[tuple[str, ...], int, str, str]] = ()) -> None:
        self.calls: list[list[str]] = []
        self.answers = list(answers)

    def __call__(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        for i, (prefix, rc, out, err) in enumerate(self.answers):
            if tuple(argv[1:1 + len(prefix)]) == prefix:
                self.answers.pop(i)
                return subprocess.CompletedProcess(argv, rc, out, err)
        return subprocess.CompletedProcess(argv, 0, "", "")


def test_create_command_line(tmp_path: Path) -> None:
    runner = Recorder()
    kind = Kind(KIND, runner)
    config = MODES["ambient"].kind_config
    kind.create("meshconform-ambient", config, "img@sha256:x", tmp_path / "k", timeout=60)
    assert runner.calls == [[str(KIND), "create", "cluster", "--name", "meshconform-ambient",
                             "--config", str(config), "--image", "img@sha256:x",
                             "--kubeconfig", str(tmp_path / "k"), "--wait", "180s"]]


def test_create_retries_transient_failures_and_cleans_up() -> None:
    runner = Recorder([(("create",), 1, "", "ERROR: failed to init node with kubeadm: timed out")])
    attempts = Kind(KIND, runner).create("c", Path("c.yaml"), "img", Path("k"), timeout=60)
    assert attempts == 2
    verbs = [argv[1] for argv in runner.calls]
    assert verbs == ["create", "delete", "create"]
    # --kubeconfig: kind removes the context from the file create wrote, not $KUBECONFIG
    assert runner.calls[1] == [str(KIND), "delete", "cluster", "--name", "c",
                               "--kubeconfig", "k"]


def test_create_never_deletes_a_cluster_that_already_exists(tmp_path: Path) -> None:
    """kind refuses when the nodes exist: that cluster is another run's, not a half-made one."""
    refusal = ('ERROR: failed to create cluster: node(s) already exist for a cluster with the '
               'name "meshconform-cni"')
    runner = Recorder([(("get", "clusters"), 0, "", ""), (("create",), 1, "", refusal)])
    with pytest.raises(ProvisioningError, match="already exist"):
        _pool(tmp_path, runner).get(MODES["cni"])
    assert [argv[1] for argv in runner.calls] == ["get", "create"]


def test_create_stops_at_a_permanent_failure() -> None:
    runner = Recorder([(("create",), 1, "", "Bind for 127.0.0.1:18080 failed: port is already "
                        "allocated")])
    with pytest.raises(ProvisioningError, match="port is already allocated"):
        Kind(KIND, runner).create("c", Path("c.yaml"), "img", Path("k"), timeout=60)
    assert [argv[1] for argv in runner.calls] == ["create", "delete"]


def test_create_gives_up_after_five_attempts() -> None:
    runner = Recorder([(("create",), 1, "", "transient")] * 5)
    with pytest.raises(ProvisioningError, match="attempt 5: transient"):
        Kind(KIND, runner).create("c", Path("c.yaml"), "img", Path("k"), timeout=60)


def test_preload_pulls_digest_pinned_images_inside_each_node() -> None:
    kind = Kind(KIND, Recorder())
    argvs = kind.preload_argvs("meshconform-cni", "curl@sha256:abc", ["n1", "n2"])
    assert argvs == [["docker", "exec", "n1", "crictl", "pull", "curl@sha256:abc"],
                     ["docker", "exec", "n2", "crictl", "pull", "curl@sha256:abc"]]
    assert kind.preload_argvs("meshconform-cni", "curl:8", ["n1"]) == [
        ["docker", "pull", "curl:8"],
        [str(KIND), "load", "docker-image", "curl:8", "--name", "meshconform-cni"]]


def _pool(tmp_path: Path, runner: Recorder, **kwargs: object) -> ClusterPool:
    return ClusterPool(node_image="img", timeouts=Timeouts(), kind=Kind(KIND, runner),
                       state=tmp_path, **kwargs)  # type: ignore[arg-type]


def test_reuse_adopts_an_existing_cluster_without_creating(tmp_path: Path) -> None:
    kubeconfig = yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "kind-meshconform-sidecar",
        "clusters": [{"name": "kind-meshconform-sidecar",
                      "cluster": {"server": "https://127.0.0.1:41234"}}],
        "contexts": [{"name": "kind-meshconform-sidecar",
                      "context": {"cluster": "kind-meshconform-sidecar", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    })
    runner = Recorder([(("get", "clusters"), 0, "meshconform-sidecar\nother\n", ""),
                       (("get", "kubeconfig"), 0, kubeconfig, "")])
    cluster = _pool(tmp_path, runner).get(MODES["sidecar"])
    assert [argv[1:3] for argv in runner.calls] == [["get", "clusters"], ["get", "kubeconfig"]]
    assert cluster.created_by_us is False
    assert cluster.context == "kind-meshconform-sidecar"
    assert cluster.kubeconfig.read_text() == kubeconfig
    assert cluster.kubeconfig.stat().st_mode & 0o777 == 0o600
    assert cluster.gateway is not None
    assert cluster.gateway.http_port == 18080


def test_interrupt_during_create_deletes_the_half_made_cluster(tmp_path: Path) -> None:
    class Interrupted(Recorder):
        def __call__(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
            if argv[1] == "create":
                self.calls.append(list(argv))
                raise KeyboardInterrupt
            return super().__call__(argv, timeout)

    runner = Interrupted()
    with pytest.raises(KeyboardInterrupt):
        _pool(tmp_path, runner).get(MODES["cni"])
    assert runner.calls[-1] == [str(KIND), "delete", "cluster", "--name", "meshconform-cni",
                                "--kubeconfig", str(tmp_path / "cni.kubeconfig")]

    kept = Interrupted()
    with pytest.raises(KeyboardInterrupt):
        _pool(tmp_path, kept, keep=True).get(MODES["cni"])
    assert [argv[1] for argv in kept.calls] == ["get", "create"]


def test_finish_deletes_only_clusters_this_run_created(tmp_path: Path) -> None:
    names = "meshconform-sidecar\nmeshconform-cni\n"
    runner = Recorder([(("get", "clusters"), 0, names, "")])
    pool = _pool(tmp_path, runner, baseline=frozenset({"meshconform-sidecar"}))
    deleted = pool.finish([MODES["sidecar"], MODES["cni"], MODES["ambient"]])
    assert deleted == ["meshconform-cni"]
    assert runner.calls[-1] == [str(KIND), "delete", "cluster", "--name", "meshconform-cni",
                                "--kubeconfig", str(tmp_path / "cni.kubeconfig")]

    keeper = Recorder([(("get", "clusters"), 0, names, "")])
    assert _pool(tmp_path, keeper, keep=True).finish([MODES["cni"]]) == []
    assert keeper.calls == []


# -- kind configs -----------------------------------------------------------------------


@pytest.mark.parametrize("mode_name", list(MODES))
def test_kind_config_is_valid_and_pinned(mode_name: str) -> None:
    mode = mode_name
    config = load_kind_config(MODES[mode])
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["name"] == MODES[mode].cluster_name
    roles = [n["role"] for n in config["nodes"]]
    assert roles == ["control-plane", "worker"]
    for node in config["nodes"]:
        assert node["image"] == node_image(DEFAULT_KUBERNETES)
        assert "@sha256:" in node["image"]
    control_plane = config["nodes"][0]
    assert control_plane["labels"] == {"ingress-ready": "true"}
    mapped = {m["containerPort"] for m in control_plane["extraPortMappings"]}
    assert mapped == set(GATEWAY_NODEPORTS.values())
    assert all(m["listenAddress"] == "127.0.0.1" for m in control_plane["extraPortMappings"])
    assert not any("extraPortMappings" in n for n in config["nodes"][1:])


def test_host_ports_are_unique_across_modes() -> None:
    ports = [p for mode in MODES.values()
             for e in [gateway_from_kind_config(load_kind_config(mode))]
             for p in (e.http_port, e.https_port, e.status_port)]
    assert len(ports) == len(set(ports)) == 3 * len(MODES)
    sidecar = gateway_from_kind_config(load_kind_config(MODES["sidecar"]))
    assert (sidecar.host, sidecar.http_port, sidecar.https_port, sidecar.status_port) == (
        "127.0.0.1", 18080, 18443, 18021)


def test_kind_config_without_gateway_mappings_is_rejected() -> None:
    with pytest.raises(UsageError, match="30080"):
        gateway_from_kind_config(yaml.safe_load("name: x\nnodes: [{role: control-plane}]"))


# -- preflight ----------------------------------------------------------------------------


def test_no_docker_client_is_one_line_and_fast(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    started = time.monotonic()
    with pytest.raises(UsageError) as caught:
        check_docker()
    assert time.monotonic() - started < 2
    message = str(caught.value)
    assert "\n" not in message
    assert "docker client is not installed" in message
    assert "--kubeconfig" in message


def test_docker_without_daemon_is_told_apart(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon at "
                    "unix:///var/run/docker.sock. Is the docker daemon running?' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match="no Docker daemon is reachable: Cannot connect"):
        check_docker()


def test_hung_docker_daemon_times_out_quickly(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    fake = tmp_path / "docker"
    fake.write_text(f"#!/bin/sh\nexec {shutil.which('sleep')} 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    started = time.monotonic()
    with pytest.raises(UsageError, match=r"did not answer `docker info` within 0\.5s"):
        check_docker(timeout=0.5)
    assert time.monotonic() - started < 2


def test_a_slow_docker_daemon_is_waited_for(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """Defect 7 (issue 10): a busy daemon (CI runners, Docker Desktop waking up) takes
    seconds to answer `docker info`; the default limit must not abort the run."""
    fake = tmp_path / "docker"
    fake.write_text(f"#!/bin/sh\n{shutil.which('sleep')} 2.5\necho 28.1.1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    check_docker()


def test_unreachable_api_server_is_one_usage_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:9"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
    }))
    started = time.monotonic()
    with pytest.raises(UsageError, match=r"did not answer /version \(limit 2s\)") as caught:
        check_api_server(kubeconfig, None)
    assert time.monotonic() - started < 3
    assert "not-a-real-token" not in str(caught.value)


def test_unknown_context_is_a_usage_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    with pytest.raises(UsageError, match="context nope"):
        check_api_server(kubeconfig, "nope")


def test_a_failed_delete_does_not_hide_the_create_error() -> None:
    """Defect 10 (issue 10): kind create fails, the clean-up delete fails too; the error
    must still say why create failed (and mention the failed delete)."""
    runner = Recorder([(("create",), 1, "", "ERROR: failed to create cluster: kubeadm init "
                        "timed out"),
                       (("delete",), 1, "", "ERROR: failed to delete nodes: docker rm: busy")])
    with pytest.raises(ProvisioningError) as caught:
        Kind(KIND, runner).create("c", Path("c.yaml"), "img", Path("k"), timeout=60,
                                  attempts=1)
    assert "kubeadm init timed out" in str(caught.value)
    assert "docker rm: busy" in str(caught.value)


def test_a_failed_delete_after_an_interrupt_keeps_the_interrupt(tmp_path: Path) -> None:
    class Interrupted(Recorder):
        def __call__(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
            if argv[1] == "create":
                raise KeyboardInterrupt
            if argv[1] == "delete":
                raise OSError("docker socket gone")
            return super().__call__(argv, timeout)

    with pytest.raises(KeyboardInterrupt):
        _pool(tmp_path, Interrupted()).get(MODES["cni"])
