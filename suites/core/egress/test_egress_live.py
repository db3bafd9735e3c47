"""Egress control, live: REGISTRY_ONLY and ServiceEntries, seen from a client pod.

The client runs in the check's namespace, under a Sidecar with outboundTrafficPolicy
REGISTRY_ONLY (fixtures/egress/sidecar-registry-only.yaml). The "external" server is a
pod outside the mesh with no Service, reached by IP with the host names mapped onto it
(curl --resolve), so nothing but a ServiceEntry puts it in the registry (research 0.2).
Facts: shared/research/istio-behaviours.md 3.4; ambient: istio/istio#54281.
"""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.evidence import Evidence
from meshconform.traffic.curl import (
    CurlResult,
    reached,
    registry_blocked_http,
    registry_blocked_tls,
)
from meshconform.wait.observed import conclude_settled, expect_holds, settle
from meshconform.wait.waiters import Timeouts

#: traffic between pods through real sidecars: on controlplane, process pods
#: (docs/controlplane.md "Process pods")
POD_TRAFFIC = pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD, Evidence.CONTROLLERS,
                                   Evidence.PROCESS_PODS)
pytestmark = [pytest.mark.live, POD_TRAFFIC, pytest.mark.egress]

#: these are conftest constants; repeated here as data the checks read
HTTP_HOST = "http.external.meshconform.test"
TLS_HOST = "tls.external.meshconform.test"
UNREGISTERED = "unregistered.meshconform.test"
CA = "/etc/meshconform/ca.pem"


def _blocked_or_reached(blocked: Any) -> Any:
    def verdict(r: CurlResult) -> bool | None:
        if blocked(r):
            return True
        return False if reached(r) else None
    return verdict


def _reached_or_blocked(blocked: Any) -> Any:
    def verdict(r: CurlResult) -> bool | None:
        if reached(r):
            return True
        return False if blocked(r) else None
    return verdict


@pytest.mark.claim("egress-registry-only-blocks")
def test_registry_only_blocks_unknown_host(mesh_ns: str, apply: Any, client_in: Any,
                                           outside: Any, timeouts: Timeouts,
                                           claim: ClaimCheck) -> None:
    """Under REGISTRY_ONLY, a request to an unregistered host MUST be refused (502, curl 35).

    The catalog's wording: plain HTTP gets 502 from block_all; HTTPS fails the TLS handshake
    (curl exit 35: BlackHoleCluster closes the connection), or is reset.

    Documented: Speedscale "Istio"; istio.io egress-control; httproute.go block_all.
    Ambient: documented as not enforced by ztunnel (istio/istio#54281).
    """
    apply("egress/sidecar-registry-only.yaml", mesh_ns)
    client = client_in(mesh_ns)
    http = settle(
        f"HTTP to unregistered {UNREGISTERED}",
        lambda: client.curl(f"http://{UNREGISTERED}/get",
                            resolve=outside.resolve(UNREGISTERED, 80)),
        _blocked_or_reached(registry_blocked_http), expect=expect_holds(claim),
        timeouts=timeouts, describe=CurlResult.describe)
    # -k: if the request gets through, the external server's certificate is not for this
    # name; reaching it at all is what matters here
    tls = settle(
        f"TLS to unregistered {UNREGISTERED}",
        lambda: client.curl(f"https://{UNREGISTERED}/get",
                            resolve=outside.resolve(UNREGISTERED, 443), extra=["-k"]),
        _blocked_or_reached(registry_blocked_tls), expect=expect_holds(claim),
        timeouts=timeouts, describe=CurlResult.describe)
    conclude_settled(claim, http, tls)


@pytest.mark.claim("egress-service-entry-allows-http")
def test_service_entry_allows_http(mesh_ns: str, apply: Any, client_in: Any, outside: Any,
                                   timeouts: Timeouts, claim: ClaimCheck) -> None:
    """Under REGISTRY_ONLY, a MESH_EXTERNAL ServiceEntry (HTTP, resolution DNS) MUST make its
    host reachable over plain HTTP.

    Documented: Istio ServiceEntry reference; istio.io egress-control.
    """
    apply("egress/sidecar-registry-only.yaml", mesh_ns)
    apply("egress/service-entry-http.yaml", mesh_ns, HOST=HTTP_HOST,
          ENDPOINT=outside.external_ip)
    client = client_in(mesh_ns)
    http = settle(
        f"HTTP to ServiceEntry host {HTTP_HOST}",
        lambda: client.curl(f"http://{HTTP_HOST}/get", resolve=outside.resolve(HTTP_HOST, 80)),
        _reached_or_blocked(registry_blocked_http), expect=expect_holds(claim),
        timeouts=timeouts, describe=CurlResult.describe)
    conclude_settled(claim, http)


@pytest.mark.claim("egress-service-entry-allows-tls")
def test_service_entry_allows_tls(mesh_ns: str, apply: Any, client_in: Any, outside: Any,
                                  timeouts: Timeouts, claim: ClaimCheck) -> None:
    """Under REGISTRY_ONLY, a MESH_EXTERNAL ServiceEntry (TLS on 443, resolution NONE) MUST
    let TLS through to its host by SNI.

    Documented: Speedscale "Istio" (app.speedscale.com, TLS 443, NONE); istio.io
    egress-control. The client verifies the external server's certificate against the
    run CA, so a 200 proves the handshake went end to end (passthrough, not termination).
    """
    apply("egress/sidecar-registry-only.yaml", mesh_ns)
    apply("egress/service-entry-tls.yaml", mesh_ns, HOST=TLS_HOST)
    client = client_in(mesh_ns)
    tls = settle(
        f"TLS to ServiceEntry host {TLS_HOST}",
        lambda: client.curl(f"https://{TLS_HOST}/get", resolve=outside.resolve(TLS_HOST, 443),
                            cacert=CA),
        _reached_or_blocked(registry_blocked_tls), expect=expect_holds(claim),
        timeouts=timeouts, describe=CurlResult.describe)
    conclude_settled(claim, tls)
