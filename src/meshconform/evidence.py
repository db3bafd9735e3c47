"""Where a live check's verdict comes from, and which clusters can give it.

A live check declares what its verdict rests on with ``@pytest.mark.evidence(...)``;
without the marker it needs the whole data plane. The plugin skips centrally where the
cluster cannot give that evidence (STYLE.md rule 3): the ``controlplane`` cluster runs
a real API server, controllers and istiod, but no kubelet, no containers and no
traffic between pods (kwok writes pod and node status by rule, never evidence).
"""

from __future__ import annotations

import enum


class Evidence(enum.StrEnum):
    """A component whose behaviour a check observes."""

    API_SERVER = "api-server"  # admission (incl. webhooks), storage, validation
    ISTIOD = "istiod"  # injection, validation webhook, generated config
    CONTROLLERS = "controllers"  # Job, ReplicaSet, EndpointSlice controllers
    KUBELET = "kubelet"  # pod lifecycle: container start order, exits, Job completion
    TRAFFIC = "traffic"  # requests through real proxies in pods
    #: the ingress gateway (istiod's config served by a real Envoy) probed from this machine
    GATEWAY = "gateway"
    #: requests between pods whose sidecars are real pilot-agent + Envoy with Istio's
    #: iptables rules in the pod's network namespace (on controlplane: process pods, see
    #: docs/controlplane.md; on kind and user clusters: the pods themselves)
    PROCESS_PODS = "process-pods"


#: a live check without an ``evidence`` marker needs all of it
FULL_DATA_PLANE = frozenset(Evidence)


class ClusterKind(enum.StrEnum):
    KIND = "kind"
    KUBECONFIG = "kubeconfig"
    CONTROLPLANE = "controlplane"


PROVIDES: dict[ClusterKind, frozenset[Evidence]] = {
    ClusterKind.KIND: FULL_DATA_PLANE,
    ClusterKind.KUBECONFIG: FULL_DATA_PLANE,
    ClusterKind.CONTROLPLANE: frozenset(
        {
            Evidence.API_SERVER,
            Evidence.ISTIOD,
            Evidence.CONTROLLERS,
            Evidence.GATEWAY,
            Evidence.PROCESS_PODS,
        }
    ),
}

NO_DATA_PLANE = "needs a data plane (kubelet, containers): run on kind or with --kubeconfig"


AMBIENT_NO_PROCESS_PODS = (
    "ambient needs ztunnel, which no registry ships as a binary: process pods run the "
    "sidecar modes only; run on kind"
)


def missing_evidence(
    cluster: ClusterKind, needs: frozenset[Evidence], mode: str | None = None
) -> str | None:
    """Why ``cluster`` cannot decide a check that needs ``needs`` in ``mode``, or None."""
    if cluster is ClusterKind.CONTROLPLANE and Evidence.PROCESS_PODS in needs:
        if mode == "ambient":
            return AMBIENT_NO_PROCESS_PODS
        from meshconform.live.controlplane.pods import unsupported  # noqa: PLC0415

        reason = unsupported()
        if reason is not None:
            return reason
    lacking = sorted(needs - PROVIDES[cluster])
    if not lacking:
        return None
    if {Evidence.KUBELET, Evidence.TRAFFIC} & set(lacking):
        return f"{NO_DATA_PLANE} (the {cluster} cluster has no {', '.join(lacking)})"
    return f"the {cluster} cluster cannot observe {', '.join(lacking)}"
