"""A TCP relay from inside a pod's network namespace to a port on this machine's loopback.

On a cluster, a sidecar reaches istiod through the ``istiod`` Service. Here istiod is a
process listening on 127.0.0.1 of the machine, which no pod namespace can reach (pods
have no link to the machine's network on purpose). This relay, run as root on the
machine, creates its listening socket *inside* the pod's namespace on
``127.0.0.1:<port>`` (setns, bind, setns back) and connects each accepted connection to
``127.0.0.1:<port>`` of the machine. Bytes pass unchanged: pilot-agent's TLS session is
with istiod itself, which presents its own certificate for 127.0.0.1 (as for the
gateway). pilot-agent runs as UID 1337, so Istio's rules never redirect this traffic.

Usage: ``python -m meshconform.live.controlplane.pods.relay <pod pid> <port> [<port>...]``
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import sys

_CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    if ctypes.CDLL(None, use_errno=True).setns(fd, _CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def listen_in(pid: int, port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` inside the network namespace of ``pid``."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        _setns(target)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(64)
            sock.setblocking(False)
        finally:
            _setns(own)
    finally:
        os.close(own)
        os.close(target)
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


def _handler(port: int) -> object:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    return handle


async def serve(pid: int, ports: list[int]) -> None:
    servers = [
        await asyncio.start_server(_handler(port), sock=listen_in(pid, port))  # type: ignore[arg-type]
        for port in ports
    ]
    print(f"relaying 127.0.0.1:{ports} in the namespace of pid {pid}", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main(argv: list[str]) -> int:
    pid, *ports = (int(a) for a in argv)
    asyncio.run(serve(pid, ports))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
