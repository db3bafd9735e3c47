"""Container states, injection shape and start-up order, read from a Pod object.

Facts: shared/research/istio-behaviours.md section 2 ("What an injected pod looks
like") and 3.2. The injected container is always named ``istio-proxy``; Istio's own
init containers are ``istio-init`` (classic, NET_ADMIN) and ``istio-validation`` (CNI).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = Mapping[str, Any]

PROXY = "istio-proxy"
ISTIO_INIT_CONTAINERS = frozenset({"istio-init", "istio-validation", PROXY})


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as the API writes it (``2026-01-02T03:04:05Z``), or None."""
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def name_of(obj: Obj) -> str:
    m = meta(obj)
    ns = m.get("namespace")
    return f"{ns + '/' if ns else ''}{m.get('name', '?')}"


@dataclass(frozen=True)
class ContainerState:
    """One container's status in words: ``running``, ``terminated``, ``waiting`` or ``unknown``."""

    name: str
    init: bool
    state: str
    reason: str = ""
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    started: bool | None = None
    ready: bool = False
    restart_count: int = 0

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def terminated(self) -> bool:
        return self.state == "terminated"

    def describe(self) -> str:
        words = f"{self.name}={self.state}"
        if self.reason:
            words += f":{self.reason}"
        if self.exit_code is not None:
            words += f"(exit {self.exit_code})"
        if self.restart_count:
            words += f" restarts={self.restart_count}"
        return words


def _state_of(status: Obj, init: bool) -> ContainerState:
    state = status.get("state") or {}
    name = str(status.get("name", "?"))
    common: dict[str, Any] = {
        "name": name,
        "init": init,
        "started": status.get("started"),
        "ready": bool(status.get("ready")),
        "restart_count": int(status.get("restartCount") or 0),
    }
    if "terminated" in state:
        t = state["terminated"] or {}
        return ContainerState(
            state="terminated",
            reason=str(t.get("reason", "")),
            exit_code=t.get("exitCode"),
            started_at=parse_time(t.get("startedAt")),
            finished_at=parse_time(t.get("finishedAt")),
            **common,
        )
    if "running" in state:
        r = state["running"] or {}
        return ContainerState(state="running", started_at=parse_time(r.get("startedAt")), **common)
    if "waiting" in state:
        w = state["waiting"] or {}
        return ContainerState(state="waiting", reason=str(w.get("reason", "")), **common)
    return ContainerState(state="unknown", **common)


def container_state(pod: Obj, name: str) -> ContainerState | None:
    """The named container's state, looked up among init and regular containers."""
    status = pod.get("status") or {}
    for key, init in (("containerStatuses", False), ("initContainerStatuses", True)):
        for cs in status.get(key) or []:
            if cs.get("name") == name:
                return _state_of(cs, init)
    return None


def container_statuses(pod: Obj) -> list[Obj]:
    """Init, regular and ephemeral container statuses, in that order."""
    status = pod.get("status") or {}
    return [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
        *(status.get("ephemeralContainerStatuses") or []),
    ]


def describe_pod(pod: Obj) -> str:
    """The pod in one line, for waits, errors and evidence: its phase, every container's
    state (``name=state:reason(exit N) restarts=N``, ``(not ready)`` for a running
    container that is not ready) and why it is not scheduled, if it is not."""
    status = pod.get("status") or {}
    parts = []
    for key, init in _STATUS_KEYS:
        for cs in status.get(key) or []:
            state = _state_of(cs, init)
            words = state.describe()
            if state.running and not state.ready:
                words += "(not ready)"
            parts.append(words)
    scheduled = _conditions(pod).get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        parts.append(f"unscheduled: {scheduled.get('message') or scheduled.get('reason', '')}")
    return (
        f"pod {name_of(pod)} phase {status.get('phase', 'Unknown')} "
        f"[{', '.join(parts) or 'no container status yet'}]"
    )


#: the former name of :func:`describe_pod` (traffic/ and suites/ still use it)
describe_states = describe_pod

_STATUS_KEYS = (
    ("initContainerStatuses", True),
    ("containerStatuses", False),
    ("ephemeralContainerStatuses", False),
)


def _conditions(obj: Obj) -> dict[str, Obj]:
    status = obj.get("status") or {}
    return {c.get("type", ""): c for c in status.get("conditions") or []}


# ---------------------------------------------------------------- a pod that cannot start

#: container waiting reasons after which the pod will not become ready by itself
FATAL_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
#: a failed pull is retried by the kubelet with back-off (ErrImagePull, then
#: ImagePullBackOff, 10 s doubling up to 5 min): a registry hiccup or a rate limit heals
#: by itself. ErrImagePull is never permanent; ImagePullBackOff is once it persists.
PULL_RETRY_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff"})
#: seconds since the pod was scheduled after which ImagePullBackOff counts as permanent:
#: by then the kubelet has failed at least three pulls (at ~0, 10 and 30 s). A decision
#: threshold about the kubelet's back-off, not a wait bound, so not in ``Timeouts``.
PULL_BACKOFF_PERMANENT_AFTER = 60.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _pulling_since(pod: Obj) -> datetime | None:
    """When the kubelet could start pulling: PodScheduled's transition, else creation."""
    scheduled = _conditions(pod).get("PodScheduled") or {}
    return parse_time(scheduled.get("lastTransitionTime")) or parse_time(
        meta(pod).get("creationTimestamp")
    )


def waiting_failure(pod: Obj, now: datetime | None = None) -> str | None:
    """The first container that cannot start by itself (``container c: Reason: message``).

    Fatal at once: :data:`FATAL_WAITING_REASONS`. ``ErrImagePull`` never (the kubelet
    retries); ``ImagePullBackOff`` once the pod has been pulling for
    :data:`PULL_BACKOFF_PERMANENT_AFTER` seconds at ``now`` (a pod without any
    timestamp counts as persisting: nothing says it just started).
    """
    for cs in container_statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        detail = ""
        if reason == "ImagePullBackOff":
            since = _pulling_since(pod)
            if since is not None:
                pulling = ((now or _utcnow()) - since).total_seconds()
                if pulling < PULL_BACKOFF_PERMANENT_AFTER:
                    continue
                detail = f" (pulling for {pulling:.0f}s)"
        elif reason not in FATAL_WAITING_REASONS:
            continue
        message = waiting.get("message", "")
        last = (cs.get("lastState") or {}).get("terminated") or {}
        if last:
            detail += f" (last exit {last.get('exitCode')}: {last.get('reason', '')})"
        text = f"container {cs.get('name')}: {reason}: {message}"
        return text.rstrip(": ") + detail
    return None


def pod_failure(pod: Obj, now: datetime | None = None) -> str | None:
    """Why the pod cannot start (or run) by itself, naming the container; None while it
    still may. The one place this is decided: every wait on a pod asks here."""
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        why = f"{status.get('reason', '')} {status.get('message', '')}".strip()
        return f"pod {name_of(pod)} phase Failed: {why}".rstrip(": ")
    failure = waiting_failure(pod, now)
    return f"pod {name_of(pod)} {failure}" if failure is not None else None


class ProxyShape(enum.StrEnum):
    """Where the injector put istio-proxy."""

    CLASSIC = "classic"  # a regular container in spec.containers
    NATIVE = "native"  # an init container with restartPolicy Always (SidecarContainers)
    INIT_NOT_RESTARTABLE = "init-without-restartPolicy"  # the API server dropped restartPolicy
    ABSENT = "absent"  # no istio-proxy at all


@dataclass(frozen=True)
class InjectionShape:
    shape: ProxyShape
    init_containers: tuple[str, ...]
    containers: tuple[str, ...]
    startup_probe: bool = False
    hold_hook: bool = False  # postStart exec 'pilot-agent wait' (classic hold)
    status_annotation: bool = False  # sidecar.istio.io/status, written by the injector

    @property
    def proxy_before_user_inits(self) -> bool:
        """istio-proxy precedes every init container the app itself declared."""
        if PROXY not in self.init_containers:
            return False
        at = self.init_containers.index(PROXY)
        return all(
            i > at for i, n in enumerate(self.init_containers) if n not in ISTIO_INIT_CONTAINERS
        )

    def describe(self) -> str:
        extras = [
            w
            for w, on in (
                ("startupProbe", self.startup_probe),
                ("postStart pilot-agent wait", self.hold_hook),
                ("sidecar.istio.io/status", self.status_annotation),
            )
            if on
        ]
        return (
            f"istio-proxy {self.shape.value}; initContainers={list(self.init_containers)} "
            f"containers={list(self.containers)}" + (f"; {', '.join(extras)}" if extras else "")
        )


def _names(containers: Sequence[Obj]) -> tuple[str, ...]:
    return tuple(str(c.get("name", "?")) for c in containers)


def _hold_hook(container: Obj) -> bool:
    command = (((container.get("lifecycle") or {}).get("postStart") or {}).get("exec") or {}).get(
        "command"
    ) or []
    return "pilot-agent" in command and "wait" in command


def injection_shape(pod: Obj) -> InjectionShape:
    """Classify the pod spec: is istio-proxy a classic container, a native sidecar, or absent?"""
    spec = pod.get("spec") or {}
    inits: list[Obj] = list(spec.get("initContainers") or [])
    mains: list[Obj] = list(spec.get("containers") or [])
    annotated = "sidecar.istio.io/status" in (meta(pod).get("annotations") or {})
    init_proxy = next((c for c in inits if c.get("name") == PROXY), None)
    main_proxy = next((c for c in mains if c.get("name") == PROXY), None)
    if init_proxy is not None:
        shape = (
            ProxyShape.NATIVE
            if init_proxy.get("restartPolicy") == "Always"
            else ProxyShape.INIT_NOT_RESTARTABLE
        )
        return InjectionShape(
            shape,
            _names(inits),
            _names(mains),
            startup_probe="startupProbe" in init_proxy,
            hold_hook=_hold_hook(init_proxy),
            status_annotation=annotated,
        )
    if main_proxy is not None:
        return InjectionShape(
            ProxyShape.CLASSIC,
            _names(inits),
            _names(mains),
            startup_probe="startupProbe" in main_proxy,
            hold_hook=_hold_hook(main_proxy),
            status_annotation=annotated,
        )
    return InjectionShape(
        ProxyShape.ABSENT, _names(inits), _names(mains), status_annotation=annotated
    )


def native_sidecar_conforms(shape: InjectionShape) -> tuple[bool, str]:
    """``native-sidecar-injected-as-init``: init container, restartPolicy Always, startup
    probe, ahead of the app's own init containers."""
    problems = []
    if shape.shape is not ProxyShape.NATIVE:
        problems.append(f"istio-proxy is {shape.shape.value}, not a native sidecar")
    else:
        if not shape.startup_probe:
            problems.append("istio-proxy has no startupProbe")
        if not shape.proxy_before_user_inits:
            problems.append("istio-proxy does not precede the app's init containers")
    if problems:
        return False, f"{'; '.join(problems)} ({shape.describe()})"
    return True, f"native sidecar as documented ({shape.describe()})"


def classic_sidecar_conforms(shape: InjectionShape) -> tuple[bool, str]:
    """``classic-sidecar-forced``: istio-proxy is a regular container, not an init container."""
    if shape.shape is ProxyShape.CLASSIC:
        return True, f"classic sidecar as configured ({shape.describe()})"
    return False, (
        f"istio-proxy is {shape.shape.value}: the install did not force classic "
        f"sidecars ({shape.describe()})"
    )


@dataclass(frozen=True)
class StartOrder:
    """How the proxy and the app started: the evidence for ``proxy-ready-before-app``."""

    shape: InjectionShape
    proxy: ContainerState | None
    app: ContainerState | None
    proxy_first: bool
    explanation: str


def start_order(pod: Obj, app: str = "app") -> StartOrder:
    """Did the pod start the app only after its proxy was up (hold or native startup probe)?

    ``proxy_first`` needs: the mechanism in the spec (classic: istio-proxy first in
    ``containers`` with the ``pilot-agent wait`` postStart hook; native: a native
    sidecar with a startupProbe, reported ``started``), and the app's ``startedAt`` no
    earlier than the proxy's. ``startedAt`` has one-second resolution, so equal
    seconds count as ordered; the mechanism is what makes the order certain.
    """
    shape = injection_shape(pod)
    proxy = container_state(pod, PROXY)
    app_state = container_state(pod, app)
    problems: list[str] = []
    if shape.shape is ProxyShape.CLASSIC:
        if shape.containers[:1] != (PROXY,):
            problems.append(f"istio-proxy is not the first container ({list(shape.containers)})")
        if not shape.hold_hook:
            problems.append("istio-proxy has no postStart 'pilot-agent wait' hook")
    elif shape.shape is ProxyShape.NATIVE:
        if not shape.startup_probe:
            problems.append("the native istio-proxy has no startupProbe to gate the app")
        if proxy is not None and proxy.started is not True:
            problems.append("istio-proxy is not reported started")
    else:
        problems.append(f"no proxy to wait for (istio-proxy {shape.shape.value})")
    if proxy is None or proxy.started_at is None:
        problems.append("istio-proxy has no start time")
    if app_state is None or app_state.started_at is None:
        problems.append(f"container {app} has no start time")
    if (
        proxy
        and app_state
        and proxy.started_at
        and app_state.started_at
        and app_state.started_at < proxy.started_at
    ):
        problems.append(
            f"{app} started at {app_state.started_at:%H:%M:%S}, before istio-proxy "
            f"({proxy.started_at:%H:%M:%S})"
        )
    if problems:
        return StartOrder(shape, proxy, app_state, False, "; ".join(problems))
    assert proxy is not None  # narrowed by the checks above
    assert app_state is not None
    mechanism = (
        "postStart 'pilot-agent wait' on the first container"
        if shape.shape is ProxyShape.CLASSIC
        else "the native sidecar's startupProbe"
    )
    return StartOrder(
        shape,
        proxy,
        app_state,
        True,
        f"istio-proxy started {proxy.started_at:%H:%M:%S}, {app} started "
        f"{app_state.started_at:%H:%M:%S}, gated by {mechanism}",
    )
