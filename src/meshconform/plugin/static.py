"""Fixtures of the static tier: the real istioctl per Istio version, the generated
install per (version, mode), and admitted pod shapes of the reference workloads.

If istioctl for a version cannot be obtained, every check that needs it ends as an
ERROR carrying the exact reason (e.g. the Go proxy's 403), never a skip or a pass.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.modes import Mode
from meshconform.options import RunOptions
from meshconform.static.facts import StaticFacts
from meshconform.static.inject import PodShape
from meshconform.static.install import StaticInstall
from meshconform.static.istioctl import Istioctl, get_istioctl
from meshconform.static.registry import core_checks
from meshconform.versions import IstioRelease

_FACTS: dict[tuple[str, str], StaticFacts] = {}
_FACTS_LOCK = threading.Lock()


#: ``static_check()``: evaluate the check's claim with its registered evaluator, conclude it
StaticCheckRun = Callable[[], None]


@pytest.fixture(scope="session")
def istioctl_for(istio_release: IstioRelease, run_options: RunOptions) -> Istioctl:
    """istioctl of exactly this release, found as every tier finds it: --istioctl,
    MESHCONFORM_ISTIOCTL_<MINOR>, the go-install cache, the release binary, go install."""
    return get_istioctl(istio_release, explicit=run_options.binaries.get("istioctl"))


@pytest.fixture(scope="session")
def static_facts(istioctl_for: Istioctl, mode: Mode, run_options: RunOptions) -> StaticFacts:
    """Install + pod shapes for (version, mode), computed lazily and shared by all checks."""
    key = (istioctl_for.release.minor, mode.name)
    with _FACTS_LOCK:
        facts = _FACTS.get(key)
        if facts is None:
            facts = StaticFacts(istioctl_for, mode, kubernetes=run_options.kubernetes)
            facts.prepare(facts.needed_shapes())  # one kube-inject per install, up front
            _FACTS[key] = facts
    return facts


@pytest.fixture(scope="session")
def static_install(static_facts: StaticFacts) -> StaticInstall:
    """``istioctl manifest generate -f fixtures/istio/<mode>.yaml`` of this version, parsed."""
    return static_facts.install


@pytest.fixture
def injected(static_facts: StaticFacts) -> Callable[[str], PodShape]:
    """``injected("job")``: the pod of reference workload ``job`` as admitted in this mode."""
    return static_facts.shape


@pytest.fixture
def static_check(static_facts: StaticFacts, claim: ClaimCheck) -> StaticCheckRun:
    """``static_check()``: the claim's evaluator from the static registry
    (:mod:`meshconform.static.registry`, the one ``meshconform static`` runs) over this
    (version, mode)'s facts, concluded against the catalog's expectation."""

    def run() -> None:
        evaluation = core_checks()[claim.claim.id].evaluate(static_facts)
        claim.conclude(evaluation.outcome, evaluation.evidence)

    return run
