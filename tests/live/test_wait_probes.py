"""``wait.probes``: curl from a pod, a probe repeated until it settles, and the claim it
concludes. Exec answers are what the API's exec status channel reports (``rc``, stdout
ending in curl's ``-w`` marker line)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck, ClaimMismatch, UnexpectedBehaviour
from meshconform.claims import get_catalog, get_claim
from meshconform.traffic.converge import Flap, recording
from meshconform.traffic.curl import curl_command
from meshconform.wait import Timeouts
from meshconform.wait.probes import PodClient, Settled, conclude_settled, expect_holds, settle
from tests.clock import FakeClock


@dataclass(frozen=True)
class Out:
    rc: int
    stdout: str
    stderr: str


class ExecKube:
    def __init__(self, out: Out) -> None:
        self.out = out
        self.calls: list[tuple[Any, ...]] = []

    def exec(self, namespace: str, pod: str, command: list[str], container: str | None = None,
             timeout: float = 30) -> Out:
        self.calls.append((namespace, pod, command, container, timeout))
        return self.out


TIMEOUTS = Timeouts().overridden({"probe_request": 4, "exec_command": 21})


def test_curl_runs_in_the_client_container_with_the_probe_timeouts() -> None:
    kube = ExecKube(Out(56, "", "curl: (56) Recv failure: Connection reset by peer\n"))
    client = PodClient(kube, "mc-ns", "client-1", TIMEOUTS)  # type: ignore[arg-type]
    result = client.curl("http://echo/")
    assert kube.calls == [("mc-ns", "client-1", curl_command("http://echo/", max_time=4),
                           "client", 21)]
    assert (result.exit_code, result.status) == (56, None)
    assert result.target == "mc-ns/client-1: GET http://echo/"
    assert result.error == "curl: (56) Recv failure: Connection reset by peer"


def test_curl_options_reach_the_command_and_max_time_can_be_given() -> None:
    kube = ExecKube(Out(28, "", "curl: (28) Operation timed out\n"))
    client = PodClient(kube, "mc-ns", "c", TIMEOUTS, container="probe")  # type: ignore[arg-type]
    client.curl("https://echo/", max_time=9, cacert="/ca.pem")
    assert kube.calls[0][2] == curl_command("https://echo/", max_time=9, cacert="/ca.pem")
    assert kube.calls[0][3] == "probe"


def _settle(results: list[bool | None], expect: bool, consistency: float = 2.0,
            required: int = 3) -> Settled[bool | None]:
    clock = FakeClock()
    seq = iter(results)
    timeouts = Timeouts().overridden({"traffic_consistency": consistency,
                                      "consecutive_successes": required})
    return settle("GET /", lambda: next(seq), lambda r: r, expect=expect, timeouts=timeouts,
                  describe=lambda r: f"r={r}", pause=clock.pause, clock=clock)


def test_a_settled_probe_shows_its_streak_with_labels() -> None:
    got = _settle([None, False, True, True, True], expect=True)
    assert (got.what, got.observed) == ("GET /", True)
    assert got.results == [None, False, True, True, True]
    assert got.evidence == ["GET /: 3 in a row:", "r=True [holds]", "r=True [holds]",
                            "r=True [holds]"]
    broken = _settle([False, False], expect=False, required=2)
    assert broken.evidence == ["GET /: 2 in a row:", "r=False [documented failure]",
                               "r=False [documented failure]"]


def test_a_probe_that_never_settles_is_decided_by_its_last_attempts() -> None:
    opposite = _settle([True, None, False] + [False] * 20, expect=True)
    assert opposite.observed is False
    assert opposite.what == "GET /"
    (evidence,) = opposite.evidence
    assert evidence.startswith("GET /: no 3 consecutive successes within 2s; last attempts:")
    assert "no: r=None [neither]" in evidence
    mixed = _settle([False, False, None] * 10, expect=True)
    assert mixed.observed is None
    too_few = _settle([False] * 10, expect=True, consistency=0.5, required=3)
    assert len(too_few.results) == 2  # at 0 s and 0.5 s: fewer than 3, nothing decided
    assert too_few.observed is None


def test_a_relapse_after_success_is_recorded_as_a_flap() -> None:
    with recording() as flaps:
        got = _settle([True, False, True, True, True], expect=True)
        _settle([False, True, True, True], expect=True)  # late, not flaky
    assert got.observed is True
    assert flaps == [Flap("GET /", "holds, documented failure, holds x3")]


def _check(claim: str, mode: str) -> ClaimCheck:
    return ClaimCheck(get_claim(claim), mode, "live")


def test_conclude_needs_every_probe_to_hold_and_keeps_all_evidence() -> None:
    check = _check("job-completes", "sidecar")  # documented broken in sidecar
    conclude_settled(check, Settled("a", True, evidence=["a: held"]),
                     Settled("b", False, evidence=["b: failed"]))
    assert check.observed is not None
    assert check.observed.value == "broken"
    assert check.evidence == ["a: held", "b: failed"]
    native = _check("job-completes", "native-sidecar")
    conclude_settled(native, Settled("a", True), Settled("b", True))
    assert native.observed is not None
    assert native.observed.value == "holds"
    with pytest.raises(ClaimMismatch):
        conclude_settled(_check("job-completes", "native-sidecar"), Settled("a", False))


def test_an_unsettled_probe_makes_the_check_unexpected_naming_each() -> None:
    check = _check("job-completes", "native-sidecar")
    with pytest.raises(UnexpectedBehaviour) as caught:
        conclude_settled(check, Settled("a", None, evidence=["a: flapping"]), Settled("b", True),
                         Settled("c", None))
    assert "no stable documented outcome for: a; c" in str(caught.value)
    assert check.evidence == ["a: flapping", "no stable documented outcome for: a; c"]
    assert check.observed is None


def test_settle_waits_for_what_the_catalog_expects() -> None:
    assert expect_holds(_check("job-completes", "native-sidecar")) is True
    assert expect_holds(_check("job-completes", "sidecar")) is False
    incorrect = ClaimCheck(get_catalog()["deploykf-permissive-bypasses-authz"],
                           "cni-native-sidecar", "live")
    assert expect_holds(incorrect) is False
