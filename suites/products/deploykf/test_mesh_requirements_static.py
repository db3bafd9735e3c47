"""deployKF's mesh requirements and Istio resources against the real istioctl of the run's
release. Each check runs the product's registered static check (meshconform.products.checks),
the same evaluator ``meshconform static --product deploykf`` runs."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.static]


@pytest.mark.workloads
@pytest.mark.claim("deploykf-mesh-requirements")
def test_mesh_meets_requirements(product_check):
    """A mesh with deployKF's required configs MUST hold apps, capture DNS, not inject by default.

    Documented: deployKF/website content/guides/dependencies/istio.md "Use an existing istio
    installation"; deployKF values.yaml enableNamespacesByDefault false.
    """
    product_check()


@pytest.mark.gateway
@pytest.mark.claim("deploykf-gateway-resources-valid")
def test_gateway_resources_pass_analyze(product_check):
    """deployKF's Gateways and https-redirect VirtualService MUST pass istioctl analyze.

    Documented: deployKF/deployKF deploykf-istio-gateway templates (v0.1.5).
    """
    product_check()


@pytest.mark.egress
@pytest.mark.claim("deploykf-gateway-service-entry")
def test_gateway_service_entry_needs_dns_capture_and_allocation(product_check):
    """deployKF's gateway ServiceEntry MUST be reachable by hostname from meshed pods.

    The entry is MESH_INTERNAL, STATIC, with a workloadSelector and no addresses, so it needs
    DNS capture and auto-allocation.

    Documented: deployKF ServiceEntry-gateway.yaml (v0.1.5); deployKF istio.md (DNS capture and
    auto-allocation required). Static evidence: the entry's fields, istioctl analyze, the
    admitted pod's ISTIO_META_DNS_CAPTURE and the auto-allocation mechanism of this version.
    """
    product_check()


@pytest.mark.gateway
@pytest.mark.claim("deploykf-https-redirect-307")
def test_https_redirect_is_a_307_virtual_service(product_check):
    """deployKF's https-redirect VirtualService MUST redirect plain HTTP with 307 to https:443.

    Documented: deployKF VirtualService-https-redirect.yaml and Gateway-https-redirect.yaml
    (v0.1.5): httpsRedirect stays false because it would keep a non-standard port.
    """
    product_check()
