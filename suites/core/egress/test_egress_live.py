"""Egress control, live: REGISTRY_ONLY and ServiceEntries, seen from a client pod.

The client runs in the check's namespace, under a Sidecar with outboundTrafficPolicy
REGISTRY_ONLY (fixtures/egress/sidecar-registry-only.yaml). The "external" server is a
pod outside the mesh with no Service, reached by IP with the host names mapped onto it
(curl --resolve), so nothing but a ServiceEntry puts it in the registry (research 0.2).
Facts: shared/research/istio-behaviours.md 3.4; ambient: istio/istio#54281.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.evidence import Evidence
from meshconform.traffic import egress
from meshconform.traffic.observation import awaited, conclude
from meshconform.wait import Timeouts

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


def _target(client: Any, outside: Any, timeouts: Timeouts) -> egress.EgressTarget:
    """The dataplane tier's evaluators, sent by curl from the client pod to the external
    pod's IP (the pod's sidecar intercepts it, as the dataplane tier's Envoy does)."""
    return egress.EgressTarget(address=outside.external_ip, http_port=80, tls_port=443,
                               http_host=HTTP_HOST, tls_host=TLS_HOST,
                               unknown_host=UNREGISTERED, ca=Path(CA), path="/get",
                               timeouts=timeouts, transport=client.transport)


@pytest.mark.claim("egress-registry-only-blocks", manifests=["egress/sidecar-registry-only.yaml"])
def test_registry_only_blocks_unknown_host(mesh_ns: str, apply: Any, client_in: Any,
                                           outside: Any, timeouts: Timeouts,
                                           claim: ClaimCheck) -> None:
    """Under REGISTRY_ONLY, a request to an unregistered host MUST be refused (502, curl 35).

    The catalog's wording: plain HTTP gets 502 from block_all; HTTPS fails the TLS handshake
    (curl exit 35: BlackHoleCluster closes the connection), or is reset. Expectation
    ``blocked-by-registry`` for both; ``ok`` is the documented failure. The TLS request
    does not check the certificate's name (curl -k): reaching the server at all is what
    matters.

    Documented: Speedscale "Istio"; istio.io egress-control; httproute.go block_all.
    Ambient: documented as not enforced by ztunnel (istio/istio#54281).
    """
    apply("egress/sidecar-registry-only.yaml", mesh_ns)
    target = _target(client_in(mesh_ns), outside, timeouts)
    conclude(claim, egress.registry_only_blocks(target, wait_for=awaited(claim)))


@pytest.mark.claim("egress-service-entry-allows-http", manifests=[
    "egress/sidecar-registry-only.yaml",
    "egress/service-entry-http.yaml",
])
def test_service_entry_allows_http(mesh_ns: str, apply: Any, client_in: Any, outside: Any,
                                   timeouts: Timeouts, claim: ClaimCheck) -> None:
    """Under REGISTRY_ONLY, a MESH_EXTERNAL ServiceEntry (HTTP, resolution DNS) MUST make its
    host reachable over plain HTTP (``ok``; ``blocked-by-registry`` is the failure).

    Documented: Istio ServiceEntry reference; istio.io egress-control.
    """
    apply("egress/sidecar-registry-only.yaml", mesh_ns)
    apply("egress/service-entry-http.yaml", mesh_ns, HOST=HTTP_HOST,
          ENDPOINT=outside.external_ip)
    target = _target(client_in(mesh_ns), outside, timeouts)
    conclude(claim, egress.service_entry_allows_http(target, wait_for=awaited(claim)))


@pytest.mark.claim("egress-service-entry-allows-tls", manifests=[
    "egress/sidecar-registry-only.yaml",
    "egress/service-entry-tls.yaml",
])
def test_service_entry_allows_tls(mesh_ns: str, apply: Any, client_in: Any, outside: Any,
                                  timeouts: Timeouts, claim: ClaimCheck) -> None:
    """Under REGISTRY_ONLY, a MESH_EXTERNAL ServiceEntry (TLS on 443, resolution NONE) MUST
    let TLS through to its host by SNI (``ok``; ``blocked-by-registry`` is the failure).

    Documented: Speedscale "Istio" (app.speedscale.com, TLS 443, NONE); istio.io
    egress-control. The client verifies the external server's certificate against the
    run CA, so a 200 proves the handshake went end to end (passthrough, not termination).
    """
    apply("egress/sidecar-registry-only.yaml", mesh_ns)
    apply("egress/service-entry-tls.yaml", mesh_ns, HOST=TLS_HOST)
    target = _target(client_in(mesh_ns), outside, timeouts)
    conclude(claim, egress.service_entry_allows_tls(target, wait_for=awaited(claim)))
