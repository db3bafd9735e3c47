"""Kubeflow's Istio resources against the real istioctl of the run's release; each check runs
the product's registered static check (meshconform.products.checks)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.static, pytest.mark.security]


@pytest.mark.claim("kubeflow-istio-resources-valid")
def test_resources_pass_analyze(product_check):
    """Kubeflow's Istio resources MUST be accepted by istioctl analyze.

    Documented: kubeflow/manifests common/istio/istio-install/base/kustomization.yaml.
    Error-level analyzer messages fail; warnings are kept as evidence.
    """
    product_check()


@pytest.mark.claim("kubeflow-global-deny-all-blocks")
def test_global_deny_all_is_root_allow_nothing(product_check):
    """With global-deny-all in the root namespace, unmatched requests MUST be denied.

    Statically: the policy is an ALLOW-nothing (empty spec) AuthorizationPolicy in the mesh's
    rootNamespace (from the mode's generated mesh config), and the only ALLOW rule selects the
    ingress gateway pods. Documented: kubeflow/manifests deny_all_authorizationpolicy.yaml.
    """
    product_check()


@pytest.mark.claim("kubeflow-sidecar-egress-pruning")
def test_sidecar_egress_pruning_leaves_without_mtls(product_check):
    """With Kubeflow's Sidecar default and ALLOW_ANY, traffic to an unlisted namespace MUST
    leave without mTLS (the documented "RBAC: access denied" or reset).

    Documented: kubeflow/manifests common/istio README "Istio Sidecar Egress";
    sidecar-prune-egress.yaml; install.yaml (no outboundTrafficPolicy). Statically: the
    mesh-wide Sidecar hides the namespace and the policy in effect is ALLOW_ANY
    (PassthroughCluster); under REGISTRY_ONLY a 502 would hide the documented failure.
    """
    product_check()
