"""Start-up order, live: holdApplicationUntilProxyStarts (pod annotation).

The app's first action is one request through the mesh, with no retry
(fixtures/workloads/hold-app.yaml), to the shared echo under STRICT mTLS.
Facts: shared/research/istio-behaviours.md 3.2.
"""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.evidence import Evidence
from meshconform.modes import Capability
from meshconform.observe.pods import container_state, describe_states, start_order
from meshconform.static.evaluate import holds_app
from meshconform.static.inject import PodShape
from meshconform.traffic.curl import logged_curl
from meshconform.traffic.expect import Expect
from meshconform.wait import Decision, Done, Failed, Pending, Timeouts, wait_until

pytestmark = [pytest.mark.live, pytest.mark.workloads]


def _app_started(pod: dict[str, Any] | None) -> Decision[None]:
    if pod is None:
        return Pending("pod does not exist yet")
    app = container_state(pod, "app")
    if app is not None and (app.running or app.terminated):
        return Done(None, describe_states(pod))
    if (pod.get("status") or {}).get("phase") == "Failed":
        return Failed(describe_states(pod))
    return Pending(describe_states(pod))


@pytest.mark.claim("proxy-ready-before-app", manifests=["workloads/hold-app.yaml"])
@pytest.mark.requires(Capability.SIDECAR)
def test_proxy_ready_before_app(mesh_ns: str, apply: Any, kube: Any, strict_echo: Any,
                                timeouts: Timeouts, claim: ClaimCheck) -> None:
    """With holdApplicationUntilProxyStarts, the application container MUST start only after
    the proxy is ready, so its first outbound request succeeds.

    Documented: deployKF "bring your own Istio"; Testkube enterprise chart;
    istio/istio#11130; pilot/cmd/pilot-agent/app/wait.go.
    """
    apply("workloads/hold-app.yaml", mesh_ns, TARGET_URL=strict_echo.url("/get"))
    kube.watch_until(f"the app of {mesh_ns}/mc-hold to start", "v1", "Pod", "mc-hold",
                     mesh_ns, _app_started, timeout=timeouts.pod_ready)

    def first_request() -> Decision[Any]:
        found = logged_curl(kube.logs(mesh_ns, "mc-hold", container="app"),
                            target=f"app's first request to {strict_echo.url('/get')}")
        return Done(found) if found else Pending("the app has not logged its request yet")

    first = wait_until("the app's first request", first_request, timeout=timeouts.exec_command)
    pod = kube.get("v1", "Pod", "mc-hold", mesh_ns) or {}
    order = start_order(pod)
    app = container_state(pod, "app")
    claim.note(f"first request: {Expect.ok().judge(first)}; {first}")
    claim.note(f"start order: {order.explanation}")
    claim.note(describe_states(pod))
    restarted = app is not None and app.restart_count > 0
    claim.conclude(Expect.ok().met(first) and order.proxy_first and not restarted)


@pytest.mark.claim("proxy-ready-before-app", manifests=["workloads/hold-app.yaml"])
@pytest.mark.requires(Capability.SIDECAR)
@pytest.mark.evidence(Evidence.API_SERVER, Evidence.ISTIOD)
def test_hold_annotation_injected_shape(mesh_ns: str, apply: Any, claim: ClaimCheck) -> None:
    """With holdApplicationUntilProxyStarts, istiod MUST inject the proxy so that the app
    cannot start before it is ready: a classic istio-proxy first with a ``pilot-agent
    wait`` postStart hook, or a native istio-proxy with a startupProbe.

    Documented: deployKF "bring your own Istio"; injection-template.yaml; pilot-agent
    wait.go. This is the injected half of the claim (the admitted pod); the ordering a
    kubelet then enforces is test_proxy_ready_before_app.
    """
    admitted = apply("workloads/hold-app.yaml", mesh_ns, TARGET_URL="http://mc-unused.invalid/")
    ok, why = holds_app(PodShape.from_pod(admitted[0], "admitted by the API server"))
    claim.conclude(ok, why)
