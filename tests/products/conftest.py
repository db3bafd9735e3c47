"""Fixtures for the product tests: the REAL istioctl, found like tests/static/conftest.py.

CI provisions it first (``python -m meshconform.istioctl_build --istio-version all``).
When it is missing these tests ERROR with the reason; they never skip. The version is
``MESHCONFORM_STATIC_TEST_ISTIO`` (default 1.31).
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
