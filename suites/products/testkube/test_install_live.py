"""Testkube installed into the mode's mesh, and one of its execution Jobs run there."""

from __future__ import annotations

import pytest

from meshconform.observe.pods import pod_failure
from meshconform.wait import Done, Failed, Pending

pytestmark = [pytest.mark.live, pytest.mark.workloads]


@pytest.mark.claim("testkube-installs-in-mesh")
def test_chart_becomes_ready(claim, installed_product):
    """The testkube chart MUST bring every Deployment of its release to Ready in the mesh.

    Documented: kubeshop/testkube-docs docs/articles/istio.md; chart 2.3.0.
    """
    claim.conclude(True, f"installed in {installed_product.duration_s}s: "
                         f"{installed_product.detail}")


@pytest.mark.claim("testkube-execution-job-completes")
def test_execution_job_completes(claim, installed_product, product_recipe, kube, mesh_ns,
                                 mode, timeouts):
    """A Testkube test-execution Job in an enrolled namespace MUST reach Complete.

    Documented: kubeshop/testkube-docs docs/articles/istio.md; istio/istio#6324.
    """
    shape = next(s for s in product_recipe.workloads if s.path.name == "execution-job.yaml")
    for obj in product_recipe.render_workload(shape, mode.name):
        kube.apply(obj, mesh_ns)

    def judge(job):
        conditions = {c["type"]: c for c in (job or {}).get("status", {}).get("conditions", [])}
        if conditions.get("Complete", {}).get("status") == "True":
            return Done(True, "Complete")
        if conditions.get("Failed", {}).get("status") == "True":
            return Failed(f"Job Failed: {conditions['Failed'].get('message', '')}")
        for pod in kube.list("v1", "Pod", mesh_ns, label_selector="job-name=tk-execution"):
            failure = pod_failure(pod)
            if failure:
                return Failed(failure)
        return Pending(f"active={(job or {}).get('status', {}).get('active')}")

    complete = kube.watch_until("Testkube execution Job completes", "batch/v1", "Job",
                                "tk-execution", mesh_ns, judge, timeouts.job_complete)
    claim.conclude(bool(complete), f"Job tk-execution complete={complete}")
