"""ClaimCheck for a statement the catalog records as incorrect: seeing its opposite
confirms the record; seeing it hold is a mismatch (mutation survivors, issue 10)."""

from __future__ import annotations

import pytest

from meshconform.claimcheck import ClaimCheck, ClaimMismatch
from meshconform.claims import Outcome, get_catalog

CLAIM = get_catalog()["deploykf-permissive-bypasses-authz"]


def test_the_opposite_of_an_incorrect_statement_confirms_the_record() -> None:
    assert CLAIM.incorrect is not None
    check = ClaimCheck(CLAIM, "cni-native-sidecar", "live")
    assert check.expected is Outcome.HOLDS
    check.conclude(Outcome.BROKEN, "RBAC: access denied")
    assert check.observed is Outcome.BROKEN
    assert check.evidence == ["RBAC: access denied",
                              f"documentation incorrect: {CLAIM.incorrect.statement}"]


def test_an_incorrect_statement_that_holds_is_a_mismatch_with_the_evidence() -> None:
    check = ClaimCheck(CLAIM, "cni-native-sidecar", "live")
    with pytest.raises(ClaimMismatch) as caught:
        check.conclude(Outcome.HOLDS)
    assert str(caught.value) == (
        f"claim {CLAIM.id} in mode cni-native-sidecar (live): the statement recorded as "
        "incorrect held (holds); drop `incorrect` from the claim.\n"
        "  evidence:\n    (none)")
    seen = ClaimCheck(CLAIM, "cni-native-sidecar", "live")
    seen.note("HTTP 200")
    seen.note("HTTP 200 again")
    with pytest.raises(ClaimMismatch) as again:
        seen.conclude(True)
    assert str(again.value).endswith("  evidence:\n    HTTP 200\n    HTTP 200 again")
