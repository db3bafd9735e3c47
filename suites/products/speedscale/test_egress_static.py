"""Speedscale's documented resources and workloads against the real istioctl of the run's
release; each check runs the product's registered static check (meshconform.products.checks)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.static]


@pytest.mark.egress
@pytest.mark.claim("speedscale-egress-service-entries")
def test_service_entries_match_docs(product_check):
    """Speedscale's ServiceEntries MUST be MESH_EXTERNAL, TLS/443, resolution NONE, for every host.

    Documented: speedscale/docs docs/setup/install/istio.md "External Networking Requirements"
    (commit eb3cf20b: the example verbatim, downloads.speedscale.com included).
    """
    product_check()


@pytest.mark.workloads
@pytest.mark.claim("speedscale-pre-install-job-completes")
def test_pre_install_job_can_complete(product_check):
    """The chart's pre-install Job, ending its proxy with :15000/quitquitquit, MUST complete.

    Documented: speedscale/operator-helm charts/2.5.602 templates/hooks.yaml. Statically: a
    classic istio-proxy with the app POSTing Envoy's quitquitquit, or a native one.
    """
    product_check()


@pytest.mark.workloads
@pytest.mark.claim("speedscale-istio-cni-annotation")
def test_istio_cni_annotation_on_user_workloads(product_check):
    """With the Istio CNI agent, workloads receiving the Speedscale sidecar MUST carry
    sidecar.speedscale.com/istio-cni "true".

    Documented: speedscale/docs docs/setup/install/istio.md (commit eb3cf20b), on the user's
    workloads, not the operator.
    """
    product_check()
