"""Fixtures of the static tier: the real istioctl per Istio version, the generated
install per (version, mode), and admitted pod shapes of the reference workloads.

If istioctl for a version cannot be obtained, every check that needs it ends as an
ERROR carrying the exact reason (e.g. the Go proxy's 403), never a skip or a pass.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from meshconform.modes import Mode
from meshconform.options import RunOptions
from meshconform.static.facts import StaticFacts
from meshconform.static.inject import PodShape
from meshconform.static.install import StaticInstall
from meshconform.static.istioctl import Istioctl, get_istioctl
from meshconform.versions import IstioRelease

_FACTS: dict[tuple[str, str], StaticFacts] = {}
_FACTS_LOCK = threading.Lock()


@pytest.fixture(scope="session")
def istioctl_for(istio_release: IstioRelease) -> Istioctl:
    """istioctl of exactly this release: MESHCONFORM_ISTIOCTL_<MINOR>, cache, go install."""
    return get_istioctl(istio_release)


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
