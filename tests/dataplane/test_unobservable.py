"""Traffic that cannot be observed is setup trouble (error), never a finding (fail).

A DNS timeout or a refused connection says nothing about a policy: the check ends
``error`` with the evidence. A result that was observed but matches neither documented
outcome (a 500 where a 403 or a 200 was documented) stays a finding.
"""

from __future__ import annotations

import pytest

from meshconform.claimcheck import ClaimCheck, UnexpectedBehaviour, Unobservable
from meshconform.claims import Outcome, Verdict, get_claim
from meshconform.traffic.expect import Expect
from meshconform.traffic.observation import Observation, Probe, Seen, conclude, observe, require
from meshconform.traffic.request import Request
from meshconform.traffic.result import UNOBSERVABLE, Kind, TrafficResult

_REQUEST = Request("10.245.0.5", 8080, "echo.mc-a.svc.cluster.local")


def _seen(kind: Kind, status: int | None = None, body: str = "") -> Seen:
    probe = Probe(_REQUEST, Expect.denied_by_policy(), Expect.ok())
    return Seen(probe, TrafficResult(kind, "GET echo", "why", status=status, body=body))


def _check() -> ClaimCheck:
    return ClaimCheck(get_claim("authz-deny"), "sidecar", "live")


@pytest.mark.parametrize("kind", sorted(UNOBSERVABLE, key=str))
def test_an_unobservable_target_is_an_error(kind: Kind) -> None:
    observation = observe("authz-deny", [_seen(kind)])
    assert observation.outcome is None
    assert observation.blind
    assert observation.verdict(Outcome.HOLDS) is Verdict.ERROR
    with pytest.raises(Unobservable) as caught:
        conclude(_check(), observation)
    assert not isinstance(caught.value, AssertionError)  # the report's error, not fail
    assert "could not observe the target" in str(caught.value)
    assert kind.value in str(caught.value)


def test_an_observed_answer_that_is_neither_outcome_is_a_finding() -> None:
    observation = observe("authz-deny", [_seen(Kind.HTTP_STATUS, 500)])
    assert observation.outcome is None
    assert not observation.blind
    assert observation.verdict(Outcome.HOLDS) is Verdict.FAIL
    with pytest.raises(UnexpectedBehaviour):
        conclude(_check(), observation)


def test_one_observed_probe_among_blind_ones_makes_it_a_finding() -> None:
    observation = observe("authz-deny", [_seen(Kind.DNS_FAILED), _seen(Kind.HTTP_STATUS, 500)])
    assert not observation.blind
    assert observation.verdict(Outcome.HOLDS) is Verdict.FAIL


def test_the_documented_outcomes_keep_their_verdicts() -> None:
    denied = observe("authz-deny", [_seen(Kind.HTTP_STATUS, 403, "RBAC: access denied")])
    answered = observe("authz-deny", [_seen(Kind.HTTP_STATUS, 200)])
    assert (denied.outcome, answered.outcome) == (Outcome.HOLDS, Outcome.BROKEN)
    assert not denied.blind
    assert not answered.blind
    assert denied.verdict(Outcome.HOLDS) is Verdict.PASS
    assert answered.verdict(Outcome.HOLDS) is Verdict.FAIL
    assert answered.verdict(Outcome.BROKEN) is Verdict.PASS
    assert denied.claim_id == "authz-deny"
    check = _check()
    conclude(check, denied)  # as documented: no exception
    assert check.observed is Outcome.HOLDS
    assert check.evidence == [denied.text]  # the probes' lines are the check's evidence


def test_an_observation_without_probes_is_blind() -> None:
    """The CLIs build one from a flapping timeout: it judged nothing."""
    assert Observation("authz-deny", None, ("never settled",)).verdict(Outcome.HOLDS) \
        is Verdict.ERROR


def test_a_precondition_that_could_not_be_observed_is_an_error() -> None:
    probe = Probe(_REQUEST, Expect.ok())
    require(_check(), Seen(probe, TrafficResult(Kind.HTTP_STATUS, "GET", "ok", status=200)),
            "server down")
    with pytest.raises(Unobservable, match="server down: expected ok, got dns-failed"):
        require(_check(), Seen(probe, TrafficResult(Kind.DNS_FAILED, "GET", "no name")),
                "server down")
    with pytest.raises(UnexpectedBehaviour, match="server down: expected ok, got HTTP 503"):
        require(_check(), Seen(probe, TrafficResult(Kind.HTTP_STATUS, "GET", "x", status=503)),
                "server down")
