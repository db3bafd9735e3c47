"""Istio resources, live: what the API server and istiod's validation webhook admit.

Every Istio resource under fixtures/ (the suite's and the product recipes'; the same set
the static tier analyzes, meshconform.static.analyze) is applied with a server-side dry
run into the check's namespace: the CRD schema, CEL rules and the validating webhook all
run, nothing is stored. A deliberately invalid VirtualService must be denied BY THE
WEBHOOK, or the admissions prove nothing.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from meshconform.claimcheck import ClaimCheck
from meshconform.evidence import Evidence
from meshconform.live.istio import WEBHOOK_PROBE
from meshconform.modes import Mode
from meshconform.products.recipes import offline_manifests, unobtainable
from meshconform.static.analyze import istio_resources

pytestmark = [pytest.mark.live, pytest.mark.workloads]


def _dry_run(kube: Any, obj: dict[str, Any], namespace: str) -> str | None:
    """None if admitted, else the API server's answer (status and message)."""
    body = copy.deepcopy(obj)
    body.setdefault("metadata", {})["namespace"] = namespace
    try:
        kube.apply(body, namespace, dry_run=True)
    except ApiException as error:
        detail = error.body.decode() if isinstance(error.body, bytes) else str(error.body)
        return f"{error.status} {error.reason}: {detail[:400]}"
    return None


@pytest.mark.claim("istio-resources-admitted")
@pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD)
def test_istio_resources_admitted(plain_ns: str, kube: Any, claim: ClaimCheck) -> None:
    """Every Istio resource the suite and the product recipes apply MUST be admitted by the
    API server and Istio's validation webhook, and an invalid one MUST be denied.

    Documented: istio.io "Configuration Validation Problems"; istiod-default-validator
    and rev.validation.istio.io. The namespace carries no injection label: validation
    does not depend on it.
    """
    invalid = _dry_run(kube, WEBHOOK_PROBE, plain_ns)
    claim.note(f"invalid VirtualService (HTTP route without a destination): "
               f"{invalid or 'ADMITTED'}")
    if invalid is not None and "denied the request" not in invalid:
        raise claim.unexpected(f"the invalid probe was refused, but not by a webhook: {invalid}")
    resources = istio_resources()
    refused = []
    for obj in resources.objects:
        name = f"{obj['kind']} {obj['metadata'].get('name')}"
        answer = _dry_run(kube, obj, plain_ns)
        if answer is not None:
            refused.append(f"{name}: {answer}")
    claim.note(f"{len(resources.objects) - len(refused)} of {len(resources.objects)} Istio "
               f"resources from {len(resources.files)} files admitted")
    for line in refused:
        claim.note(f"REFUSED {line}")
    claim.conclude(invalid is not None and not refused)


@pytest.mark.claim("istio-resources-admitted")
@pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD)
def test_product_manifests_admitted(mesh_ns: str, kube: Any, mode: Mode,
                                    claim: ClaimCheck) -> None:
    """Every product manifest the suite can obtain MUST be admitted in an enrolled namespace.

    The recipes' workload shapes, rendered with this mode's values, and their Istio
    resources go through the real admission chain with a server-side dry run: CRD
    schemas, istiod's injection webhook, its validation webhook. What cannot be obtained
    here (helm charts fetched at install time) is listed in the evidence.
    """
    manifests = offline_manifests(mode.name)
    refused = []
    for item in manifests:
        answer = _dry_run(kube, item.obj, mesh_ns)
        if answer is not None:
            refused.append(f"{item.product} {item.source} {item.obj.get('kind')} "
                           f"{item.obj['metadata'].get('name')}: {answer}")
    claim.note(f"{len(manifests) - len(refused)} of {len(manifests)} product manifests admitted "
               f"({', '.join(sorted({m.product for m in manifests}))})")
    for product, why in unobtainable().items():
        claim.note(f"not obtainable here: {product}: {why}")
    for line in refused:
        claim.note(f"REFUSED {line}")
    claim.conclude(not refused)
