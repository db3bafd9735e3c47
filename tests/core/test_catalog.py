"""The claims catalog is complete, consistent and sourced."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from meshconform import paths
from meshconform.claims import CatalogError, Outcome, get_catalog, parse_catalog, workarounds_for
from meshconform.modes import MODES

SEED_CLAIMS = {
    "job-completes", "job-completes-without-injection", "job-completes-with-quitquitquit",
    "proxy-ready-before-app", "init-container-network", "init-container-bypass-workaround",
    "egress-registry-only-blocks", "egress-service-entry-allows-http",
    "egress-service-entry-allows-tls", "dns-proxy-resolves-service-entry", "dns-auto-allocate",
    "gateway-routes-by-host", "gateway-tls-simple", "gateway-tls-sni-match",
    "gateway-https-redirect", "gateway-health", "mtls-strict-rejects-plaintext",
    "mtls-permissive-accepts-plaintext", "authz-deny", "injection-not-by-default",
    "native-sidecar-injected-as-init", "classic-sidecar-forced",
}


def raw_catalog() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(paths.package_data("claims.yaml").read_text())
    return loaded


def test_catalog_has_every_seed_claim() -> None:
    assert set(get_catalog()) >= SEED_CLAIMS


@pytest.mark.parametrize("claim_id", sorted(SEED_CLAIMS))
def test_claim_is_sourced_and_covers_every_mode(claim_id: str) -> None:
    claim = get_catalog()[claim_id]
    assert claim.sources
    assert all(len(s) > 10 for s in claim.sources)
    assert set(claim.expect) == set(MODES)
    assert claim.title.split()[0][0].isupper()
    assert any(word in claim.title for word in ("MUST", "SHOULD", "MAY")), claim.title


def test_every_broken_outcome_names_a_workaround_that_holds_or_says_why() -> None:
    for claim in get_catalog().values():
        for mode, expectation in claim.expect.items():
            if expectation.outcome is Outcome.BROKEN:
                assert workarounds_for(claim, mode) or claim.workaround_note, (claim.id, mode)


def test_job_claims_follow_the_documented_matrix() -> None:
    job = get_catalog()["job-completes"]
    assert [job.expect[m].outcome for m in MODES] == [
        Outcome.BROKEN, Outcome.BROKEN, Outcome.HOLDS, Outcome.HOLDS, Outcome.HOLDS]
    assert {w.id for w in workarounds_for(job, "sidecar")} == {
        "job-completes-without-injection", "job-completes-with-quitquitquit",
        "job-completes-with-envoy-quitquitquit"}


#: issue 12: claims split or added from the products' guides
ISSUE_12_CLAIMS = {
    "job-completes-with-envoy-quitquitquit", "init-container-bypass-hostname-uid1337",
    "init-container-bypass-hostname-exclude-ranges", "kubeflow-sidecar-egress-pruning",
    "speedscale-pre-install-job-completes", "speedscale-istio-cni-annotation",
    "deploykf-gateway-service-entry", "deploykf-https-redirect-307",
    "deploykf-permissive-bypasses-authz",
}


@pytest.mark.parametrize("claim_id", sorted(ISSUE_12_CLAIMS))
def test_new_claims_are_sourced_for_every_mode(claim_id: str) -> None:
    claim = get_catalog()[claim_id]
    assert len(claim.sources) >= 1
    assert set(claim.expect) == set(MODES)
    assert "cni-native-sidecar" in claim.expect


def test_kubeflow_default_layout_is_a_mode() -> None:
    """Kubeflow installs CNI with ENABLE_NATIVE_SIDECARS=true: its own mode, with its own ports."""
    mode = MODES["cni-native-sidecar"]
    overlay = yaml.safe_load(mode.istio_overlay.read_text())["spec"]
    assert overlay["components"]["cni"]["enabled"] is True
    assert overlay["values"]["pilot"]["env"]["ENABLE_NATIVE_SIDECARS"] == "true"
    assert mode.kind_config.is_file()


def test_deploykf_permissive_statement_is_recorded_as_incorrect() -> None:
    claim = get_catalog()["deploykf-permissive-bypasses-authz"]
    assert claim.incorrect is not None
    assert claim.incorrect.sources
    assert "plaintext" in claim.incorrect.statement


def _mutated(path: list[str | int], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(raw_catalog())
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


@pytest.mark.parametrize(("path", "value", "message"), [
    (["claims", 0, "sources"], [], "sources must be a non-empty list"),
    (["claims", 0, "expect", "ambient"], KeyError, "lacks ['ambient']"),
    (["claims", 0, "expect", "ambient", "outcome"], "works", "outcome must be one of"),
    (["claims", 0, "workaround"], ["no-such-claim"], "workaround no-such-claim is not a claim"),
    (["claims", 0, "workaround"], [], "broken in sidecar but no workaround holds"),
    (["claims", 1, "expect", "ambient", "note"], "", "n/a without a note"),
    (["claims", 1, "id"], "job-completes", "appears twice"),
    (["claims", 0, "title"], "", "missing title"),
    (["claims", 0, "expect", "cni-native-sidecar"], KeyError, "lacks ['cni-native-sidecar']"),
    (["claims", 0, "sources"], KeyError, "sources must be a non-empty list"),
    (["claims", 0, "incorrect"], {"statement": "x"}, "incorrect needs a statement"),
])
def test_malformed_catalog_is_rejected_with_the_claim_named(
    path: list[str | int], value: Any, message: str
) -> None:
    with pytest.raises(CatalogError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_catalog(_mutated(path, value))
