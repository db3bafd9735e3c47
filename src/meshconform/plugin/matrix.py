"""The matrix and the central skips: which (mode x Istio version) each check runs in, which
tiers are kept, and why a check does not run. Checks never skip themselves (STYLE.md rule 3).

Everything here reads the check's markers (``claim``, a tier, ``requires``, ``evidence``,
``mode_independent``, ``probe_gateway``) and the run's options; nothing else decides a skip.
"""

from __future__ import annotations

import pytest

from meshconform import paths
from meshconform.claims import ANY_MODE, Outcome, get_catalog
from meshconform.errors import UsageError
from meshconform.evidence import FULL_DATA_PLANE, Evidence, missing_evidence
from meshconform.modes import Capability, Mode
from meshconform.options import TIERS, RunOptions
from meshconform.plugin.options import PROBE_KEY, run_options
from meshconform.versions import IstioRelease


def parametrize(metafunc: pytest.Metafunc, options: RunOptions) -> None:
    """Expand the ``mode`` and ``istio_release`` fixtures over the selected matrix."""
    if "mode" in metafunc.fixturenames:
        if metafunc.definition.get_closest_marker("mode_independent") is not None:
            # one run for all modes: fixtures see the first selected mode, the report "any"
            metafunc.parametrize("mode", options.modes[:1], ids=["any-mode"], scope="session")
        else:
            metafunc.parametrize(
                "mode", options.modes, ids=[m.name for m in options.modes], scope="session"
            )
    if "istio_release" in metafunc.fixturenames:
        metafunc.parametrize(
            "istio_release",
            options.istio,
            ids=[f"istio-{r.minor}" for r in options.istio],
            scope="session",
        )


def item_tier(item: pytest.Item) -> str | None:
    tiers = [t for t in TIERS if item.get_closest_marker(t)]
    if len(tiers) > 1:
        raise pytest.UsageError(f"{item.nodeid}: a check has one tier, got {tiers}")
    return tiers[0] if tiers else None


def item_claim_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("claim")
    if marker is None:
        return None
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise pytest.UsageError(f"{item.nodeid}: use @pytest.mark.claim('<claim id>')")
    claim_id: str = marker.args[0]
    if claim_id not in get_catalog():
        raise pytest.UsageError(
            f"{item.nodeid}: unknown claim {claim_id!r}; "
            "add it to src/meshconform/claims.yaml or fix the marker"
        )
    return claim_id


def item_manifests(item: pytest.Item) -> tuple[str, ...]:
    """The manifests the check applies (``claim(..., manifests=[...])``), paths under
    fixtures/; a path that is not there is a usage error naming it."""
    marker = item.get_closest_marker("claim")
    if marker is None:
        return ()
    given = marker.kwargs.get("manifests", ())
    if isinstance(given, str) or not all(isinstance(m, str) for m in given):
        raise pytest.UsageError(
            f"{item.nodeid}: manifests= takes a list of paths under fixtures/, got {given!r}"
        )
    root = paths.fixtures_dir()
    for relpath in given:
        if not (root / relpath).is_file():
            raise pytest.UsageError(
                f"{item.nodeid}: its claim marker names the manifest {relpath}, "
                f"which is not in {root}; fix the path or add the file"
            )
    return tuple(given)


def item_mode(item: pytest.Item) -> Mode | None:
    callspec = getattr(item, "callspec", None)
    mode = callspec.params.get("mode") if callspec else None
    return mode if isinstance(mode, Mode) else None


def item_release(item: pytest.Item) -> IstioRelease | None:
    callspec = getattr(item, "callspec", None)
    release = callspec.params.get("istio_release") if callspec else None
    return release if isinstance(release, IstioRelease) else None


def item_mode_name(item: pytest.Item) -> str | None:
    """The mode a check reports: its mode's name, or ``any`` for a mode_independent check."""
    mode = item_mode(item)
    if mode is None:
        return None
    return ANY_MODE if item.get_closest_marker("mode_independent") is not None else mode.name


def item_evidence(item: pytest.Item) -> frozenset[Evidence]:
    """What a live check's verdict rests on (its ``evidence`` marker; default: everything)."""
    marker = item.get_closest_marker("evidence")
    if marker is None:
        return FULL_DATA_PLANE
    return frozenset(Evidence(source) for source in marker.args)


def skip_reason(item: pytest.Item) -> str | None:
    """Why a check does not run in its mode, decided here and nowhere else."""
    mode = item_mode(item)
    if mode is None:
        return None
    options = run_options(item.config)
    claim_id = item_claim_id(item)
    if claim_id is not None:
        claim = get_catalog()[claim_id]
        if claim.product is not None and claim.product != options.product:
            return (
                f"claim {claim_id} is about product {claim.product}; "
                f"run with --product {claim.product}"
            )
        expectation = claim.expectation(item_mode_name(item) or mode.name)
        if expectation.outcome is Outcome.NOT_APPLICABLE:
            return f"claim {claim_id} does not apply to mode {mode.name}: {expectation.note}"
    for marker in item.iter_markers("requires"):
        for capability in marker.args:
            if Capability(capability) not in mode.capabilities:
                return f"mode {mode.name} does not support {Capability(capability).value}"
    if item_tier(item) == "live":
        return missing_evidence(options.cluster, item_evidence(item), mode.name)
    return None


def select(config: pytest.Config, items: list[pytest.Item]) -> list[pytest.Item]:
    """Deselect the tiers not asked for (and probe checks unless probing), mark the central
    skips, group live checks per mode for xdist; return the items kept."""
    options = run_options(config)
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    probing = PROBE_KEY in config.stash
    for item in items:
        tier = item_tier(item)
        claim_id = item_claim_id(item)
        item_manifests(item)
        if claim_id is not None and tier is None:
            raise pytest.UsageError(
                f"{item.nodeid}: a check bound to a claim needs a tier "
                "marker (static, dataplane or live)"
            )
        is_probe = item.get_closest_marker("probe_gateway") is not None
        if claim_id is not None and is_probe != probing:
            deselected.append(item)
            continue
        if tier is not None and tier not in options.tiers and not is_probe:
            deselected.append(item)
            continue
        reason = skip_reason(item)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))
        mode = item_mode(item)
        if tier == "live" and mode is not None:
            item.add_marker(pytest.mark.xdist_group(mode.name))
        kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    return kept


def istioctl_preflight(options: RunOptions, items: list[pytest.Item]) -> None:
    """Stop with ONE line when no Istio version the static checks need has an istioctl.

    Each static check would otherwise end ``error`` with the same traceback. When some
    versions have one, the checks of the others still end ``error`` with the reason.
    """
    needed: dict[str, IstioRelease] = {}
    for item in items:
        release = item_release(item)
        if (
            "istioctl_for" in getattr(item, "fixturenames", ())
            and release is not None
            and item.get_closest_marker("skip") is None
        ):
            needed[release.minor] = release
    if not needed:
        return
    from meshconform.static.istioctl import get_istioctl  # noqa: PLC0415

    problems = []
    for release in needed.values():
        try:
            get_istioctl(release, explicit=options.binaries.get("istioctl"))
        except UsageError as missing:
            problems.append(" ".join(str(missing).split()))
        else:
            return
    pytest.exit("; ".join(problems), returncode=pytest.ExitCode.USAGE_ERROR)
