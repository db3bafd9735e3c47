"""A scripted cluster for the wiring of ``observe.waits`` (a pure-function test double).

``world(t)`` says what the API would answer ``t`` seconds after the app exited: the Job
and the pods. ``watch_until`` evaluates the condition now and at every scripted event
time before its deadline, advancing the shared clock; with no further event it lets its
whole timeout pass (a hung pod produces no events) and raises ``WaitTimeout``. It never
stands in for Istio or Kubernetes behaviour: every object is what a test wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from meshconform.wait.waiters import Done, Failed, WaitFailed, WaitTimeout

Obj = dict[str, Any]
World = Callable[[float], tuple[Obj | None, list[Obj]]]
FINISHED = datetime(2026, 3, 1, 10, 0, 1, tzinfo=UTC)


class ScriptedKube:
    def __init__(self, world: World, events: Sequence[float] = (), start: float = 1.0) -> None:
        self.world = world
        self.events = sorted(events)
        self.t = start
        self.waits: list[tuple[str, float]] = []

    def clock(self) -> datetime:
        return FINISHED + timedelta(seconds=self.t)

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> Obj | None:
        job, pods = self.world(self.t)
        if kind == "Job":
            return job
        return next((p for p in pods if p["metadata"]["name"] == name), None)

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | None = None) -> list[Obj]:
        return self.world(self.t)[1] if kind == "Pod" else []

    def watch_until(self, what: str, api_version: str, kind: str, name: str,
                    namespace: str | None, condition: Callable[[Any], Any],
                    timeout: float) -> Any:
        self.waits.append((what, timeout))
        deadline = self.t + timeout
        times = [self.t] + [e for e in self.events if self.t < e <= deadline]
        for t in times:
            self.t = t
            decision = condition(self.get(api_version, kind, name, namespace))
            if isinstance(decision, Done):
                return decision.value
            if isinstance(decision, Failed):
                raise WaitFailed(f"{what}: {decision.state}")
        self.t = deadline
        raise WaitTimeout(f"{what}: not reached within {timeout:.0f}s")
