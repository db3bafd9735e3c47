"""``Kube.watch_until``: the list-then-watch loop every live wait goes through.

The DynamicClient is replaced by a scripted one (lists and watch streams written here,
shaped like the API's JSON), so the loop itself is what is tested: fail fast on a
condition's Failed, re-list after 410 Gone, re-list when a watch round ends. Issue 10,
"Tests that cannot catch a broken wait": each test fails when that part is disabled.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from meshconform.live.kube import Kube
from meshconform.wait import WaitFailed, WaitTimeout, conditions

KUBECONFIG = """apiVersion: v1
kind: Config
current-context: c
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: t}}]
"""


def pod(state: dict[str, Any], ready: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "echo-1", "namespace": "mc-a", "resourceVersion": "1"},
        "status": {"phase": "Running" if ready else "Pending",
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                   "containerStatuses": [{"name": "echo", "ready": ready, "restartCount": 3,
                                          "state": state}]},
    }


PENDING = pod({"waiting": {"reason": "ContainerCreating"}})
CRASHING = pod({"waiting": {"reason": "CrashLoopBackOff",
                            "message": "back-off 40s restarting failed container"}})
READY = pod({"running": {"startedAt": "2026-03-01T10:00:00Z"}}, ready=True)


class Listing:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        return self.data


class ScriptedDynamic:
    """``get`` answers the scripted lists in turn (the last one repeats); ``watch`` from a
    resourceVersion yields that version's scripted events, raises 410 for a version the
    script calls expired, and otherwise ends the round after a short pause."""

    def __init__(self, lists: list[tuple[str, dict[str, Any]]],
                 events: dict[str, list[dict[str, Any]]] | None = None,
                 expired: frozenset[str] = frozenset()) -> None:
        self.lists = list(lists)
        self.events = events or {}
        self.expired = expired
        self.list_calls = 0
        self.watch_versions: list[str] = []
        self.resources = self
        self.resource_asked: list[dict[str, Any]] = []
        self.list_args: list[tuple[Any, dict[str, Any]]] = []
        self.watch_args: list[tuple[Any, dict[str, Any]]] = []
        self.resource = object()

    def get(self, *args: Any, **kwargs: Any) -> Any:
        if "api_version" in kwargs:  # resources.get(api_version=, kind=)
            self.resource_asked.append(kwargs)
            return self.resource
        self.list_calls += 1
        self.list_args.append((args, kwargs))
        version, obj = self.lists[0] if len(self.lists) == 1 else self.lists.pop(0)
        return Listing({"metadata": {"resourceVersion": version},
                        "items": [obj] if obj else []})

    def watch(self, resource: Any, *, resource_version: str, **kwargs: Any
              ) -> Iterator[dict[str, Any]]:
        self.watch_args.append(((resource,), kwargs))
        self.watch_versions.append(resource_version)
        if resource_version in self.expired:
            raise ApiException(status=410, reason="Gone: too old resource version")
        yield from self.events.get(resource_version, [])
        time.sleep(0.05)  # the round's timeout


@pytest.fixture
def kube(tmp_path: Path) -> Kube:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return Kube(path)


def _watch(kube: Kube, dyn: ScriptedDynamic, timeout: float = 3.0) -> Any:
    kube._dyn = dyn
    return kube.watch_until("pod mc-a/echo-1 Ready", "v1", "Pod", "echo-1", "mc-a",
                            conditions.pod_ready, timeout)


def test_a_watch_event_that_cannot_succeed_fails_at_once(kube: Kube) -> None:
    """Break 1: fail-fast disabled in Kube.watch_until -> a WaitTimeout after 3 s."""
    dyn = ScriptedDynamic([("10", PENDING)],
                          events={"10": [{"type": "MODIFIED", "raw_object": CRASHING}]})
    started = time.monotonic()
    with pytest.raises(WaitFailed, match="CrashLoopBackOff"):
        _watch(kube, dyn)
    assert time.monotonic() - started < 1.5


def test_a_listed_object_that_cannot_succeed_fails_at_once(kube: Kube) -> None:
    with pytest.raises(WaitFailed, match="container echo: CrashLoopBackOff"):
        _watch(kube, ScriptedDynamic([("10", CRASHING)]))


def test_410_gone_relists_and_watches_from_the_new_version(kube: Kube) -> None:
    """Break 2: no re-list after 410 -> the stale version is watched until the timeout."""
    dyn = ScriptedDynamic([("10", PENDING), ("20", PENDING)],
                          events={"20": [{"type": "MODIFIED", "raw_object": READY}]},
                          expired=frozenset({"10"}))
    found = _watch(kube, dyn)
    assert found["status"]["phase"] == "Running"
    assert dyn.watch_versions == ["10", "20"]
    assert dyn.list_calls == 2


def test_a_timeout_names_the_last_state(kube: Kube) -> None:
    with pytest.raises(WaitTimeout, match="last seen: pod mc-a/echo-1 phase Pending"):
        _watch(kube, ScriptedDynamic([("10", PENDING)]), timeout=0.3)


def test_bookmarks_and_deletion_are_judged_correctly(kube: Kube) -> None:
    dyn = ScriptedDynamic([("10", PENDING)], events={"10": [
        {"type": "BOOKMARK", "raw_object": {"metadata": {"resourceVersion": "11"}}},
        {"type": "DELETED", "raw_object": PENDING}]})
    kube._dyn = dyn
    assert kube.watch_until("gone", "v1", "Pod", "echo-1", "mc-a", conditions.gone, 3) is None


def test_the_api_is_asked_for_exactly_the_one_object(kube: Kube) -> None:
    dyn = ScriptedDynamic([("10", PENDING)],
                          events={"10": [{"type": "MODIFIED", "raw_object": READY}]})
    _watch(kube, dyn, timeout=30)
    assert dyn.resource_asked == [{"api_version": "v1", "kind": "Pod"}]
    assert dyn.list_args == [((dyn.resource,), {"namespace": "mc-a",
                                                 "field_selector": "metadata.name=echo-1"})]
    ((resource,), kwargs) = dyn.watch_args[0]
    assert resource is dyn.resource
    assert kwargs == {"namespace": "mc-a", "name": "echo-1", "timeout": 10}


def test_an_object_that_does_not_exist_yet_is_judged_as_none(kube: Kube) -> None:
    dyn = ScriptedDynamic([("10", {})])
    kube._dyn = dyn
    assert kube.watch_until("gone", "v1", "Pod", "echo-1", "mc-a", conditions.gone, 3) is None


def _stream(kube: Kube, dyn: ScriptedDynamic, timeout: float, count: int,
            clock: Any = time.monotonic) -> list[Any]:
    kube._dyn = dyn
    return list(itertools.islice(
        kube.observe("v1", "Pod", "echo-1", "mc-a", timeout, clock=clock), count))


def test_observe_streams_the_listing_then_each_event_then_lists_again(kube: Kube) -> None:
    """Bookmarks and watch errors are not observations; a deletion is None; when the
    watch round ends the object is listed again."""
    dyn = ScriptedDynamic([("10", PENDING)], events={"10": [
        {"type": "BOOKMARK", "raw_object": {"kind": "Pod", "metadata": {"resourceVersion": "11"}}},
        {"type": "ERROR", "raw_object": {"kind": "Status", "code": 500}},
        {"type": "MODIFIED", "raw_object": READY},
        {"type": "DELETED", "raw_object": READY},
        {"type": "ADDED", "raw_object": CRASHING}]})
    assert _stream(kube, dyn, 30, 5) == [PENDING, READY, None, CRASHING, PENDING]
    assert dyn.list_calls == 2


def test_observe_stops_at_its_deadline_without_watching(kube: Kube) -> None:
    now = iter([100.0, 100.0])  # the deadline is now: the listing is all there is
    dyn = ScriptedDynamic([("10", PENDING)])
    assert _stream(kube, dyn, 0, 3, clock=lambda: next(now)) == [PENDING]
    assert dyn.watch_versions == []


def test_a_watch_round_is_never_shorter_than_a_second_nor_longer_than_the_resync(
        kube: Kube) -> None:
    dyn = ScriptedDynamic([("10", PENDING)])
    assert _stream(kube, dyn, 1, 2, clock=lambda: 100.0) == [PENDING, PENDING]
    assert dyn.watch_args[0][1]["timeout"] == 1  # one second left: a one-second round
    times = iter([0.0, 0.7])
    dyn = ScriptedDynamic([("10", PENDING)])
    assert _stream(kube, dyn, 1, 2, clock=lambda: next(times)) == [PENDING, PENDING]
    assert dyn.watch_args[0][1]["timeout"] == 1  # 0.3 s left still watches for 1 s
    dyn = ScriptedDynamic([("10", PENDING)])
    _stream(kube, dyn, 300, 2, clock=lambda: 0.0)
    assert dyn.watch_args[0][1]["timeout"] == 10


def test_the_remaining_time_counts_down_from_the_deadline(kube: Kube) -> None:
    times = iter([0.0, 5.0, 28.5, 30.0])
    dyn = ScriptedDynamic([("10", PENDING)])
    assert _stream(kube, dyn, 30, 5, clock=lambda: next(times)) == [PENDING] * 3
    assert [kwargs["timeout"] for _, kwargs in dyn.watch_args] == [10, 1]


def test_an_api_error_other_than_410_ends_the_wait(kube: Kube) -> None:
    class Forbidden(ScriptedDynamic):
        def watch(self, resource: Any, *, resource_version: str, **kwargs: Any
                  ) -> Iterator[dict[str, Any]]:
            raise ApiException(status=403, reason="Forbidden")

    with pytest.raises(ApiException, match="Forbidden"):
        _stream(kube, Forbidden([("10", PENDING)]), 30, 3)


def test_a_failure_names_the_wait_and_the_pod(kube: Kube) -> None:
    with pytest.raises(WaitFailed) as caught:
        _watch(kube, ScriptedDynamic([("10", CRASHING)]))
    assert str(caught.value) == (
        "pod mc-a/echo-1 Ready: cannot succeed any more: pod mc-a/echo-1 container echo: "
        "CrashLoopBackOff: back-off 40s restarting failed container")
