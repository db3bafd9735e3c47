"""ClaimCheck: the expectation per mode, the verdict of an observation, and its evidence."""

from __future__ import annotations

import pytest

from meshconform.claimcheck import ClaimCheck, ClaimMismatch, UnexpectedBehaviour
from meshconform.claims import ANY_MODE, Outcome, get_claim


def test_expected_comes_from_the_catalog_per_mode() -> None:
    claim = get_claim("job-completes")
    assert ClaimCheck(claim, "sidecar", "live").expected is Outcome.BROKEN
    assert ClaimCheck(claim, "sidecar", "live").expects_broken
    assert ClaimCheck(claim, "native-sidecar", "live").expected is Outcome.HOLDS
    assert not ClaimCheck(claim, "native-sidecar", "live").expects_broken
    assert ClaimCheck(get_claim("gateway-health"), ANY_MODE, "dataplane").expected \
        is Outcome.HOLDS


def test_conclude_records_and_passes_when_as_documented() -> None:
    check = ClaimCheck(get_claim("job-completes"), "sidecar", "live")
    check.conclude(False, "HungOnSidecar after 15s")
    assert check.observed is Outcome.BROKEN
    assert check.evidence == ["HungOnSidecar after 15s"]
    native = ClaimCheck(get_claim("job-completes"), "native-sidecar", "live")
    native.conclude(Outcome.HOLDS)
    assert (native.observed, native.evidence) == (Outcome.HOLDS, [])


def test_a_documented_failure_that_did_not_happen_is_outdated_documentation() -> None:
    check = ClaimCheck(get_claim("job-completes"), "cni", "live", "1.30")
    check.note("Job Complete at 10:00:03")
    with pytest.raises(ClaimMismatch) as caught:
        check.conclude(True)
    text = str(caught.value)
    assert text.startswith("claim job-completes in mode cni (live): expected broken, "
                           "observed holds: documentation outdated")
    assert "Job Complete at 10:00:03" in text
    assert check.observed is Outcome.HOLDS


def test_a_documented_behaviour_that_did_not_happen_does_not_conform() -> None:
    check = ClaimCheck(get_claim("job-completes"), "native-sidecar", "live")
    with pytest.raises(ClaimMismatch, match="expected holds, observed broken: does not "
                                            "conform") as caught:
        check.conclude(False)
    assert "evidence:\n    (none)" in str(caught.value)
    assert "claim: " + get_claim("job-completes").title in str(caught.value)


def test_unexpected_keeps_the_evidence() -> None:
    check = ClaimCheck(get_claim("gateway-health"), "cni", "live")
    check.note("first")
    error = check.unexpected("HTTP 503")
    assert isinstance(error, UnexpectedBehaviour)
    assert check.evidence == ["first", "HTTP 503"]
    assert str(error).startswith("claim gateway-health in mode cni (live): neither")
    assert "first\n    HTTP 503" in str(error)


def test_evidence_names_its_origin_when_there_is_one() -> None:
    check = ClaimCheck(get_claim("gateway-health"), "cni", "live")
    check.note("plain")
    check.origin = "controlplane"
    check.note("from the control plane")
    assert check.evidence == ["plain", "[controlplane] from the control plane"]
