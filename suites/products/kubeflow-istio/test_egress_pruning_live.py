"""Kubeflow's Sidecar egress pruning, live: a meshed service in a namespace the Sidecar does
not list is reached without mTLS, and its STRICT sidecar resets the request."""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.claims import Outcome
from meshconform.modes import Capability
from meshconform.traffic.expect import Expect
from meshconform.traffic.observation import Probe, awaited, conclude, observe, require, run
from meshconform.traffic.request import Request
from meshconform.wait import Timeouts

pytestmark = [pytest.mark.live, pytest.mark.security]

#: kubeflow/manifests common/istio/README.md "Istio Sidecar Egress", errors 1 and 3
UPSTREAM_RESET = "upstream connect error or disconnect/reset before headers"


def pruned_egress_probe(request: Request) -> Probe:
    """The documented failure is what holds here: ``denied-by-policy`` ("RBAC: access
    denied"), Envoy's upstream reset text, or ``rejected-plaintext`` (a reset); ``ok`` (the
    request reached the service, mTLS kept) is the non-conforming case."""
    pruned = (Expect.denied_by_policy() | Expect.upstream_reset_text(UPSTREAM_RESET)
              | Expect.rejected_plaintext())
    return Probe(request, pruned, Expect.ok())


@pytest.mark.claim("kubeflow-sidecar-egress-pruning", manifests=[
    "products/kubeflow-istio/istio/sidecar-prune-egress-namespace.yaml",
])
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
    before = run(Probe(client.request(url), Expect.ok()), client.transport, timeouts,
                 wait_for=Outcome.HOLDS)
    claim.note(f"before the Sidecar: {before.line}")
    require(claim, before, f"{url} does not answer an in-mesh client before pruning: the "
                           "server is down, so a failure would say nothing about it")
    apply("products/kubeflow-istio/istio/sidecar-prune-egress-namespace.yaml", mesh_ns)
    after = run(pruned_egress_probe(client.request(url)), client.transport, timeouts,
                wait_for=awaited(claim))
    conclude(claim, observe(claim.claim.id, [after]))
