"""What a check holds while it runs: its claim, the mode's expectation, and its observation.

A check observes the behaviour, classifies it as ``holds`` or ``broken`` with a
pure function, and calls :meth:`ClaimCheck.conclude`. The expectation comes
from the catalog, never from the check; a mismatch fails with both sides and
the evidence, so the report can say "as documented" or "documentation outdated".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshconform.claims import Claim, Outcome


class ClaimMismatch(AssertionError):
    """The observed behaviour differs from what the documentation leads users to expect."""


class UnexpectedBehaviour(AssertionError):
    """The behaviour is neither the documented success nor the documented failure."""


class Unobservable(Exception):
    """The target could not be observed (refused, timed out, unresolved): setup trouble,
    reported as an error, never as a finding about the claim."""


@dataclass
class ClaimCheck:
    claim: Claim
    mode: str
    tier: str
    istio_version: str | None = None
    observed: Outcome | None = None
    evidence: list[str] = field(default_factory=list)
    #: live tier: the kind of cluster the evidence came from (kind, kubeconfig,
    #: controlplane); every evidence line is prefixed with it
    origin: str | None = None

    @property
    def expected(self) -> Outcome:
        return self.claim.expectation(self.mode).outcome

    @property
    def expects_broken(self) -> bool:
        return self.expected is Outcome.BROKEN

    def note(self, line: str) -> None:
        """Add a line of evidence (what was seen), kept in the report."""
        if self.origin:
            line = "\n".join(f"[{self.origin}] {part}" for part in line.splitlines())
        self.evidence.append(line)

    def conclude(self, observed: Outcome | bool, evidence: str = "") -> None:
        """Record what was observed and assert it is what the catalog expects in this mode.

        ``observed`` is ``True``/``Outcome.HOLDS`` when the claimed behaviour was
        seen, ``False``/``Outcome.BROKEN`` when its documented failure was seen.
        """
        if isinstance(observed, bool):
            observed = Outcome.HOLDS if observed else Outcome.BROKEN
        self.observed = observed
        if evidence:
            self.note(evidence)
        incorrect = self.claim.incorrect
        if incorrect is not None:
            # the documented statement is recorded as wrong: seeing its opposite confirms it
            if observed is not self.expected:
                self.note(f"documentation incorrect: {incorrect.statement}")
                return
            raise ClaimMismatch(
                f"claim {self.claim.id} in mode {self.mode} ({self.tier}): the statement "
                f"recorded as incorrect held ({observed}); drop `incorrect` from the claim.\n"
                "  evidence:\n    " + "\n    ".join(self.evidence or ["(none)"])
            )
        if observed is not self.expected:
            if self.expected is Outcome.BROKEN:
                finding = (
                    "documentation outdated: the documented failure did not happen in this mode"
                )
            else:
                finding = "does not conform: the documented behaviour did not happen"
            raise ClaimMismatch(
                f"claim {self.claim.id} in mode {self.mode} ({self.tier}): expected "
                f"{self.expected}, observed {observed}: {finding}.\n"
                f"  claim: {self.claim.title}\n"
                f"  mode note: {self.claim.expectation(self.mode).note or '-'}\n"
                "  evidence:\n    " + "\n    ".join(self.evidence or ["(none)"])
            )

    def unexpected(self, what: str) -> UnexpectedBehaviour:
        """An error to raise when what was seen is neither outcome the docs describe."""
        self.note(what)
        return UnexpectedBehaviour(
            f"claim {self.claim.id} in mode {self.mode} ({self.tier}): neither the documented "
            f"behaviour nor its documented failure: {what}\n  evidence:\n    "
            + "\n    ".join(self.evidence)
        )

    def unobservable(self, what: str) -> Unobservable:
        """An error to raise when the target could not be observed at all: that says nothing
        about the claim (an error, not a failure)."""
        self.note(what)
        return Unobservable(
            f"claim {self.claim.id} in mode {self.mode} ({self.tier}): could not observe the "
            f"target, so the claim is not judged: {what}\n  evidence:\n    "
            + "\n    ".join(self.evidence)
        )
