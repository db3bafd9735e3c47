"""Kube.exec's reading of the exec streams, through the real ``kubernetes.stream.ws_client``.

No API server: the WebSocket is replaced by a socket that replays the frames an API
server sends for one exec (channel byte, then the payload), so the real
``WSClient.update``/``read_channel`` code splits them into stdout, stderr and the
error channel, and the exit code is compared with the client's own ``returncode``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.stream import ws_client
from websocket import ABNF

from meshconform.errors import UsageError
from meshconform.live import kube as kube_module
from meshconform.live.kube import Kube, parse_exec_status
from meshconform.wait import WaitTimeout

SUCCESS = '{"metadata":{},"status":"Success"}'
EXIT_7 = ('{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit '
          'code: error executing command [curl http://x], exit code 7","reason":'
          '"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}')
NOT_FOUND = ('{"metadata":{},"status":"Failure","message":"failed to exec in container: '
             'exec: \\"nope\\": executable file not found in $PATH","reason":"InternalError"}')


class Frame:
    def __init__(self, data: bytes) -> None:
        self.data = data


class ReplaySocket:
    """What WSClient needs of a websocket: a pollable socket and data frames, then close."""

    def __init__(self, frames: list[tuple[int, bytes]]) -> None:
        self._frames = [bytes([channel]) + payload for channel, payload in frames]
        self.sock, self._peer = socket.socketpair()
        self._peer.send(b"x")  # keeps the socket readable: every frame is "available"
        self.connected = True

    def recv_data_frame(self, _control: bool) -> tuple[int, Frame]:
        if not self._frames:
            self.connected = False
            return ABNF.OPCODE_CLOSE, Frame(b"")
        return ABNF.OPCODE_BINARY, Frame(self._frames.pop(0))

    def close(self, **_: Any) -> None:
        self.sock.close()
        self._peer.close()


def replayed(frames: list[tuple[int, bytes]]) -> ws_client.WSClient:
    client = ws_client.WSClient.__new__(ws_client.WSClient)  # no connection attempt
    client._connected = True
    client._channels = {}
    client._closed_channels = set()
    client.subprotocol = ws_client.V4_CHANNEL_PROTOCOL
    client.binary = False
    client.newline = "\n"
    client._all = ws_client.StringIO()
    client._returncode = None
    client.sock = ReplaySocket(frames)
    return client


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[Kube]:
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    client = Kube(config)
    yield client
    client.close()


@pytest.mark.parametrize(("status", "rc"), [(SUCCESS, 0), (EXIT_7, 7)], ids=["ok", "exit-7"])
def test_exit_code_agrees_with_the_clients_own_returncode(status: str, rc: int) -> None:
    ws = replayed([(1, b"out"), (3, status.encode())])
    try:
        ws.run_forever(timeout=5)
        assert ws.returncode == rc
    finally:
        ws.close()
    assert parse_exec_status(status)[0] == rc


def test_exec_splits_the_channels_and_reads_the_status(
        kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [(1, b"status=502\n"), (2, b"curl: (56) Recv failure\n"), (1, b"done\n"),
              (3, EXIT_7.encode())]
    seen: dict[str, Any] = {}

    def fake_stream(method: Any, pod: str, namespace: str, **kwargs: Any) -> ws_client.WSClient:
        seen.update(kwargs, pod=pod, namespace=namespace, method=method.__name__)
        return replayed(frames)

    monkeypatch.setattr(kube_module, "stream", fake_stream)
    result = kube.exec("ns", "client-1", ["curl", "http://x"], container="client", timeout=5)
    assert (result.rc, result.stdout, result.stderr) == (
        7, "status=502\ndone\n", "curl: (56) Recv failure\n")
    assert seen["method"] == "connect_get_namespaced_pod_exec"
    assert seen["container"] == "client"
    assert seen["_preload_content"] is False  # otherwise the error channel is lost
    assert seen["command"] == ["curl", "http://x"]


def test_exec_reports_a_command_that_could_not_start(
        kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's own returncode raises KeyError here (no details.causes); ours says why."""
    monkeypatch.setattr(kube_module, "stream",
                        lambda *a, **k: replayed([(3, NOT_FOUND.encode())]))
    result = kube.exec("ns", "client-1", ["nope"], timeout=5)
    assert result.rc == -1
    assert "executable file not found" in result.stderr


class HangingSocket(ReplaySocket):
    """Replays its frames, then stays open and silent (a command that does not end) for
    ``hang`` seconds, then closes: a client that ignored its own timeout ends, late."""

    def __init__(self, frames: list[tuple[int, bytes]], hang: float) -> None:
        super().__init__(frames)
        self._silent = False
        self._closer = threading.Timer(hang, self._peer.send, (b"x",))
        self._closer.start()

    def recv_data_frame(self, _control: bool) -> tuple[int, Frame]:
        if self._frames:
            return super().recv_data_frame(_control)
        self.sock.recv(1)  # nothing readable until the closer writes
        if self._silent:
            self.connected = False
            return ABNF.OPCODE_CLOSE, Frame(b"")
        self._silent = True
        return ABNF.OPCODE_PING, Frame(b"")

    def close(self, **kwargs: Any) -> None:
        self._closer.cancel()
        super().close(**kwargs)


def _recording_stream(seen: dict[str, Any], frames: list[tuple[int, bytes]]) -> Any:
    def fake_stream(method: Any, *args: Any, **kwargs: Any) -> ws_client.WSClient:
        seen.update(kwargs, args=args, method=method.__name__,
                    host=method.__self__.api_client.configuration.host)
        return replayed(frames)

    return fake_stream


def test_exec_asks_this_cluster_for_one_non_interactive_exec(
        kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(kube_module, "stream", _recording_stream(seen, [(3, SUCCESS.encode())]))
    assert kube.exec("ns", "client-1", ["true"], container="client", timeout=5).rc == 0
    assert seen == {"args": ("client-1", "ns"), "method": "connect_get_namespaced_pod_exec",
                    "host": "https://127.0.0.1:6443", "command": ["true"], "container": "client",
                    "stderr": True, "stdin": False, "stdout": True, "tty": False,
                    "_preload_content": False}
    seen.clear()
    kube.exec("ns", "client-1", ["true"], timeout=5)
    assert "container" not in seen  # the pod's default container


def test_an_exec_that_does_not_end_is_a_timeout_with_its_output(
        kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    def hanging(*_: Any, **__: Any) -> ws_client.WSClient:
        client = replayed([])
        client.sock.close()
        client.sock = HangingSocket([(1, b"x" * 600 + b"tail")], hang=3)
        return client

    monkeypatch.setattr(kube_module, "stream", hanging)
    with pytest.raises(WaitTimeout) as caught:
        kube.exec("ns", "client-1", ["sleep", "9"], container="client", timeout=0.3)
    assert str(caught.value) == (
        "exec ['sleep', '9'] in ns/client-1/client did not finish within 0s; output so far: "
        + repr("x" * 496 + "tail"))


@pytest.mark.parametrize(("text", "expected"), [
    ("", (-1, "the exec stream closed without a status")),
    (" \n", (-1, "the exec stream closed without a status")),
    (SUCCESS, (0, "")),
    (EXIT_7, (7, "command terminated with non-zero exit code: error executing command "
                 "[curl http://x], exit code 7")),
    ('{"status":"Failure","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
     (3, "")),
    ('{"status":"Failure","message":"m","details":{"causes":[{"reason":"ExitCode"}]}}',
     (-1, "m")),
    ('{"status":"Failure","details":{"causes":[{"reason":"Other","message":"9"}]}}',
     (-1, "exec failed")),
    (NOT_FOUND, (-1, 'failed to exec in container: exec: "nope": executable file not found '
                     "in $PATH")),
])
def test_the_status_channel_in_every_shape(text: str, expected: tuple[int, str]) -> None:
    assert parse_exec_status(text) == expected


TWO_CONTEXTS = """apiVersion: v1
kind: Config
current-context: a
clusters:
- {name: a, cluster: {server: "https://127.0.0.1:6443"}}
- {name: b, cluster: {server: "https://127.0.0.2:7443"}}
contexts:
- {name: a, context: {cluster: a, user: u}}
- {name: b, context: {cluster: b, user: u}}
users: [{name: u, user: {token: t}}]
"""


def test_the_named_context_is_the_cluster_talked_to(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(TWO_CONTEXTS)
    chosen = Kube(path, context="b")
    assert (chosen.context, chosen._configuration.host) == ("b", "https://127.0.0.2:7443")
    default = Kube(path)
    assert (default.context, default._configuration.host) == (None, "https://127.0.0.1:6443")
    assert default._dyn is None  # nothing contacted yet
    before = path.read_text()
    chosen.close()
    default.close()
    assert path.read_text() == before


def test_an_unknown_context_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(TWO_CONTEXTS)
    with pytest.raises(UsageError) as caught:
        Kube(path, context="nope")
    message = str(caught.value)
    assert message.startswith(f"meshconform: cannot use kubeconfig {path} context nope: ")
    assert "Pass a kubeconfig (and --context) that names a reachable cluster" in message
    with pytest.raises(UsageError, match=f"cannot use kubeconfig {tmp_path / 'none'}: "):
        Kube(tmp_path / "none")
