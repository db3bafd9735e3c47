"""observe.pods field by field: container states, injection shapes and start order, with
the words a report shows. Written against the mutation run (docs/mutation.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from meshconform.observe.pods import (
    ContainerState,
    ProxyShape,
    container_state,
    describe_states,
    injection_shape,
    native_sidecar_conforms,
    parse_time,
    start_order,
)
from tests.observe import podjson as pj


def test_parse_time() -> None:
    assert parse_time("2026-03-01T10:00:00Z") == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert parse_time("") is None
    assert parse_time(None) is None
    assert parse_time(5) is None


def test_container_state_words() -> None:
    assert ContainerState("app", False, "running").describe() == "app=running"
    assert ContainerState("app", False, "terminated", reason="Error", exit_code=1,
                          restart_count=2).describe() == "app=terminated:Error(exit 1) restarts=2"
    assert ContainerState("app", False, "terminated", exit_code=0).describe() == \
        "app=terminated(exit 0)"


def test_every_field_of_a_status_is_read() -> None:
    status = {"name": "istio-proxy", "ready": True, "restartCount": 3, "started": True,
              "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                       "startedAt": "2026-03-01T10:00:00Z",
                                       "finishedAt": "2026-03-01T10:00:02Z"}}}
    pod = pj.pod(containers=[pj.APP], init=[pj.NATIVE_PROXY], init_statuses=[status],
                 statuses=[{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}},
                           {"state": {}}])
    proxy = container_state(pod, "istio-proxy")
    assert proxy == ContainerState(
        name="istio-proxy", init=True, state="terminated", reason="Completed", exit_code=0,
        started_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        finished_at=datetime(2026, 3, 1, 10, 0, 2, tzinfo=UTC), started=True, ready=True,
        restart_count=3)
    app = container_state(pod, "app")
    assert app == ContainerState(name="app", init=False, state="waiting",
                                 reason="PodInitializing", started=None, ready=False)
    assert container_state(pod, "nope") is None
    assert describe_states(pod) == (
        "pod mc-ns/mc-job-abcde phase Running [istio-proxy=terminated:Completed(exit 0) "
        "restarts=3, app=waiting:PodInitializing, ?=unknown]")
    bare = pj.pod(containers=[pj.APP], statuses=[{"name": "app", "state": {"waiting": {}}}])
    assert container_state(bare, "app") == ContainerState("app", False, "waiting")
    assert describe_states(pj.pod(containers=[pj.APP])) == (
        "pod mc-ns/mc-job-abcde phase Running [no container status yet]")


def test_injection_shapes_in_full() -> None:
    native = injection_shape(pj.pod(containers=[pj.APP], init=[pj.ISTIO_INIT, pj.NATIVE_PROXY]))
    assert (native.shape, native.init_containers, native.containers, native.startup_probe,
            native.hold_hook, native.status_annotation) == (
        ProxyShape.NATIVE, ("istio-init", "istio-proxy"), ("app",), True, False, True)
    assert native.describe() == (
        "istio-proxy native; initContainers=['istio-init', 'istio-proxy'] containers=['app']; "
        "startupProbe, sidecar.istio.io/status")
    held = injection_shape(pj.pod(containers=[pj.HOLD_PROXY, pj.APP], injected=False))
    assert (held.shape, held.startup_probe, held.hold_hook, held.status_annotation) == (
        ProxyShape.CLASSIC, False, True, False)
    assert held.describe().endswith("; postStart pilot-agent wait")
    absent = injection_shape(pj.pod(containers=[pj.APP], init=[pj.APP_INIT], injected=False))
    assert (absent.shape, absent.init_containers, absent.containers,
            absent.status_annotation) == (ProxyShape.ABSENT, ("app-init",), ("app",), False)
    assert absent.describe() == "istio-proxy absent; initContainers=['app-init'] containers=['app']"
    annotated = injection_shape(pj.pod(containers=[pj.APP]))  # status annotation, no proxy
    assert (annotated.shape, annotated.status_annotation) == (ProxyShape.ABSENT, True)
    native_bare = injection_shape(pj.pod(containers=[pj.APP], init=[pj.NATIVE_PROXY],
                                         injected=False))
    assert native_bare.status_annotation is False
    only_wait = {**pj.PROXY_CONTAINER, "lifecycle": {"postStart": {"exec": {
        "command": ["sleep", "wait"]}}}}
    assert not injection_shape(pj.pod(containers=[only_wait])).hold_hook
    init_plain = {**pj.PROXY_CONTAINER}
    shape = injection_shape(pj.pod(containers=[pj.APP], init=[init_plain]))
    assert (shape.shape, shape.startup_probe) == (ProxyShape.INIT_NOT_RESTARTABLE, False)


def test_native_conformance_words() -> None:
    ok, why = native_sidecar_conforms(injection_shape(pj.pod(containers=[pj.APP],
                                                             init=[pj.NATIVE_PROXY])))
    assert ok
    assert why.startswith("native sidecar as documented (istio-proxy native;")
    ok, why = native_sidecar_conforms(injection_shape(pj.pod(containers=[pj.APP])))
    assert not ok
    assert why.startswith("istio-proxy is absent, not a native sidecar (")


def _started(name: str, at: str, **kw: object) -> dict[str, object]:
    return pj.running(started=at, name=name, **kw)  # type: ignore[arg-type]


def test_start_order_problems_are_named() -> None:
    late_proxy = pj.pod(containers=[pj.HOLD_PROXY, pj.APP],
                        statuses=[_started("istio-proxy", "2026-03-01T10:00:05Z"),
                                  _started("app", "2026-03-01T10:00:04Z")])
    order = start_order(late_proxy)
    assert not order.proxy_first
    assert order.explanation == "app started at 10:00:04, before istio-proxy (10:00:05)"
    assert order.shape.shape is ProxyShape.CLASSIC
    assert order.proxy is not None
    assert order.app is not None
    same_second = pj.pod(containers=[pj.HOLD_PROXY, pj.APP],
                         statuses=[_started("istio-proxy", "2026-03-01T10:00:05Z"),
                                   _started("app", "2026-03-01T10:00:05Z")])
    order = start_order(same_second)
    assert order.proxy_first
    assert order.shape.shape is ProxyShape.CLASSIC
    assert order.proxy is not None
    assert order.proxy.name == "istio-proxy"
    assert order.app is not None
    assert order.app.name == "app"
    assert order.explanation == ("istio-proxy started 10:00:05, app started 10:00:05, gated "
                                 "by postStart 'pilot-agent wait' on the first container")
    no_times = pj.pod(containers=[pj.APP], statuses=[{"name": "app", "state": {}}])
    order = start_order(no_times)
    assert order.explanation == ("no proxy to wait for (istio-proxy absent); istio-proxy has "
                                 "no start time; container app has no start time")
    unstarted = pj.pod(containers=[pj.APP], init=[pj.NATIVE_PROXY],
                       init_statuses=[_started("istio-proxy", "2026-03-01T10:00:01Z",
                                               started_flag=False)],
                       statuses=[_started("app", "2026-03-01T10:00:02Z")])
    assert start_order(unstarted).explanation == "istio-proxy is not reported started"
    no_probe = pj.pod(containers=[pj.APP], init=[{**pj.NATIVE_PROXY, "startupProbe": None}],
                      init_statuses=[_started("istio-proxy", "2026-03-01T10:00:01Z")],
                      statuses=[_started("app", "2026-03-01T10:00:02Z")])
    del no_probe["spec"]["initContainers"][0]["startupProbe"]
    assert start_order(no_probe).explanation == (
        "the native istio-proxy has no startupProbe to gate the app")
    second = pj.pod(containers=[pj.APP, pj.PROXY_CONTAINER],
                    statuses=[_started("app", "2026-03-01T10:00:02Z"),
                              _started("istio-proxy", "2026-03-01T10:00:01Z")])
    assert start_order(second).explanation == (
        "istio-proxy is not the first container (['app', 'istio-proxy']); istio-proxy has no "
        "postStart 'pilot-agent wait' hook")
