"""A claim evaluator's answer: holds, broken, or neither, with the evidence."""

from __future__ import annotations

from dataclasses import dataclass

from meshconform.claimcheck import ClaimCheck
from meshconform.claims import Outcome
from meshconform.traffic.result import Kind, ProbeResult

#: results that say nothing about the claim: the target could not be observed
UNOBSERVABLE = frozenset({Kind.TCP_REFUSED, Kind.TIMEOUT, Kind.UNREACHABLE})


@dataclass(frozen=True)
class Observation:
    """``outcome`` is None when the probes saw neither the behaviour nor its failure."""

    claim_id: str
    outcome: Outcome | None
    evidence: tuple[str, ...]
    results: tuple[ProbeResult, ...] = ()

    @property
    def holds(self) -> bool:
        return self.outcome is Outcome.HOLDS

    @property
    def text(self) -> str:
        return "\n".join(self.evidence)


def observe(
    claim_id: str,
    ok: bool,
    lines: list[str],
    results: list[ProbeResult],
    *,
    failures: frozenset[Kind] = frozenset(),
) -> Observation:
    """HOLDS/BROKEN from ``ok`` unless a probe could not reach its target at all.

    ``failures`` are kinds that count as the claim's failure for this claim even
    though they would otherwise mean "not observable" (a refused health port).
    """
    blind = [r for r in results if r.kind in UNOBSERVABLE - failures]
    if blind:
        outcome: Outcome | None = None
        lines = [*lines, "could not observe the claim: " + "; ".join(str(r) for r in blind)]
    else:
        outcome = Outcome.HOLDS if ok else Outcome.BROKEN
    return Observation(claim_id, outcome, tuple(lines), tuple(results))


def conclude(check: ClaimCheck, observation: Observation) -> None:
    """Hand an observation to a check: assert it against the catalog, or raise 'neither'."""
    if observation.outcome is None:
        raise check.unexpected(observation.text)
    check.conclude(observation.outcome, observation.text)
