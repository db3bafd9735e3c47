"""Defect 5 (issue 10): the host-port preflight tells a listener from a port in TIME_WAIT.

The probes of a previous run leave the gateway's host ports in TIME_WAIT; Docker binds
them again with SO_REUSEADDR, so the preflight must too, or a rerun within a minute is
refused with "port in use". Real sockets on loopback, no stand-ins.
"""

from __future__ import annotations

import socket

from meshconform.live.clusters import GatewayEndpoint, busy_ports


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _time_wait(port: int) -> None:
    """Leave ``port`` in TIME_WAIT: the listening side closes the connection first."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(1)
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # active close on the server side: its 4-tuple goes to TIME_WAIT
    client.recv(1)
    client.close()
    server.close()


def test_a_port_in_time_wait_is_not_busy() -> None:
    ports = [_free_port() for _ in range(3)]
    for port in ports:
        _time_wait(port)
    endpoint = GatewayEndpoint("127.0.0.1", *ports)
    assert busy_ports(endpoint) == []


def test_a_listening_port_is_busy() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        taken = listener.getsockname()[1]
        endpoint = GatewayEndpoint("127.0.0.1", taken, _free_port(), _free_port())
        assert busy_ports(endpoint) == [taken]
