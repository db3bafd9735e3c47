"""Pure decisions over Kubernetes objects: what a live check saw, named and explained.

Every function here takes objects shaped exactly like the API's JSON (camelCase
dicts, as ``Kube.get``/``Kube.list`` return them) and returns a named outcome
with an explanation; none touches a cluster. :mod:`meshconform.wait` wraps
these decisions into watch conditions for the checks in ``suites/``.

- :mod:`.pods`: container states, the injection shape (classic, native, absent)
  and start-up ordering of proxy and app;
- :mod:`.jobs`: a Job's outcome, including the documented classic-sidecar hang.

Traffic verdicts (curl exit codes, DNS answers) live in :mod:`meshconform.traffic`.
"""

from meshconform.observe.jobs import JobObservation, JobOutcome, job_outcome
from meshconform.observe.pods import InjectionShape, ProxyShape, injection_shape, start_order

__all__ = [
    "InjectionShape",
    "JobObservation",
    "JobOutcome",
    "ProxyShape",
    "injection_shape",
    "job_outcome",
    "start_order",
]
