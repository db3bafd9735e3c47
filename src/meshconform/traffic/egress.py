"""Evaluators for the egress claims, seen from the client side of a sidecar.

``address`` is where the client's traffic enters the proxy: inside a pod the
iptables redirect takes any destination there; in the dataplane tier the
probe connects to the Envoy outbound listeners directly. Facts:
shared/research/istio-behaviours.md section 3.4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from meshconform.traffic.converge import stable
from meshconform.traffic.observation import Observation, observe
from meshconform.traffic.request import Request, probe
from meshconform.traffic.result import Kind, ProbeResult
from meshconform.wait.waiters import Timeouts


@dataclass(frozen=True)
class EgressTarget:
    address: str
    http_port: int
    tls_port: int
    http_host: str  # in the registry (ServiceEntry, HTTP)
    tls_host: str  # in the registry (ServiceEntry, TLS, resolution NONE)
    ca: Path  # the external TLS server's CA
    unknown_host: str = "not-registered.meshconform.invalid"
    timeouts: Timeouts = field(default_factory=Timeouts)

    def http(self, host: str) -> Request:
        return Request(self.address, self.http_port, host, timeout=self.timeouts.probe_request)

    def tls(self, host: str, **changes: object) -> Request:
        return Request(
            self.address,
            self.tls_port,
            host,
            tls=True,
            ca=self.ca,
            timeout=self.timeouts.probe_request,
        ).with_(**changes)


def _run(request: Request, timeouts: Timeouts) -> ProbeResult:
    return stable(request.describe(), lambda: probe(request), timeouts)


def http_blocked(result: ProbeResult) -> bool:
    """502 from the ``block_all`` virtual host, or a reset (no HTTP listener on the port)."""
    return result.is_status(502) or result.kind is Kind.TCP_RESET


def tls_blocked(result: ProbeResult) -> bool:
    """BlackHoleCluster closes the connection: the handshake never completes."""
    return result.kind in (Kind.TLS_HANDSHAKE_FAILED, Kind.TCP_RESET)


def _reached(result: ProbeResult) -> bool:
    return (
        result.kind is Kind.HTTP_STATUS and result.status is not None and 200 <= result.status < 300
    )


def registry_only_blocks(t: EgressTarget) -> Observation:
    """``egress-registry-only-blocks``: an unregistered host is refused over HTTP and TLS."""
    http = _run(t.http(t.unknown_host), t.timeouts)
    tls = _run(t.tls(t.unknown_host, verify_hostname=False), t.timeouts)
    lines = [
        f"{http} ["
        + (
            "ok: blocked (block_all)"
            if http_blocked(http)
            else "reached: REGISTRY_ONLY is not enforced for HTTP"
        )
        + "]",
        f"{tls} ["
        + (
            "ok: blocked (BlackHoleCluster)"
            if tls_blocked(tls)
            else "reached: REGISTRY_ONLY is not enforced for TLS"
        )
        + "]",
    ]
    return observe(
        "egress-registry-only-blocks", http_blocked(http) and tls_blocked(tls), lines, [http, tls]
    )


def service_entry_allows_http(t: EgressTarget) -> Observation:
    """``egress-service-entry-allows-http``: the registered HTTP host answers 2xx."""
    result = _run(t.http(t.http_host), t.timeouts)
    ok = _reached(result)
    why = (
        "ok: reached"
        if ok
        else (
            "blocked: no ServiceEntry admits this host"
            if http_blocked(result)
            else "expected a 2xx from the external server"
        )
    )
    return observe("egress-service-entry-allows-http", ok, [f"{result} [{why}]"], [result])


def service_entry_allows_tls(t: EgressTarget) -> Observation:
    """``egress-service-entry-allows-tls``: TLS by SNI passes through to the registered host."""
    result = _run(t.tls(t.tls_host), t.timeouts)
    ok = _reached(result)
    why = (
        "ok: passed through, the external server's certificate verified"
        if ok
        else (
            "blocked: no ServiceEntry admits this SNI"
            if tls_blocked(result)
            else "expected the external server to answer"
        )
    )
    return observe("egress-service-entry-allows-tls", ok, [f"{result} [{why}]"], [result])
