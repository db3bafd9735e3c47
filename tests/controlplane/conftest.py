"""Fixtures for the controlplane cluster's own tests: the REAL binaries, from the suite cache.

CI provisions them first (``python -m meshconform.live.controlplane.provision``). When one is
missing these tests ERROR with the reason; they never skip.
"""

from __future__ import annotations

import os

import pytest

from meshconform.static.istioctl import Istioctl, get_istioctl
from meshconform.versions import get_istio_release

TEST_ISTIO = os.environ.get("MESHCONFORM_STATIC_TEST_ISTIO", "1.31")


@pytest.fixture(scope="session")
def istioctl() -> Istioctl:
    return get_istioctl(get_istio_release(TEST_ISTIO), build=False)
