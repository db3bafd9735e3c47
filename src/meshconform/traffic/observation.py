"""A claim evaluator's answer: holds, broken, or neither, with the evidence.

An evaluator is a list of :class:`Probe`\\ s: a request, the named expectation that
means the claim holds, and the one that is its documented failure. :func:`run`
sends a probe through a transport until it converges (:func:`~.converge.converge`);
:func:`observe` turns what was seen into an :class:`Observation`. Holds when every
probe met ``holds``; broken when every probe met ``holds`` or ``fails`` and one
met ``fails``; neither otherwise. Neither is a finding (``fail``) when what was seen says
something about the target (a 500 where a 403 or a 200 was documented); it is setup
trouble (``error``) when the target could not be observed at all (refused, timed out,
unreachable, unresolved: :data:`~.result.UNOBSERVABLE`), which says nothing about the claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from meshconform.claimcheck import ClaimCheck
from meshconform.claims import Outcome, Verdict
from meshconform.traffic.converge import converge
from meshconform.traffic.expect import Expect, Expectation
from meshconform.traffic.request import Request
from meshconform.traffic.result import UNOBSERVABLE, TrafficResult
from meshconform.traffic.transport import Transport
from meshconform.wait import Timeouts


@dataclass(frozen=True)
class Probe:
    """One request and the two named outcomes it can show for a claim.

    ``fails`` defaults to :meth:`Expect.observed`: anything observable that is not
    ``holds`` is the failure. ``meaning`` says in the evidence what a failure means
    ("REGISTRY_ONLY is not enforced for HTTP").
    """

    request: Request
    holds: Expectation
    fails: Expectation = field(default_factory=Expect.observed)
    meaning: str = ""


@dataclass(frozen=True)
class Seen:
    """What a probe converged on."""

    probe: Probe
    result: TrafficResult

    @property
    def verdict(self) -> bool | None:
        """True: the claim's behaviour; False: its documented failure; None: neither."""
        if self.probe.holds.met(self.result):
            return True
        if self.probe.fails.met(self.result):
            return False
        return None

    @property
    def line(self) -> str:
        holds = self.probe.holds
        if holds.met(self.result):
            return f"ok: {holds.name}: {self.result}"
        text = f"{holds.judge(self.result)} ({self.result.explanation})"
        if self.verdict is None:
            return f"{text}; neither {holds.name} nor {self.probe.fails.name}"
        return f"{text}; {self.probe.meaning}" if self.probe.meaning else text


@dataclass(frozen=True)
class Observation:
    """``outcome`` is None when the probes saw neither the behaviour nor its failure."""

    claim_id: str
    outcome: Outcome | None
    evidence: tuple[str, ...]
    seen: tuple[Seen, ...] = ()

    @property
    def results(self) -> tuple[TrafficResult, ...]:
        return tuple(s.result for s in self.seen)

    @property
    def holds(self) -> bool:
        return self.outcome is Outcome.HOLDS

    @property
    def text(self) -> str:
        return "\n".join(self.evidence)

    @property
    def blind(self) -> bool:
        """Neither outcome, and every probe that saw neither could not observe the target."""
        if self.outcome is not None:
            return False
        unmatched = [s.result for s in self.seen if s.verdict is None]
        return not unmatched or all(r.kind in UNOBSERVABLE for r in unmatched)

    def verdict(self, expected: Outcome) -> Verdict:
        """The report's verdict for a check that expected ``expected``: ``error`` when the
        target could not be observed, ``fail`` for neither outcome or the other one."""
        if self.outcome is None:
            return Verdict.ERROR if self.blind else Verdict.FAIL
        return Verdict.PASS if self.outcome is expected else Verdict.FAIL


def run(
    probe: Probe, transport: Transport, timeouts: Timeouts, *, wait_for: Outcome | None = None
) -> Seen:
    """Send ``probe`` until it converges: until the results agree (``wait_for`` None, for
    configuration already in place), or until they show ``wait_for``'s expectation
    (``holds`` or ``fails``) while configuration is still reaching the proxies."""
    aim = None if wait_for is None else (probe.holds if wait_for is Outcome.HOLDS else probe.fails)
    request = probe.request
    result = converge(
        f"{transport.name}: {request.describe()}",
        lambda: transport.send(request),
        timeouts,
        until=aim,
        interval=transport.interval,
    )
    return Seen(probe, result)


def observe(claim_id: str, seen: Sequence[Seen]) -> Observation:
    """HOLDS if every probe held, BROKEN if each held or failed as documented, else None."""
    lines = [s.line for s in seen]
    verdicts = [s.verdict for s in seen]
    if all(v is True for v in verdicts):
        outcome: Outcome | None = Outcome.HOLDS
    elif all(v is not None for v in verdicts):
        outcome = Outcome.BROKEN
    else:
        outcome = None
        blind = [str(s.result) for s in seen if s.verdict is None]
        lines.append("could not observe the claim: " + "; ".join(blind))
    return Observation(claim_id, outcome, tuple(lines), tuple(seen))


def require(check: ClaimCheck, seen: Seen, why: str) -> None:
    """A precondition probe (the server answers before a policy is applied): nothing when
    it held; else 'could not observe' (an error) when the target was not observable, or
    'neither' (a finding) when it answered otherwise. ``why`` says what a verdict without
    the precondition would mean."""
    if seen.verdict is True:
        return
    if seen.result.kind in UNOBSERVABLE:
        raise check.unobservable(f"{why}: {seen.line}")
    raise check.unexpected(f"{why}: {seen.line}")


def awaited(check: ClaimCheck) -> Outcome:
    """What a live check waits for: the catalog's expectation for this mode (its opposite
    for a statement the catalog records as incorrect)."""
    expected = check.expected is Outcome.HOLDS
    holds = expected != (check.claim.incorrect is not None)
    return Outcome.HOLDS if holds else Outcome.BROKEN


def conclude(check: ClaimCheck, observation: Observation) -> None:
    """Hand an observation to a check: assert it against the catalog; raise 'neither' (a
    finding) or 'could not observe' (setup trouble, an error)."""
    if observation.blind:
        raise check.unobservable(observation.text)
    if observation.outcome is None:
        raise check.unexpected(observation.text)
    check.conclude(observation.outcome, observation.text)
