"""The Speedscale operator installed into the mode's mesh under REGISTRY_ONLY."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.live, pytest.mark.egress]


@pytest.mark.claim("speedscale-operator-installs")
def test_operator_becomes_ready(claim, installed_product, kube, product_recipe):
    """The speedscale-operator chart, installed with a valid API key into the mesh, MUST bring
    its Deployments to Ready.

    Documented: speedscale/docs docs/setup/install/istio.md; speedscale/operator-helm README
    ("Pre-install job failure"). The chart's pre-install job checks the key against
    app.speedscale.com, so a ready operator also shows the documented ServiceEntries let it
    out under REGISTRY_ONLY. Needs SPEEDSCALE_API_KEY; without it the install refuses with
    one line (the key is never written anywhere).
    """
    namespace = product_recipe.install.namespace
    deployments = kube.list("apps/v1", "Deployment", namespace)
    ready = []
    for deployment in deployments:
        status = deployment.get("status") or {}
        wanted = deployment["spec"].get("replicas", 1)
        ready.append(status.get("readyReplicas", 0) >= wanted)
        claim.note(f"{deployment['metadata']['name']}: ready "
                   f"{status.get('readyReplicas', 0)}/{wanted}")
    entries = kube.list("networking.istio.io/v1", "ServiceEntry", namespace)
    claim.note(f"ServiceEntries in {namespace}: {len(entries)}; {installed_product.detail}")
    claim.conclude(bool(deployments) and all(ready) and bool(entries))
