"""Every wait bound of a run, in one documented object.

A field is named after the wait that uses it. Each is an upper bound: a healthy run
finishes far below it, and every wait fails fast when its target can no longer be
reached, so a generous bound costs nothing on success. ``--timeout-scale F`` multiplies
every time bound; ``--timeout NAME=SECONDS`` (repeatable) sets one field, applied after
the scale. The table with each default and its reason is docs/live-checks.md
("Timeouts"); a test keeps the two in step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

#: the one field that counts attempts, not seconds: never scaled, must be a whole number
COUNT_FIELDS = frozenset({"consecutive_successes"})


@dataclass(frozen=True)
class Timeouts:
    """Upper bounds in seconds (``consecutive_successes`` is a count).

    Defaults follow the anchors where they have one: Istio CI waits 180 s for kind,
    ``istioctl install`` 300 s for readiness, Gateway API 30 s for consistency with 3
    consecutive successes.
    """

    #: ``kind create cluster`` including the node image pull (Istio CI allows 180 s
    #: for kind alone; a cold image pull on a shared runner needs more)
    cluster_create: float = 300.0
    #: controlplane cluster: API server /readyz, fake nodes Ready, default ServiceAccount
    #: (/readyz comes about 7 s after start on 2 cores)
    controlplane_ready: float = 90.0
    #: controlplane cluster: the istiod process answers /ready (about 2 s measured)
    istiod_ready: float = 60.0
    #: ``istioctl install --readiness-timeout``, istioctl's own default
    istio_install: float = 300.0
    #: one Istio CRD reports Established (the API server serves it within seconds)
    crd_established: float = 60.0
    #: istiod's validation webhook denies an invalid VirtualService (istiod must be
    #: ready and its caBundle patched in)
    webhook_ready: float = 120.0
    #: istio-cni / ztunnel DaemonSets ready on every node (image pull on each node)
    daemonset_ready: float = 180.0
    #: istiod, the gateway and the suite's echo apps available
    deployment_ready: float = 180.0
    #: a product's whole install recipe (several charts, CRDs and their operators)
    product_install: float = 600.0
    #: a check's namespace gone after deletion (finalizers of the workloads in it)
    namespace_delete: float = 120.0
    #: a pod created by a controller, Ready, or its init container finished
    pod_ready: float = 120.0
    #: a Job's app container exits (image pull plus the app itself)
    job_complete: float = 120.0
    #: kubelet allowance of the Job hang window: after the app container exits, a
    #: sidecar may keep running max(the pod's terminationGracePeriodSeconds, the
    #: injected proxy drain) plus this long before the pod counts as hung (the
    #: documented classic-sidecar failure); see observe.jobs.linger_window
    proxy_linger: float = 10.0
    #: a traffic result has this long to appear and stay (configuration reaching the
    #: proxies), as Gateway API's conformance suite allows
    traffic_consistency: float = 30.0
    #: results in a row that count as settled (Gateway API and Istio's framework use 3)
    consecutive_successes: int = 3
    #: one command run in a container over the exec API
    exec_command: float = 30.0
    #: one HTTP request of a probe (curl ``--max-time``), far above a mesh round trip
    probe_request: float = 5.0

    def scaled(self, factor: float) -> Timeouts:
        """Every time bound multiplied by ``factor`` (slow machines, ``--timeout-scale``)."""
        changes = {
            f.name: getattr(self, f.name) * factor
            for f in fields(self)
            if f.name not in COUNT_FIELDS
        }
        return replace(self, **changes)

    def overridden(self, values: Mapping[str, float]) -> Timeouts:
        """These fields set to these values (``--timeout NAME=SECONDS``); checked like
        :func:`parse_overrides`."""
        for name, value in values.items():
            check_override(name, value)
        changes: dict[str, Any] = {
            n: int(v) if n in COUNT_FIELDS else float(v) for n, v in values.items()
        }
        return replace(self, **changes)


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Timeouts))


def check_override(name: str, value: float) -> None:
    """Raise ValueError naming the problem: an unknown field, a bound that is not a
    positive finite number, or a count that is not a whole number of at least 1."""
    if name not in field_names():
        raise ValueError(f"unknown timeout {name!r}; the fields are: {', '.join(field_names())}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"timeout {name} must be a positive number of seconds, got {value}")
    if name in COUNT_FIELDS and value != int(value):
        raise ValueError(f"{name} counts attempts: a whole number, got {value}")


def parse_overrides(items: Iterable[str]) -> dict[str, float]:
    """``NAME=SECONDS`` strings (``pod_ready=300``) as a mapping; the last one of a name
    wins. Raises ValueError with the offending text."""
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"expected NAME=SECONDS, got {item!r}")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name}: {text.strip()!r} is not a number of seconds") from None
        check_override(name, value)
        values[name] = value
    return values
