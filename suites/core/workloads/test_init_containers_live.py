"""Networking from application init containers, live.

An init container curls a service as its first and only action; its exit code is
curl's and its log has the HTTP status (fixtures/workloads/init-network*.yaml).
meshconform.traffic.curl reads both from the pod's termination state and log.
Facts: shared/research/istio-behaviours.md 3.3.
"""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.evidence import Evidence
from meshconform.modes import Capability, Mode
from meshconform.observe.pods import ProxyShape, injection_shape
from meshconform.static.evaluate import init_container_order as init_order
from meshconform.static.inject import PodShape
from meshconform.traffic.curl import INIT_FAILURE_MEANING, InitProbeResult
from meshconform.traffic.expect import Expect
from meshconform.wait import Timeouts
from meshconform.wait.workloads import get_init_probe

pytestmark = [pytest.mark.live, pytest.mark.workloads]

#: the init container's request reached the server (2xx)
REACHED = Expect.ok()


def _probe(apply: Any, kube: Any, namespace: str, manifest: str, pod: str,
           timeouts: Timeouts, claim: ClaimCheck, **variables: str) -> InitProbeResult:
    applied = apply(manifest, namespace, **variables)
    shape = injection_shape(next(o for o in applied if o["kind"] == "Pod"))
    claim.note(f"{pod}: {shape.describe()}")
    result = get_init_probe(kube, namespace, pod, timeouts)
    claim.note(f"{pod}: {result.explanation}")
    return result


@pytest.mark.claim("init-container-network", manifests=["workloads/init-network.yaml"])
def test_init_container_network(mesh_ns: str, apply: Any, kube: Any, strict_echo: Any,
                                timeouts: Timeouts, claim: ClaimCheck, mode: Mode) -> None:
    """An application init container's request to a mesh service under STRICT mTLS MUST
    succeed.

    Documented: Testkube "Using Istio"; istio.io CNI "Compatibility with application init
    containers"; kubeflow/manifests common/istio troubleshooting. sidecar: plaintext, reset
    by STRICT (curl 56); cni: refused (curl 7), or DNS failing with DNS capture on.
    """
    result = _probe(apply, kube, mesh_ns, "workloads/init-network.yaml", "mc-init-net",
                    timeouts, claim, TARGET_URL=strict_echo.url("/get"))
    pod = kube.get("v1", "Pod", "mc-init-net", mesh_ns) or {}
    if mode.has(Capability.SIDECAR) and injection_shape(pod).shape is ProxyShape.ABSENT:
        raise claim.unexpected("the pod has no istio-proxy: the namespace is not injected")
    if REACHED.met(result.curl):
        claim.conclude(True)
    elif result.kind in INIT_FAILURE_MEANING:
        claim.conclude(False, INIT_FAILURE_MEANING[result.kind])
    else:
        raise claim.unexpected(f"the init container's request ended {result.kind.value}, "
                               "neither success nor a documented failure")


@pytest.mark.claim("init-container-bypass-workaround", manifests=[
    "workloads/init-network-uid1337.yaml",
    "workloads/init-network-exclude.yaml",
])
@pytest.mark.requires(Capability.CNI)
def test_init_container_bypass_workaround(mesh_ns: str, apply: Any, kube: Any,
                                          outside: Any, timeouts: Timeouts,
                                          claim: ClaimCheck) -> None:
    """An init container as UID 1337, or with its target excluded, MUST reach a plaintext server.

    The catalog's wording: running as UID 1337, or with the destination excluded by
    traffic.sidecar.istio.io/excludeOutboundIPRanges.

    Documented: istio.io CNI "Compatibility with application init containers";
    kubeflow/manifests common/istio README (runAsUser 1337, excludeOutboundIPRanges).
    The target is a plaintext echo outside the mesh, addressed by its ClusterIP so the
    request needs no DNS (DNS capture is a separate matter, see the CNI doc).
    """
    url = f"http://{outside.echo_cluster_ip}/get"
    results = [
        _probe(apply, kube, mesh_ns, "workloads/init-network-uid1337.yaml",
               "mc-init-net-uid1337", timeouts, claim, TARGET_URL=url),
        _probe(apply, kube, mesh_ns, "workloads/init-network-exclude.yaml",
               "mc-init-net-exclude", timeouts, claim, TARGET_URL=url,
               EXCLUDE_CIDR=f"{outside.echo_cluster_ip}/32"),
    ]
    failed = [r for r in results if not REACHED.met(r.curl)]
    odd = [r for r in failed if r.kind not in INIT_FAILURE_MEANING]
    if odd:
        raise claim.unexpected("a workaround pod ended neither reached nor with a documented "
                               f"failure: {[r.kind.value for r in odd]}")
    claim.conclude(not failed)


@pytest.mark.claim("init-container-network", manifests=["workloads/init-network.yaml"])
@pytest.mark.requires(Capability.SIDECAR)
@pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD)
def test_init_container_injected_order(mesh_ns: str, apply: Any, claim: ClaimCheck) -> None:
    """An application init container MUST come after a running proxy in the injected pod,
    or its traffic cannot be in the mesh.

    Documented: istio.io CNI "Compatibility with application init containers"; Testkube
    "Using Istio"; webhook.go reorderPod. The injected half of the claim: where istiod
    puts istio-proxy relative to the app's init container (a native sidecar before it; a
    classic one after every init container). What the request then does is
    test_init_container_network.
    """
    admitted = apply("workloads/init-network.yaml", mesh_ns, TARGET_URL="http://mc-unused.invalid/")
    pod = next(o for o in admitted if o["kind"] == "Pod")
    shape = PodShape.from_pod(pod, "admitted by the API server")
    if not shape.injected:
        raise claim.unexpected("the pod was not injected: the namespace is not enrolled")
    verdict = init_order(shape)
    claim.conclude(verdict.outcome, verdict.evidence)


def _hostname_probe(apply: Any, kube: Any, namespace: str, manifest: str, pod: str,
                    outside: Any, timeouts: Timeouts, claim: ClaimCheck) -> None:
    """Run one init-container probe against the plaintext echo BY HOSTNAME and conclude."""
    url = f"http://echo.{outside.namespace}.svc.cluster.local/get"
    result = _probe(apply, kube, namespace, manifest, pod, timeouts, claim, TARGET_URL=url)
    if REACHED.met(result.curl):
        claim.conclude(True)
    elif result.kind in INIT_FAILURE_MEANING:
        claim.conclude(False, INIT_FAILURE_MEANING[result.kind])
    else:
        raise claim.unexpected(f"the init container's request ended {result.kind.value}, "
                               "neither success nor a documented failure")


@pytest.mark.claim("init-container-bypass-hostname-uid1337", manifests=[
    "workloads/init-network-host-uid1337.yaml",
])
@pytest.mark.requires(Capability.CNI)
def test_init_container_hostname_uid1337(mesh_ns: str, apply: Any, kube: Any, outside: Any,
                                         timeouts: Timeouts, claim: ClaimCheck) -> None:
    """With DNS capture, an app init container as UID 1337 MUST reach a plaintext server by
    hostname.

    Documented: istio.io CNI "Compatibility with application init containers" (istio.io#15117);
    kubeflow/manifests common/istio README. The suite's meshes capture DNS
    (ISTIO_META_DNS_CAPTURE), so the lookup itself is what the workaround must get past.
    """
    _hostname_probe(apply, kube, mesh_ns, "workloads/init-network-host-uid1337.yaml",
                    "mc-init-host-uid1337", outside, timeouts, claim)


@pytest.mark.claim("init-container-bypass-hostname-exclude-ranges", manifests=[
    "workloads/init-network-host-exclude.yaml",
])
@pytest.mark.requires(Capability.CNI)
def test_init_container_hostname_exclude_ranges(mesh_ns: str, apply: Any, kube: Any,
                                                outside: Any, timeouts: Timeouts,
                                                claim: ClaimCheck) -> None:
    """With DNS capture, Kubeflow's excludeOutboundIPRanges "0.0.0.0/0" MUST let an app init
    container reach a plaintext server by hostname (documented broken in cni).

    Documented: kubeflow/manifests common/istio README (the annotation, for KServe); istio.io
    CNI doc (with DNS proxying and a hostname only runAsUser 1337 works). In cni the
    documented failure is asserted: the lookup goes to the agent's 15053 before any proxy
    runs (curl exit 6 or a lookup timeout).
    """
    _hostname_probe(apply, kube, mesh_ns, "workloads/init-network-host-exclude.yaml",
                    "mc-init-host-exclude", outside, timeouts, claim)
