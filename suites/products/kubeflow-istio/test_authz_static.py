"""Kubeflow's Istio resources against the real istioctl of the run's release."""

from __future__ import annotations

import pytest

from meshconform.manifests import load_manifests

pytestmark = [pytest.mark.static, pytest.mark.security]


@pytest.mark.claim("kubeflow-istio-resources-valid")
def test_resources_pass_analyze(claim, product_analyze):
    """Kubeflow's Istio resources MUST be accepted by istioctl analyze.

    Documented: kubeflow/manifests common/istio/istio-install/base/kustomization.yaml.
    Error-level analyzer messages fail; warnings are kept as evidence.
    """
    claim.conclude(not product_analyze.problems, product_analyze.output)


@pytest.mark.claim("kubeflow-global-deny-all-blocks")
def test_global_deny_all_is_root_allow_nothing(claim, product_recipe, product_install,
                                               product_analyze):
    """With global-deny-all in the root namespace, unmatched requests MUST be denied.

    Statically: the policy is an ALLOW-nothing (empty spec) AuthorizationPolicy in the mesh's
    rootNamespace (from the mode's generated mesh config), and the only ALLOW rule selects the
    ingress gateway pods. Documented: kubeflow/manifests deny_all_authorizationpolicy.yaml.
    """
    root = product_install.mesh.get("rootNamespace", "istio-system")
    policies = [o for p in product_recipe.istio_resources for o in load_manifests(p)
                if o["kind"] == "AuthorizationPolicy"]
    deny_all = [p for p in policies if not p.get("spec")
                and p["metadata"].get("namespace") == root]
    allows = [p for p in policies if p.get("spec")]
    wide_allows = [p["metadata"]["name"] for p in allows
                   if not (p["spec"].get("selector") or {}).get("matchLabels")]
    claim.note(f"rootNamespace {root}; allow-nothing policies: "
               f"{[p['metadata']['name'] for p in deny_all]}; unselective ALLOWs: {wide_allows}")
    claim.conclude(bool(deny_all) and not wide_allows and not product_analyze.problems,
                   product_analyze.output)
