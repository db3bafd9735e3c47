"""An example meshconform product recipe ("example-batch"), shipped as its own package.

meshconform finds it through the entry point ``example-batch`` in the group
``meshconform.products`` (pyproject.toml) and calls :func:`recipe`. The recipe brings:

- ``example-batch/product.yaml``: how the product installs in each mode, its workloads and Istio
  resources, its claims (the same format as meshconform's fixtures/products/<name>/);
- ``example-batch/claims.yaml``: the claims about the product, merged into meshconform's catalog
  and checked like it (sources, and an expectation for every mesh mode);
- static checks: one evaluator per claim, run by ``meshconform static --product
  example-batch`` on what the real istioctl produces.
"""

from __future__ import annotations

from pathlib import Path

from meshconform.claims import Outcome
from meshconform.products import RecipeSource
from meshconform.products.checks import ProductFacts, analyze_clean
from meshconform.static import evaluate
from meshconform.static.evaluate import Evaluation

HERE = Path(__file__).parent / "example-batch"


def batch_job_uninjected(facts: ProductFacts) -> Evaluation:
    """The product's batch Job, with the values the mode prescribes, gets no istio-proxy
    where the product's guide opts it out (classic sidecars), or can complete anyway."""
    (job,) = facts.admitted(facts.shape("batch-job.yaml"))
    result = evaluate.job_completes(job)
    layout = evaluate.proxy_layout(job)
    ok = result.outcome is Outcome.HOLDS
    return Evaluation(
        Outcome.HOLDS if ok else Outcome.BROKEN,
        f"istio-proxy layout {layout}\n{result.evidence}",
    )


def recipe() -> RecipeSource:
    return RecipeSource(
        name="example-batch",
        directory=HERE,
        static_checks={
            "example-batch-job-completes": batch_job_uninjected,
            "example-batch-resources-valid": analyze_clean,
        },
        claims_file=HERE / "claims.yaml",
    )
