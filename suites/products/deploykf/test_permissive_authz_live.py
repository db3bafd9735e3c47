"""deployKF's statement about PERMISSIVE and AuthorizationPolicy, put to a real mesh.

The catalog records the statement (claim deploykf-permissive-bypasses-authz) together with
why it is incorrect; the check shows a DENY by path answering 403 to a plaintext client
outside the mesh, which ClaimCheck reports as "documentation incorrect".
"""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.claims import Outcome
from meshconform.modes import Capability
from meshconform.traffic.expect import Expect
from meshconform.traffic.observation import Probe, conclude, observe, require, run
from meshconform.traffic.request import Request
from meshconform.wait import Timeouts

pytestmark = [pytest.mark.live, pytest.mark.security]


def permissive_authz_probe(request: Request) -> Probe:
    """deployKF's statement: holds (``ok``) when the plaintext request got through the DENY,
    fails when the policy was applied (``denied-by-policy``: 403 RBAC: access denied)."""
    return Probe(request, Expect.ok(), Expect.denied_by_policy())


@pytest.mark.claim("deploykf-permissive-bypasses-authz", manifests=[
    "security/peer-authentication.yaml",
    "security/authz-deny-path.yaml",
])
@pytest.mark.requires(Capability.SIDECAR)
def test_permissive_plaintext_meets_authorization_policy(mesh_ns: str, plain_ns: str,
                                                         apply: Any, echo_in: Any,
                                                         client_in: Any, timeouts: Timeouts,
                                                         claim: ClaimCheck) -> None:
    """Under PERMISSIVE, AuthorizationPolicy MUST NOT be applied to plaintext traffic from
    outside the mesh (deployKF's statement, recorded as incorrect).

    Documented: deployKF/website content/guides/dependencies/istio.md "Mutual TLS" (commit
    0c485424). Istio applies the policy to the plaintext filter chain too: the plaintext
    client gets 403 "RBAC: access denied" on /deny while /get answers.
    """
    apply("security/peer-authentication.yaml", mesh_ns, MTLS_MODE="PERMISSIVE")
    apply("security/authz-deny-path.yaml", mesh_ns)
    echo = echo_in(mesh_ns)
    outsider = client_in(plain_ns)
    open_path = run(Probe(outsider.request(echo.url()), Expect.ok()), outsider.transport,
                    timeouts, wait_for=Outcome.HOLDS)
    claim.note(f"plaintext client, open path: {open_path.line}")
    require(claim, open_path, "a plaintext client does not reach echo at all under "
                              "PERMISSIVE, so a refusal on /deny would say nothing")
    denied = run(permissive_authz_probe(outsider.request(echo.url("/deny"))),
                 outsider.transport, timeouts, wait_for=Outcome.BROKEN)
    conclude(claim, observe(claim.claim.id, [denied]))
