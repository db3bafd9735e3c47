"""The init-container probe wait (``wait.workloads.get_init_probe``) fails fast.

Break 4 of issue 10 ("init-container fail-fast disabled"): an init container that can
never run (the CNI's istio-validation crash-looping, an image that cannot be pulled)
must end the wait at once with that container named, not after ``pod_ready``.
"""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.wait import Done, Failed, Pending, Timeouts, WaitFailed
from meshconform.wait.conditions import init_container_done
from meshconform.wait.workloads import get_init_probe
from tests.observe import podjson as pj
from tests.observe.scripted import ScriptedKube

PROBE = {"name": "probe", "image": "curlimages/curl:8.11.1", "command": ["sh", "-c", "curl"]}


def _pod(init_statuses: list[dict[str, Any]]) -> dict[str, Any]:
    return pj.pod(containers=[pj.APP], init=[pj.ISTIO_INIT, PROBE], phase="Pending",
                  statuses=[{"name": "app", "ready": False, "restartCount": 0, "image": "x",
                             "imageID": "", "state": {"waiting": {"reason": "PodInitializing"}}}],
                  init_statuses=init_statuses, name="init-net")


def _waiting(name: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"name": name, "ready": False, "restartCount": 4, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": reason, "message": message}}}


CRASHING_VALIDATION = _pod([_waiting("istio-init", "CrashLoopBackOff",
                                     "back-off 40s restarting failed container"),
                            _waiting("probe", "PodInitializing")])


def test_init_condition_fails_on_a_crash_looping_init_container() -> None:
    decision = init_container_done("probe")(CRASHING_VALIDATION)
    assert isinstance(decision, Failed)
    assert "istio-init: CrashLoopBackOff" in decision.state
    assert isinstance(init_container_done("probe")(_pod([pj.terminated("istio-init"),
                                                         _waiting("probe", "")])), Pending)
    done = _pod([pj.terminated("istio-init"), pj.terminated("probe", code=7)])
    assert isinstance(init_container_done("probe")(done), Done)


def test_the_init_probe_wait_ends_at_once_naming_the_container() -> None:
    kube = ScriptedKube(lambda t: (None, [CRASHING_VALIDATION]))
    with pytest.raises(WaitFailed, match="istio-init: CrashLoopBackOff"):
        get_init_probe(kube, "mc-ns", "init-net", Timeouts())  # type: ignore[arg-type]
