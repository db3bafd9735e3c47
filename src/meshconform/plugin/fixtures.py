"""The fixtures every tier shares: the run's options and timeouts, the matrix cell
(``mode``, ``istio_release``), the probed gateway and the check's ``claim``."""

from __future__ import annotations

import dataclasses

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.claims import get_catalog
from meshconform.errors import UsageError
from meshconform.modes import Mode
from meshconform.options import RunOptions
from meshconform.plugin.matrix import item_claim_id, item_mode_name, item_release, item_tier
from meshconform.plugin.options import PROBE_KEY
from meshconform.plugin.options import run_options as options_of
from meshconform.plugin.results import record_check
from meshconform.traffic.gateway import GatewayTarget
from meshconform.versions import IstioRelease
from meshconform.wait import Timeouts


@pytest.fixture(scope="session")
def run_options(pytestconfig: pytest.Config) -> RunOptions:
    return options_of(pytestconfig)


@pytest.fixture(scope="session")
def timeouts(run_options: RunOptions) -> Timeouts:
    return run_options.timeouts


@pytest.fixture(scope="session")
def mode() -> Mode:
    """Overridden by parametrization (pytest_generate_tests) for every check."""
    raise UsageError("the mode fixture was not parametrized", "Report this as a meshconform bug")


@pytest.fixture(scope="session")
def istio_release() -> IstioRelease:
    """Overridden by parametrization (pytest_generate_tests) for every check."""
    raise UsageError(
        "the istio_release fixture was not parametrized", "Report this as a meshconform bug"
    )


@pytest.fixture(scope="session")
def probe_target(pytestconfig: pytest.Config, timeouts: Timeouts) -> GatewayTarget:
    """The reachable gateway given with --probe-gateway/--probe-host/--probe-ca."""
    target = pytestconfig.stash.get(PROBE_KEY, None)
    if target is None:
        raise UsageError(
            "a gateway probe check ran without --probe-gateway",
            "Pass --probe-gateway HOST:PORT --probe-host NAME --probe-ca CA.pem",
        )
    return dataclasses.replace(target, timeouts=timeouts)


@pytest.fixture
def claim(request: pytest.FixtureRequest, mode: Mode) -> ClaimCheck:
    """The check's claim, its expectation in this mode, and a place for evidence."""
    node = request.node
    claim_id = item_claim_id(node)
    tier = item_tier(node)
    if claim_id is None or tier is None:
        raise UsageError(
            f"{node.nodeid} uses the claim fixture without @pytest.mark.claim and a tier marker",
            "Add both markers",
        )
    release = item_release(node)
    options = options_of(request.config)
    version = release.minor if release is not None else options.istio[0].minor
    check = ClaimCheck(get_catalog()[claim_id], item_mode_name(node) or mode.name, tier, version)
    if tier == "live":
        check.origin = str(options.cluster)
    record_check(node, check)
    return check
