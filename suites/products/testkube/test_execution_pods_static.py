"""Testkube's batch pods, rendered with the mode's documented values, kube-injected offline."""

from __future__ import annotations

import pytest

from meshconform.modes import Capability
from meshconform.product_static import injects_unlabelled_namespaces, kube_inject, proxy_container

pytestmark = [pytest.mark.static, pytest.mark.workloads]


@pytest.mark.claim("testkube-execution-pods-uninjected")
def test_batch_pods_get_no_proxy(claim, product_recipe, mesh_for, product_istioctl, mode):
    """Testkube's batch pods MUST NOT get an istio-proxy with the guide's non-native values.

    Documented: kubeshop/testkube-docs docs/articles/istio.md (jobPodAnnotations,
    webhook.patch.podAnnotations, global.testWorkflows.globalTemplate).
    """
    render = mesh_for()
    uninjected = True
    for shape in product_recipe.workloads:
        for obj in kube_inject(product_istioctl, render,
                               product_recipe.render_workload(shape, mode.name)):
            where = proxy_container(obj)
            claim.note(f"{shape.path.name}: istio-proxy "
                       f"{'absent' if where is None else 'in ' + where[0]}")
            uninjected = uninjected and where is None
    claim.conclude(uninjected)


@pytest.mark.claim("testkube-execution-job-completes")
def test_execution_job_can_complete(claim, product_recipe, mesh_for, product_istioctl, mode):
    """A Testkube test-execution Job in an enrolled namespace MUST reach Complete.

    Statically: the injected pod has no proxy container that outlives the app (none at all,
    or istio-proxy as a restartPolicy Always init container). Documented: testkube-docs
    docs/articles/istio.md; istio/istio#6324.
    """
    render = mesh_for()
    if not mode.has(Capability.SIDECAR):
        hooks = injects_unlabelled_namespaces(render.webhooks)
        claim.conclude(not hooks, f"ambient namespace matched by injection webhooks: {hooks}")
        return
    shape = next(s for s in product_recipe.workloads if s.path.name == "execution-job.yaml")
    (job,) = kube_inject(product_istioctl, render,
                         product_recipe.render_workload(shape, mode.name))
    where = proxy_container(job)
    if where is None:
        claim.conclude(True, "no istio-proxy: nothing keeps the pod running")
    elif where[0] == "initContainers":
        claim.conclude(where[1].get("restartPolicy") == "Always",
                       f"istio-proxy init container, restartPolicy {where[1].get('restartPolicy')}")
    else:
        claim.conclude(False, "istio-proxy is a regular container: it outlives the app")
