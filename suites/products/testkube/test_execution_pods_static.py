"""Testkube's batch pods, rendered with the mode's documented values, admitted offline
(the mode's webhook selectors, then the real istioctl kube-inject: meshconform.static)."""

from __future__ import annotations

import pytest

from meshconform.static import evaluate

pytestmark = [pytest.mark.static, pytest.mark.workloads]


@pytest.mark.claim("testkube-execution-pods-uninjected")
def test_batch_pods_get_no_proxy(claim, product_recipe, admitted):
    """Testkube's batch pods MUST NOT get an istio-proxy with the guide's non-native values.

    Documented: kubeshop/testkube-docs docs/articles/istio.md (jobPodAnnotations,
    webhook.patch.podAnnotations, global.testWorkflows.globalTemplate).
    """
    uninjected = True
    for shape in product_recipe.workloads:
        for pod in admitted(shape):
            layout = evaluate.proxy_layout(pod)
            claim.note(f"{shape.path.name}: istio-proxy {layout} ({pod.how})")
            uninjected = uninjected and layout == "none"
    claim.conclude(uninjected)


@pytest.mark.claim("testkube-execution-job-completes")
def test_execution_job_can_complete(claim, product_recipe, admitted):
    """A Testkube test-execution Job in an enrolled namespace MUST reach Complete.

    Statically: the admitted pod has no proxy container that outlives the app (none at all,
    or istio-proxy as a restartPolicy Always init container). Documented: testkube-docs
    docs/articles/istio.md; istio/istio#6324.
    """
    shape = next(s for s in product_recipe.workloads if s.path.name == "execution-job.yaml")
    (job,) = admitted(shape)
    result = evaluate.job_completes(job)
    claim.conclude(result.outcome, result.evidence)
