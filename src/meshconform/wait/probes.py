"""Traffic probes repeated until their outcome settles, and the claim they conclude.

The traffic half of the former ``observe/waits.py``, kept in the wait package while
:mod:`meshconform.traffic` grows its one result model: :func:`settle` repeats a probe
through :func:`meshconform.wait.loop.consecutive` (the one "N in a row" primitive).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from meshconform.claimcheck import ClaimCheck
from meshconform.claims import Outcome
from meshconform.live.kubeapi import KubeAPI
from meshconform.traffic.converge import Flap, compress, record, relapsed
from meshconform.traffic.curl import CurlResult, curl_command, parse_curl
from meshconform.wait.loop import WaitTimeout, consecutive
from meshconform.wait.timeouts import Timeouts

R = TypeVar("R")


@dataclass(frozen=True)
class PodClient:
    """A pod to exec curl in (the suite's ``client`` workload, or any pod with curl)."""

    kube: KubeAPI
    namespace: str
    pod: str
    timeouts: Timeouts
    container: str = "client"

    def curl(self, url: str, **options: Any) -> CurlResult:
        max_time = float(options.pop("max_time", self.timeouts.probe_request))
        command = curl_command(url, max_time=max_time, **options)
        out = self.kube.exec(
            self.namespace,
            self.pod,
            command,
            container=self.container,
            timeout=self.timeouts.exec_command,
        )
        return parse_curl(
            out.rc, out.stdout, out.stderr, target=f"{self.namespace}/{self.pod}: GET {url}"
        )


Verdict = Callable[[R], bool | None]


@dataclass
class Settled(Generic[R]):
    """Where a repeated traffic probe settled: ``observed`` True (the claim holds), False
    (its documented failure), or None (neither, or never stable)."""

    what: str
    observed: bool | None
    results: list[R] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


def settle(
    what: str,
    attempt: Callable[[], R],
    verdict: Verdict[R],
    *,
    expect: bool,
    timeouts: Timeouts,
    describe: Callable[[R], str] = str,
    pause: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Settled[R]:
    """Repeat ``attempt`` until ``timeouts.consecutive_successes`` results in a row show the
    expected outcome (``expect``: the claim holds, or its documented failure happens).

    Configuration takes a moment to reach the proxies, so the expected outcome is
    given ``traffic_consistency`` seconds to appear and stay. If it never settles, the
    last attempts decide: all the opposite outcome means that outcome, anything else
    is ``None`` (the check reports it as unexpected).
    """
    results: list[R] = []
    labels: list[str] = []
    oks: list[bool] = []

    def once() -> tuple[bool, str]:
        result = attempt()
        results.append(result)
        seen = verdict(result)
        label = {True: "holds", False: "documented failure", None: "neither"}[seen]
        labels.append(label)
        oks.append(seen is expect)
        return seen is expect, f"{describe(result)} [{label}]"

    required = timeouts.consecutive_successes
    try:
        streak = consecutive(
            what,
            once,
            required=required,
            timeout=timeouts.traffic_consistency,
            pause=pause,
            clock=clock,
        )
    except WaitTimeout as timeout:
        tail = results[-required:]
        verdicts = {verdict(r) for r in tail}
        observed = verdicts.pop() if len(verdicts) == 1 and len(tail) == required else None
        return Settled(what, observed, results, [str(timeout)])
    if relapsed(oks):  # the expected outcome was seen, then lost again: flaky, not a pass
        record(Flap(what, compress(labels)))
    return Settled(what, expect, results, [f"{what}: {required} in a row:", *streak])


def conclude_settled(claim: ClaimCheck, *settled: Settled[Any]) -> None:
    """Conclude a claim from one or more settled probes: holds only if all hold.

    Any probe that settled on neither outcome makes the check raise
    ``claim.unexpected`` with every probe's evidence.
    """
    for s in settled:
        for line in s.evidence:
            claim.note(line)
    unsettled = [s.what for s in settled if s.observed is None]
    if unsettled:
        raise claim.unexpected("no stable documented outcome for: " + "; ".join(unsettled))
    claim.conclude(Outcome.HOLDS if all(s.observed for s in settled) else Outcome.BROKEN)


def expect_holds(claim: ClaimCheck) -> bool:
    """What :func:`settle` should wait for: the catalog's expectation for this mode (its
    opposite for a statement the catalog records as incorrect)."""
    return (claim.expected is Outcome.HOLDS) != (claim.claim.incorrect is not None)
