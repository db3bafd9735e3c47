"""mTLS and authorization, live, with curl from client pods.

Each check runs its own echo (policies are per namespace). The plaintext client is
a pod in a namespace outside the mesh; the in-mesh client first shows echo answers,
so a refusal is the policy's doing and not a dead server.
Facts: shared/research/istio-behaviours.md 3.6.
"""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.evidence import Evidence
from meshconform.modes import Capability, Mode
from meshconform.traffic.curl import (
    CurlResult,
    rbac_denied_l4,
    rbac_denied_l7,
    reached,
    rejected_plaintext,
)
from meshconform.wait.observed import PodClient, Settled, conclude_settled, expect_holds, settle
from meshconform.wait.waiters import Timeouts

#: traffic between pods through real sidecars: on controlplane, process pods
#: (docs/controlplane.md "Process pods")
POD_TRAFFIC = pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD, Evidence.CONTROLLERS,
                                   Evidence.PROCESS_PODS)
pytestmark = [pytest.mark.live, POD_TRAFFIC, pytest.mark.security]


def _reachable_from_mesh(client: PodClient, url: str, timeouts: Timeouts,
                         claim: ClaimCheck) -> None:
    seen = settle(f"in-mesh client to {url}", lambda: client.curl(url),
                  lambda r: True if reached(r) else None, expect=True, timeouts=timeouts,
                  describe=CurlResult.describe)
    for line in seen.evidence:
        claim.note(line)
    if not seen.observed:
        raise claim.unexpected(f"{url} does not answer an in-mesh client: the server is "
                               "down, so a refusal would say nothing about the policy")


def _plaintext(client: PodClient, url: str, claim: ClaimCheck, timeouts: Timeouts,
               holds_when_rejected: bool) -> Settled[CurlResult]:
    def verdict(r: CurlResult) -> bool | None:
        if rejected_plaintext(r):
            return holds_when_rejected
        if reached(r):
            return not holds_when_rejected
        return None

    return settle(f"plaintext client outside the mesh to {url}", lambda: client.curl(url),
                  verdict, expect=expect_holds(claim), timeouts=timeouts,
                  describe=CurlResult.describe)


@pytest.mark.claim("mtls-strict-rejects-plaintext")
def test_mtls_strict_rejects_plaintext(mesh_ns: str, plain_ns: str, apply: Any,
                                       echo_in: Any, client_in: Any, timeouts: Timeouts,
                                       claim: ClaimCheck) -> None:
    """Under PeerAuthentication STRICT, a plaintext client outside the mesh MUST NOT reach a
    meshed workload.

    Documented: deployKF "Mutual TLS"; istio.io mtls-migration (curl 000, exit 56).
    """
    apply("security/peer-authentication.yaml", mesh_ns, MTLS_MODE="STRICT")
    echo = echo_in(mesh_ns)
    _reachable_from_mesh(client_in(mesh_ns), echo.url(), timeouts, claim)
    outsider = client_in(plain_ns)
    conclude_settled(claim, _plaintext(outsider, echo.url(), claim, timeouts,
                                       holds_when_rejected=True))


@pytest.mark.claim("mtls-permissive-accepts-plaintext")
def test_mtls_permissive_accepts_plaintext(mesh_ns: str, plain_ns: str, apply: Any,
                                           echo_in: Any, client_in: Any, timeouts: Timeouts,
                                           claim: ClaimCheck) -> None:
    """Under PeerAuthentication PERMISSIVE, a plaintext client outside the mesh MUST reach a
    meshed workload.

    Documented: deployKF "Mutual TLS" (PERMISSIVE); istio.io mtls-migration.
    """
    apply("security/peer-authentication.yaml", mesh_ns, MTLS_MODE="PERMISSIVE")
    echo = echo_in(mesh_ns)
    outsider = client_in(plain_ns)
    conclude_settled(claim, _plaintext(outsider, echo.url(), claim, timeouts,
                                       holds_when_rejected=False))


@pytest.mark.claim("authz-deny")
def test_authz_deny(mesh_ns: str, apply: Any, echo_in: Any, client_in: Any,
                    timeouts: Timeouts, claim: ClaimCheck, mode: Mode) -> None:
    """An AuthorizationPolicy DENY matching a request MUST refuse it (403 "RBAC: access
    denied" at L7, a reset at L4).

    Documented: deployKF "AuthorizationPolicies"; kubeflow/manifests global-deny-all;
    istio.io ambient getting-started (L4: reset). The client first reaches echo, then the
    DENY for its namespace is applied.
    """
    echo = echo_in(mesh_ns)
    client = client_in(mesh_ns)
    _reachable_from_mesh(client, echo.url(), timeouts, claim)
    apply("security/authz-deny.yaml", mesh_ns, SOURCE_NAMESPACE=mesh_ns)
    denied = rbac_denied_l4 if mode.has(Capability.ZTUNNEL) else rbac_denied_l7

    def verdict(r: CurlResult) -> bool | None:
        if denied(r):
            return True
        return False if reached(r) else None

    conclude_settled(claim, settle(f"client to {echo.url()} under DENY",
                                   lambda: client.curl(echo.url()), verdict,
                                   expect=expect_holds(claim), timeouts=timeouts,
                                   describe=CurlResult.describe))
