"""DNS proxying, live: ServiceEntry hosts that no DNS server knows resolve in the pod.

The client pods set ISTIO_META_DNS_CAPTURE per pod (proxy.istio.io/config), so the
checks do not depend on the install's meshConfig; in ambient, ztunnel's DNS capture
(cni.ambient.dnsCapture) applies. ``curl -v`` shows the address it tried.
Facts: shared/research/istio-behaviours.md 3.5.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.evidence import Evidence
from meshconform.modes import Capability, Mode
from meshconform.traffic.curl import CurlKind, CurlResult, resolved_addresses
from meshconform.traffic.dns import auto_allocated
from meshconform.wait.observed import PodClient, conclude_settled, expect_holds, settle
from meshconform.wait.waiters import Timeouts, WaitFailed, WaitTimeout

#: traffic between pods through real sidecars: on controlplane, process pods
#: (docs/controlplane.md "Process pods")
POD_TRAFFIC = pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD, Evidence.CONTROLLERS,
                                   Evidence.PROCESS_PODS)
pytestmark = [pytest.mark.live, POD_TRAFFIC, pytest.mark.egress]


def _lookup(client: PodClient, host: str) -> tuple[CurlResult, list[str]]:
    """One request to ``host``; the addresses curl tried (empty if it could not resolve)."""
    out = client.kube.exec(client.namespace, client.pod,
                           ["curl", "-sv", "-o", "/dev/null", "--connect-timeout", "3",
                            "--max-time", "5", f"http://{host}/get"],
                           container=client.container, timeout=client.timeouts.exec_command)
    result = CurlResult(exit_code=out.rc, status=None, target=f"{client.pod}: GET http://{host}",
                        error=next((ln for ln in out.stderr.splitlines()
                                    if ln.startswith("curl: (")), ""))
    return result, resolved_addresses(out.stderr)


def _resolves_to(client: PodClient, host: str, address: str) -> Any:
    def attempt() -> tuple[CurlResult, list[str]]:
        return _lookup(client, host)

    def verdict(seen: tuple[CurlResult, list[str]]) -> bool | None:
        result, tried = seen
        if tried and tried[0] == address:
            return True
        if result.kind is CurlKind.DNS_FAILED:
            return False
        return None  # resolved to something else: neither outcome

    def describe(seen: tuple[CurlResult, list[str]]) -> str:
        result, tried = seen
        return f"{result.target}: tried {tried or 'nothing'}; {result.describe()}"

    return attempt, verdict, describe


@pytest.mark.claim("dns-proxy-resolves-service-entry")
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
    attempt, verdict, describe = _resolves_to(client, host, address)
    captured = settle(f"{host} from a pod with DNS capture", attempt, verdict,
                      expect=expect_holds(claim), timeouts=timeouts, describe=describe)
    contrast_ns = mesh_ns if mode.has(Capability.SIDECAR) else plain_ns
    bare = client_in(contrast_ns, manifest="workloads/client-no-dns-capture.yaml",
                     app="client-nodns")
    attempt, verdict, describe = _resolves_to(bare, host, address)
    uncaptured = settle(f"{host} from a pod without DNS capture", attempt,
                        lambda seen: verdict(seen) is False, expect=True, timeouts=timeouts,
                        describe=describe)
    if not uncaptured.observed:
        for line in uncaptured.evidence:
            claim.note(line)
        raise claim.unexpected(f"{host} resolves without DNS capture too, so capture is not "
                               "what resolved it")
    claim.note(f"without capture: {uncaptured.evidence[-1]}")
    conclude_settled(claim, captured)


@pytest.mark.claim("dns-auto-allocate")
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
    client = client_in(mesh_ns)
    attempt, verdict, describe = _resolves_to(client, host, address)
    conclude_settled(claim, settle(f"{host} resolves to {address}", attempt, verdict,
                                   expect=expect_holds(claim), timeouts=timeouts,
                                   describe=describe))
