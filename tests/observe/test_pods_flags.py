"""observe.pods: the flags of every proxy shape, a native proxy's conformance and start
order, and which containers count for "cannot start" (mutation survivors, issue 10)."""

from __future__ import annotations

from typing import Any

from meshconform.observe.pods import (
    ProxyShape,
    injection_shape,
    native_sidecar_conforms,
    start_order,
    waiting_failure,
)
from tests.observe import podjson as pj


def test_every_flag_is_read_for_native_and_classic_proxies() -> None:
    native_held = {**pj.NATIVE_PROXY, "lifecycle": pj.HOLD_PROXY["lifecycle"]}
    native = injection_shape(pj.pod(containers=[pj.APP], init=[native_held]))
    assert (native.shape, native.hold_hook, native.startup_probe) == (ProxyShape.NATIVE,
                                                                      True, True)
    probed = {**pj.HOLD_PROXY, "startupProbe": pj.NATIVE_PROXY["startupProbe"]}
    classic = injection_shape(pj.pod(containers=[probed, pj.APP]))
    assert (classic.shape, classic.startup_probe, classic.hold_hook,
            classic.status_annotation) == (ProxyShape.CLASSIC, True, True, True)


def test_a_native_proxy_without_startup_probe_does_not_conform() -> None:
    bare = {k: v for k, v in pj.NATIVE_PROXY.items() if k != "startupProbe"}
    ok, why = native_sidecar_conforms(injection_shape(pj.pod(containers=[pj.APP], init=[bare])))
    assert not ok
    assert why.startswith("istio-proxy has no startupProbe (istio-proxy native;")


def _started(name: str, at: str) -> dict[str, Any]:
    return pj.running(started=at, name=name)


def test_a_native_start_order_names_its_gate_and_a_bad_one_is_false() -> None:
    pod = pj.pod(containers=[pj.APP], init=[pj.NATIVE_PROXY],
                 init_statuses=[_started("istio-proxy", "2026-03-01T10:00:01Z")],
                 statuses=[_started("app", "2026-03-01T10:00:02Z")])
    order = start_order(pod)
    assert order.proxy_first is True
    assert order.explanation == ("istio-proxy started 10:00:01, app started 10:00:02, gated "
                                 "by the native sidecar's startupProbe")
    absent = start_order(pj.pod(containers=[pj.APP], statuses=[_started("app", pj.T0)]))
    assert absent.proxy_first is False


def test_an_ephemeral_container_that_cannot_start_is_named() -> None:
    pod = pj.pod(containers=[pj.APP], statuses=[pj.running()])
    pod["status"]["ephemeralContainerStatuses"] = [
        {"name": "debugger", "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                   "message": "back-off 20s"}}}]
    assert waiting_failure(pod) == "container debugger: CrashLoopBackOff: back-off 20s"
