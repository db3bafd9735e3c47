"""deployKF's statement about PERMISSIVE and AuthorizationPolicy, put to a real mesh.

The catalog records the statement (claim deploykf-permissive-bypasses-authz) together with
why it is incorrect; the check shows a DENY by path answering 403 to a plaintext client
outside the mesh, which ClaimCheck reports as "documentation incorrect".
"""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.modes import Capability
from meshconform.traffic.curl import CurlResult, rbac_denied_l7, reached
from meshconform.wait import Timeouts
from meshconform.wait.probes import conclude_settled, settle

pytestmark = [pytest.mark.live, pytest.mark.security]


def permissive_authz_verdict(result: CurlResult) -> bool | None:
    """deployKF's statement: True (holds) when the plaintext request got through the DENY,
    False when the policy was applied (403 RBAC: access denied), None otherwise."""
    if rbac_denied_l7(result):
        return False
    if reached(result):
        return True
    return None


@pytest.mark.claim("deploykf-permissive-bypasses-authz")
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
    open_path = settle(f"plaintext client to {echo.url()}", lambda: outsider.curl(echo.url()),
                       lambda r: True if reached(r) else None, expect=True,
                       timeouts=timeouts, describe=CurlResult.describe)
    for line in open_path.evidence:
        claim.note(line)
    if not open_path.observed:
        raise claim.unexpected("a plaintext client does not reach echo at all under "
                               "PERMISSIVE, so a refusal on /deny would say nothing")
    denied = settle(f"plaintext client to {echo.url('/deny')}",
                    lambda: outsider.curl(echo.url("/deny")), permissive_authz_verdict,
                    expect=False, timeouts=timeouts, describe=CurlResult.describe)
    conclude_settled(claim, denied)
