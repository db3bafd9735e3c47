"""The pod status the process kubelet writes: from its containers' states, as a kubelet does.

Pure functions over API-shaped objects: the conditions (Initialized, ContainersReady,
Ready with the kubelet's reasons), the phase (``restarts.pod_phase``), the container
statuses. ``kubelet.py`` keeps the states and writes what these return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from meshconform.live.controlplane.pods import restarts, spec


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerState:
    name: str
    image: str
    state: dict[str, Any]
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    #: ``lastState``: the previous run's ``terminated`` once the container has restarted
    last_state: dict[str, Any] = field(default_factory=dict)

    def status(self) -> dict[str, Any]:
        return restarts.container_status(
            self.name, self.image, self.state, ready=self.ready, started=self.started,
            restart_count=self.restart_count, last_state=self.last_state,
        )  # fmt: skip


def waiting(reason: str, message: str) -> dict[str, Any]:
    return {"waiting": {"reason": reason, "message": message}}


def running() -> dict[str, Any]:
    return {"running": {"startedAt": now()}}


def terminated_now(code: int, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "terminated": {
            "exitCode": code,
            "reason": reason,
            "message": message[-400:],
            "startedAt": now(),
            "finishedAt": now(),
        }
    }


def policy(obj: dict[str, Any]) -> str:
    """The pod's restartPolicy (the API's default: Always)."""
    return str((obj.get("spec") or {}).get("restartPolicy") or restarts.ALWAYS)


def pod_status(
    obj: dict[str, Any], states: Mapping[str, ContainerState], pod_ip: str, host_ip: str
) -> dict[str, Any]:
    """The status a kubelet writes for ``obj`` whose containers are in ``states``."""
    spec_ = obj.get("spec") or {}
    inits = [c["name"] for c in spec_.get("initContainers") or []]
    apps = [c["name"] for c in spec_.get("containers") or []]
    init_states = [states[n] for n in inits if n in states]
    app_states = [states[n] for n in apps if n in states]
    initialized = all(
        ("terminated" in s.state and s.state["terminated"]["exitCode"] == 0)
        or (spec.is_native_sidecar(obj, s.name) and s.started)
        for s in init_states
    )
    phase = phase_of(obj, states) if initialized else "Pending"
    unready = [s.name for s in app_states if not s.status()["ready"]] + [
        s.name for s in init_states
        if spec.is_native_sidecar(obj, s.name) and not s.status()["ready"]
    ]  # fmt: skip
    ready = initialized and not unready and not restarts.terminal(phase)
    stamp = now()

    def condition(kind: str, value: bool) -> dict[str, Any]:
        found = {"type": kind, "status": "True" if value else "False",
                 "lastTransitionTime": stamp}  # fmt: skip
        if not value and kind in {"Ready", "ContainersReady"} and restarts.terminal(phase):
            found["reason"] = "PodCompleted"
        elif not value and kind in {"Ready", "ContainersReady"}:
            found["reason"] = "ContainersNotReady"
            found["message"] = f"containers with unready status: [{' '.join(unready)}]"
        return found

    return {
        "status": {
            "phase": phase,
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": stamp,
            "conditions": [
                condition("PodScheduled", True),
                condition("Initialized", initialized),
                condition("ContainersReady", ready),
                condition("Ready", ready),
            ],
            "initContainerStatuses": [s.status() for s in init_states],
            "containerStatuses": [s.status() for s in app_states],
        }
    }


def phase_of(obj: dict[str, Any], states: Mapping[str, ContainerState]) -> str:
    """The kubelet's phase from the regular containers' statuses (``restarts.pod_phase``)."""
    names = [c["name"] for c in (obj.get("spec") or {}).get("containers") or []]
    statuses = [states[n].status() for n in names if n in states]
    return restarts.pod_phase(policy(obj), statuses, len(names))
