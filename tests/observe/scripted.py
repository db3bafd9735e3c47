"""A scripted cluster for the wiring of ``meshconform.wait.workloads`` (a test double).

``world(t)`` says what the API would answer ``t`` seconds after the app exited: the Job
and the pods. ``observe`` streams the object now and at every scripted event time before
its deadline, advancing the shared clock; with no further event it lets its whole
timeout pass (a hung pod produces no events). ``watch_until`` is the real wait loop
(:func:`meshconform.wait.until`) over that stream, as in ``Kube``. It never
stands in for Istio or Kubernetes behaviour: every object is what a test wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from meshconform.wait import until

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

    def observe(self, api_version: str, kind: str, name: str, namespace: str | None,
                timeout: float) -> Iterator[Obj | None]:
        """The object now and at every scripted event time before the deadline; then the
        rest of the timeout passes with no event (a hung pod produces none)."""
        deadline = self.t + timeout
        for t in [self.t] + [e for e in self.events if self.t < e <= deadline]:
            self.t = t
            yield self.get(api_version, kind, name, namespace)
        self.t = deadline

    def watch_until(self, what: str, api_version: str, kind: str, name: str,
                    namespace: str | None, condition: Callable[[Any], Any],
                    timeout: float) -> Any:
        """What ``Kube.watch_until`` is: the real wait loop over this stream."""
        self.waits.append((what, timeout))
        return until(what, self.observe(api_version, kind, name, namespace, timeout),
                     condition, timeout, clock=lambda: self.t)
