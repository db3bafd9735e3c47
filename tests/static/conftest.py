"""Fixtures for the static tier's own tests: the REAL istioctl, from the suite cache.

CI provisions it first (``python -m meshconform.istioctl_build --istio-version all``).
When it is missing these tests ERROR with the reason; they never skip. The version is
``MESHCONFORM_STATIC_TEST_ISTIO`` (default 1.31). Tests that compare versions or check each
version's istioctl use every version CI provisions: ``MESHCONFORM_STATIC_VERSIONS``
(tox.ini, default 1.30,1.31).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from meshconform.claims import Outcome, get_catalog
from meshconform.modes import MODES
from meshconform.options import parse_istio
from meshconform.static.facts import STATIC_CLAIMS, StaticFacts
from meshconform.static.istioctl import Istioctl, get_istioctl
from meshconform.versions import IstioRelease, get_istio_release

TEST_ISTIO = os.environ.get("MESHCONFORM_STATIC_TEST_ISTIO", "1.31")
#: minor -> release, for every version CI provisions (same default as tox.ini)
STATIC_VERSIONS: dict[str, IstioRelease] = {
    r.minor: r for r in parse_istio([os.environ.get("MESHCONFORM_STATIC_VERSIONS", "1.30,1.31")])
}


@pytest.fixture(scope="session")
def istioctl() -> Istioctl:
    return get_istioctl(get_istio_release(TEST_ISTIO), build=False)


_FACTS: dict[str, StaticFacts] = {}


@pytest.fixture(scope="session")
def facts_for(istioctl: Istioctl) -> Callable[[str], StaticFacts]:
    """The suite's own configuration per mode, shared across tests."""
    def get(mode: str) -> StaticFacts:
        if mode not in _FACTS:
            _FACTS[mode] = StaticFacts(istioctl, MODES[mode])
        return _FACTS[mode]
    return get


def outcomes(facts: StaticFacts) -> dict[str, Outcome]:
    """Every static claim that applies to the facts' mode -> its evaluated outcome."""
    mode = facts.mode.name
    return {cid: evaluate(facts).outcome for cid, (_, evaluate) in STATIC_CLAIMS.items()
            if get_catalog()[cid].applies_to(mode)}


def expected(mode: str) -> dict[str, Outcome]:
    return {cid: get_catalog()[cid].expect[mode].outcome for cid in STATIC_CLAIMS
            if get_catalog()[cid].applies_to(mode)}
