"""Evaluators for the egress claims, seen from the client side of a sidecar.

One evaluator per claim, used by every tier; the target says how to get there:

- dataplane tier: :class:`~.transport.HostTransport` to a real Envoy configured as
  a sidecar's outbound path, ``address`` 127.0.0.1 and the listener ports;
- live tier: :class:`~.transport.PodExecTransport` (curl in the client pod),
  ``address`` the external server's IP on 80/443; the pod's iptables hand the
  connection to its sidecar, exactly what the dataplane tier connects to directly.

Facts: shared/research/istio-behaviours.md section 3.4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from meshconform.claims import Outcome
from meshconform.traffic.expect import Expect
from meshconform.traffic.observation import Observation, Probe, observe, run
from meshconform.traffic.request import Request
from meshconform.traffic.transport import HostTransport, Transport
from meshconform.wait import Timeouts


@dataclass(frozen=True)
class EgressTarget:
    address: str
    http_port: int
    tls_port: int
    http_host: str  # in the registry (ServiceEntry, HTTP)
    tls_host: str  # in the registry (ServiceEntry, TLS, resolution NONE)
    ca: Path  # the external TLS server's CA (a path where the transport runs)
    unknown_host: str = "not-registered.meshconform.invalid"
    path: str = "/"
    timeouts: Timeouts = field(default_factory=Timeouts)
    transport: Transport = field(default_factory=HostTransport)

    def http(self, host: str) -> Request:
        return Request(
            self.address, self.http_port, host, path=self.path, timeout=self.timeouts.probe_request
        )

    def tls(self, host: str, **changes: object) -> Request:
        return Request(
            self.address,
            self.tls_port,
            host,
            path=self.path,
            tls=True,
            ca=self.ca,
            timeout=self.timeouts.probe_request,
        ).with_(**changes)


def _observe(
    claim_id: str, t: EgressTarget, probes: list[Probe], wait_for: Outcome | None
) -> Observation:
    return observe(claim_id, [run(p, t.transport, t.timeouts, wait_for=wait_for) for p in probes])


def registry_only_blocks(t: EgressTarget, *, wait_for: Outcome | None = None) -> Observation:
    """``egress-registry-only-blocks``: an unregistered host is refused over HTTP and TLS.

    Holds: ``blocked-by-registry`` for both; the documented failure (ambient,
    istio/istio#54281): ``ok``, the request went out. The TLS probe does not check the
    certificate's name: reaching the server at all is the failure.
    """
    blocked = Expect.blocked_by_registry()
    return _observe(
        "egress-registry-only-blocks",
        t,
        [
            Probe(
                t.http(t.unknown_host),
                blocked,
                Expect.ok(),
                "REGISTRY_ONLY is not enforced for HTTP",
            ),
            Probe(
                t.tls(t.unknown_host, verify_hostname=False),
                blocked,
                Expect.ok(),
                "REGISTRY_ONLY is not enforced for TLS",
            ),
        ],
        wait_for,
    )


def service_entry_allows_http(t: EgressTarget, *, wait_for: Outcome | None = None) -> Observation:
    """``egress-service-entry-allows-http``: the registered HTTP host answers ``ok`` (2xx);
    ``blocked-by-registry`` is the failure."""
    return _observe(
        "egress-service-entry-allows-http",
        t,
        [
            Probe(
                t.http(t.http_host),
                Expect.ok(),
                Expect.blocked_by_registry(),
                "no ServiceEntry admits this host",
            )
        ],
        wait_for,
    )


def service_entry_allows_tls(t: EgressTarget, *, wait_for: Outcome | None = None) -> Observation:
    """``egress-service-entry-allows-tls``: TLS by SNI passes through to the registered host,
    whose certificate verifies against the CA (``ok``); ``blocked-by-registry`` is the
    failure."""
    return _observe(
        "egress-service-entry-allows-tls",
        t,
        [
            Probe(
                t.tls(t.tls_host),
                Expect.ok(),
                Expect.blocked_by_registry(),
                "no ServiceEntry admits this SNI",
            )
        ],
        wait_for,
    )


EGRESS_EVALUATORS = {
    "egress-registry-only-blocks": registry_only_blocks,
    "egress-service-entry-allows-http": service_entry_allows_http,
    "egress-service-entry-allows-tls": service_entry_allows_tls,
}
