"""Pure decisions over Kubernetes objects: what a live check saw, named and explained.

Every function here takes objects shaped exactly like the API's JSON (camelCase
dicts, as ``Kube.get``/``Kube.list`` return them) and returns a named outcome
with an explanation; none touches a cluster. :mod:`.waits` is the one module
that does: it wraps these decisions into ``Kube.watch_until`` conditions and
in-pod curl probes for the checks in ``suites/``.

- :mod:`.pods`: container states, the injection shape (classic, native, absent)
  and start-up ordering of proxy and app;
- :mod:`.jobs`: a Job's outcome, including the documented classic-sidecar hang;
- :mod:`.curl`: curl's exit code and ``%{http_code}`` as a traffic verdict, from an
  exec or from an init container's termination and log;
- :mod:`.dns`: resolved addresses and ServiceEntry auto-allocation.
"""

from meshconform.observe.curl import CurlKind, CurlResult, parse_curl
from meshconform.observe.jobs import JobObservation, JobOutcome, job_outcome
from meshconform.observe.pods import InjectionShape, ProxyShape, injection_shape, start_order

__all__ = [
    "CurlKind",
    "CurlResult",
    "InjectionShape",
    "JobObservation",
    "JobOutcome",
    "ProxyShape",
    "injection_shape",
    "job_outcome",
    "parse_curl",
    "start_order",
]
