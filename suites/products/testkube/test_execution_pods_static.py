"""Testkube's batch pods, rendered with the mode's documented values, admitted offline
(the mode's webhook selectors, then the real istioctl kube-inject); each check runs the
product's registered static check (meshconform.products.checks)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.static, pytest.mark.workloads]


@pytest.mark.claim("testkube-execution-pods-uninjected")
def test_batch_pods_get_no_proxy(product_check):
    """Testkube's batch pods MUST NOT get an istio-proxy with the guide's non-native values.

    Documented: kubeshop/testkube-docs docs/articles/istio.md (jobPodAnnotations,
    webhook.patch.podAnnotations, global.testWorkflows.globalTemplate).
    """
    product_check()


@pytest.mark.claim("testkube-execution-job-completes")
def test_execution_job_can_complete(product_check):
    """A Testkube test-execution Job in an enrolled namespace MUST reach Complete.

    Statically: the admitted pod has no proxy container that outlives the app (none at all,
    or istio-proxy as a restartPolicy Always init container). Documented: testkube-docs
    docs/articles/istio.md; istio/istio#6324.
    """
    product_check()
