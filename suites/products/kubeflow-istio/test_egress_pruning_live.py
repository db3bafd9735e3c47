"""Kubeflow's Sidecar egress pruning, live: a meshed service in a namespace the Sidecar does
not list is reached without mTLS, and its STRICT sidecar resets the request."""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.modes import Capability
from meshconform.traffic.curl import CurlKind, CurlResult, rbac_denied_l7, reached
from meshconform.wait import Timeouts
from meshconform.wait.probes import conclude_settled, expect_holds, settle

pytestmark = [pytest.mark.live, pytest.mark.security]

#: kubeflow/manifests common/istio/README.md "Istio Sidecar Egress", errors 1 and 3
UPSTREAM_RESET = "upstream connect error or disconnect/reset before headers"


def pruned_egress_failure(result: CurlResult) -> bool | None:
    """The documented failure (True): "RBAC: access denied", Envoy's upstream reset text, or a
    reset; False when the request reached the service (mTLS kept); None otherwise."""
    if rbac_denied_l7(result) or result.kind is CurlKind.RESET:
        return True
    if result.status == 503 and UPSTREAM_RESET in result.body:
        return True
    if reached(result):
        return False
    return None


@pytest.mark.claim("kubeflow-sidecar-egress-pruning")
@pytest.mark.requires(Capability.SIDECAR)
def test_unlisted_namespace_is_reached_without_mtls(mesh_ns: str, apply: Any, client_in: Any,
                                                    strict_echo: Any, timeouts: Timeouts,
                                                    claim: ClaimCheck) -> None:
    """With Kubeflow's Sidecar default and ALLOW_ANY, traffic to an unlisted namespace MUST
    leave without mTLS, so a STRICT destination resets it.

    Documented: kubeflow/manifests common/istio README "Istio Sidecar Egress" ("RBAC: Access
    Denied", "upstream connect error or disconnect/reset before headers");
    sidecar-prune-egress.yaml. The client first reaches the STRICT echo over mTLS; with
    Kubeflow's Sidecar in its namespace the same request must fail as documented.
    """
    client = client_in(mesh_ns)
    url = strict_echo.url()
    before = settle(f"client to {url} before the Sidecar", lambda: client.curl(url),
                    lambda r: True if reached(r) else None, expect=True,
                    timeouts=timeouts, describe=CurlResult.describe)
    for line in before.evidence:
        claim.note(line)
    if not before.observed:
        raise claim.unexpected(f"{url} does not answer an in-mesh client before pruning: the "
                               "server is down, so a failure would say nothing about it")
    apply("products/kubeflow-istio/istio/sidecar-prune-egress-namespace.yaml", mesh_ns)
    after = settle(f"client to {url} under Kubeflow's Sidecar", lambda: client.curl(url),
                   pruned_egress_failure, expect=expect_holds(claim), timeouts=timeouts,
                   describe=CurlResult.describe)
    conclude_settled(claim, after)
