"""DNS proxying, live: ServiceEntry hosts that no DNS server knows resolve in the pod.

The client pods set ISTIO_META_DNS_CAPTURE per pod (proxy.istio.io/config), so the
checks do not depend on the install's meshConfig; in ambient, ztunnel's DNS capture
(cni.ambient.dnsCapture) applies. ``curl -v`` shows the address it tried (the pod
transport records it as the result's ``tried``): expectation ``resolved-to(ADDR)``,
with ``dns-failed`` the documented failure.
Facts: shared/research/istio-behaviours.md 3.5.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.claims import Outcome
from meshconform.evidence import Evidence
from meshconform.modes import Capability, Mode
from meshconform.traffic.dns import auto_allocated
from meshconform.traffic.expect import Expect
from meshconform.traffic.observation import Probe, Seen, awaited, conclude, observe, run
from meshconform.wait import Timeouts, WaitFailed, WaitTimeout
from meshconform.wait.probes import PodClient

#: traffic between pods through real sidecars: on controlplane, process pods
#: (docs/controlplane.md "Process pods")
POD_TRAFFIC = pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD, Evidence.CONTROLLERS,
                                   Evidence.PROCESS_PODS)
pytestmark = [pytest.mark.live, POD_TRAFFIC, pytest.mark.egress]


def _lookup(client: PodClient, host: str, address: str, timeouts: Timeouts,
            wait_for: Outcome) -> Seen:
    """Requests to ``host`` from the pod (``curl -v`` shows the address tried) until they
    show ``wait_for``: ``resolved-to(address)`` holds, ``dns-failed`` is the failure; a
    name resolved to anything else is neither."""
    probe = Probe(client.request(f"http://{host}/get"), Expect.resolved_to(address),
                  Expect.dns_failed())
    return run(probe, client.transport, timeouts, wait_for=wait_for)


@pytest.mark.claim("dns-proxy-resolves-service-entry", manifests=[
    "egress/service-entry-dns-address.yaml",
    "workloads/client-no-dns-capture.yaml",
])
def test_dns_proxy_resolves_service_entry(mesh_ns: str, plain_ns: str, apply: Any,
                                          client_in: Any, outside: Any, timeouts: Timeouts,
                                          claim: ClaimCheck, mode: Mode) -> None:
    """With ISTIO_META_DNS_CAPTURE, a ServiceEntry host that has no DNS record MUST resolve
    inside the pod to the ServiceEntry's address.

    Documented: deployKF "bring your own Istio"; istio.io dns-proxy ("address.internal").
    The contrast: a pod without capture (sidecar modes: capture off by annotation; ambient:
    a pod outside the mesh) must fail to resolve the same name, or the name is simply in
    kube-dns and the check shows nothing.
    """
    host = f"dns-{mesh_ns}.meshconform.test"
    address = f"198.51.100.{1 + zlib.crc32(mesh_ns.encode()) % 250}"  # TEST-NET-2
    apply("egress/service-entry-dns-address.yaml", mesh_ns, HOST=host, ADDRESS=address,
          ENDPOINT=outside.external_ip)
    client = client_in(mesh_ns)
    captured = _lookup(client, host, address, timeouts, awaited(claim))
    contrast_ns = mesh_ns if mode.has(Capability.SIDECAR) else plain_ns
    bare = client_in(contrast_ns, manifest="workloads/client-no-dns-capture.yaml",
                     app="client-nodns")
    uncaptured = _lookup(bare, host, address, timeouts, Outcome.BROKEN)
    claim.note(f"without capture: {uncaptured.line}")
    if uncaptured.verdict is not False:
        raise claim.unexpected(f"{host} does not fail to resolve without DNS capture, so "
                               "capture is not what resolved it")
    conclude(claim, observe(claim.claim.id, [captured]))


@pytest.mark.claim("dns-auto-allocate", manifests=["egress/service-entry-auto-allocate.yaml"])
def test_dns_auto_allocate(mesh_ns: str, apply: Any, kube: Any, client_in: Any,
                           outside: Any, timeouts: Timeouts, claim: ClaimCheck) -> None:
    """A ServiceEntry without addresses MUST get an auto-allocated address
    (ServiceEntry.status.addresses, 240.240.0.0/16) that pods resolve its host to.

    Documented: Istio 1.25 release notes and pilot/pkg/features/pilot.go
    (PILOT_ENABLE_IP_AUTOALLOCATE, default true: istiod writes status.addresses, the mechanism
    in force for every Istio this suite runs); deployKF (ISTIO_META_DNS_AUTO_ALLOCATE, the
    pre-1.25 mechanism, deprecated since).
    """
    host = f"auto-{mesh_ns}.meshconform.test"
    apply("egress/service-entry-auto-allocate.yaml", mesh_ns, HOST=host,
          ENDPOINT=outside.external_ip)
    try:
        address = kube.watch_until(f"ServiceEntry {mesh_ns}/dns-auto status.addresses",
                                   "networking.istio.io/v1", "ServiceEntry", "dns-auto",
                                   mesh_ns, auto_allocated(host),
                                   timeout=timeouts.traffic_consistency)
    except (WaitTimeout, WaitFailed) as error:
        claim.conclude(False, f"no address allocated: {error}")
        return
    claim.note(f"status.addresses: {host} -> {address}")
    seen = _lookup(client_in(mesh_ns), host, address, timeouts, awaited(claim))
    conclude(claim, observe(claim.claim.id, [seen]))
