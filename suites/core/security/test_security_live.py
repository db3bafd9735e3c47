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
from meshconform.claims import Outcome
from meshconform.evidence import Evidence
from meshconform.modes import Capability, Mode
from meshconform.traffic.expect import Expect, Expectation
from meshconform.traffic.observation import Probe, awaited, conclude, observe, require, run
from meshconform.wait import Timeouts
from meshconform.wait.probes import PodClient

#: traffic between pods through real sidecars: on controlplane, process pods
#: (docs/controlplane.md "Process pods")
POD_TRAFFIC = pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD, Evidence.CONTROLLERS,
                                   Evidence.PROCESS_PODS)
pytestmark = [pytest.mark.live, POD_TRAFFIC, pytest.mark.security]


def _reachable_from_mesh(client: PodClient, url: str, timeouts: Timeouts,
                         claim: ClaimCheck) -> None:
    seen = run(Probe(client.request(url), Expect.ok()), client.transport, timeouts,
               wait_for=Outcome.HOLDS)
    claim.note(f"in-mesh client: {seen.line}")
    require(claim, seen, f"{url} does not answer an in-mesh client: the server is down, so "
                         "a refusal would say nothing about the policy")


def _judge(client: PodClient, url: str, claim: ClaimCheck, timeouts: Timeouts,
           holds: Expectation, fails: Expectation) -> None:
    seen = run(Probe(client.request(url), holds, fails), client.transport, timeouts,
               wait_for=awaited(claim))
    conclude(claim, observe(claim.claim.id, [seen]))


@pytest.mark.claim("mtls-strict-rejects-plaintext", manifests=[
    "security/peer-authentication.yaml",
])
def test_mtls_strict_rejects_plaintext(mesh_ns: str, plain_ns: str, apply: Any,
                                       echo_in: Any, client_in: Any, timeouts: Timeouts,
                                       claim: ClaimCheck) -> None:
    """Under PeerAuthentication STRICT, a plaintext client outside the mesh MUST NOT reach a
    meshed workload.

    Expectation ``rejected-plaintext`` (curl 000, exit 56/52); ``ok`` is the failure.

    Documented: deployKF "Mutual TLS"; istio.io mtls-migration (curl 000, exit 56).
    """
    apply("security/peer-authentication.yaml", mesh_ns, MTLS_MODE="STRICT")
    echo = echo_in(mesh_ns)
    _reachable_from_mesh(client_in(mesh_ns), echo.url(), timeouts, claim)
    outsider = client_in(plain_ns)
    _judge(outsider, echo.url(), claim, timeouts, Expect.rejected_plaintext(), Expect.ok())


@pytest.mark.claim("mtls-permissive-accepts-plaintext", manifests=[
    "security/peer-authentication.yaml",
])
def test_mtls_permissive_accepts_plaintext(mesh_ns: str, plain_ns: str, apply: Any,
                                           echo_in: Any, client_in: Any, timeouts: Timeouts,
                                           claim: ClaimCheck) -> None:
    """Under PeerAuthentication PERMISSIVE, a plaintext client outside the mesh MUST reach a
    meshed workload.

    Expectation ``ok``; ``rejected-plaintext`` is the failure.

    Documented: deployKF "Mutual TLS" (PERMISSIVE); istio.io mtls-migration.
    """
    apply("security/peer-authentication.yaml", mesh_ns, MTLS_MODE="PERMISSIVE")
    echo = echo_in(mesh_ns)
    outsider = client_in(plain_ns)
    _judge(outsider, echo.url(), claim, timeouts, Expect.ok(), Expect.rejected_plaintext())


@pytest.mark.claim("authz-deny", manifests=["security/authz-deny.yaml"])
def test_authz_deny(mesh_ns: str, apply: Any, echo_in: Any, client_in: Any,
                    timeouts: Timeouts, claim: ClaimCheck, mode: Mode) -> None:
    """An AuthorizationPolicy DENY matching a request MUST refuse it (403 "RBAC: access
    denied" at L7, a reset at L4): expectation ``denied-by-policy`` (ambient:
    ``denied-by-policy-l4``); ``ok`` is the failure.

    Documented: deployKF "AuthorizationPolicies"; kubeflow/manifests global-deny-all;
    istio.io ambient getting-started (L4: reset). The client first reaches echo, then the
    DENY for its namespace is applied.
    """
    echo = echo_in(mesh_ns)
    client = client_in(mesh_ns)
    _reachable_from_mesh(client, echo.url(), timeouts, claim)
    apply("security/authz-deny.yaml", mesh_ns, SOURCE_NAMESPACE=mesh_ns)
    denied = (Expect.denied_by_policy_l4() if mode.has(Capability.ZTUNNEL)
              else Expect.denied_by_policy())
    _judge(client, echo.url(), claim, timeouts, denied, Expect.ok())
