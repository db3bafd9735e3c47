"""The claims catalog: behaviours as data (``claims.yaml`` beside this module)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from meshconform import paths
from meshconform.errors import UsageError
from meshconform.modes import MODES


class Outcome(enum.StrEnum):
    """What the documentation leads a user to expect in one mode."""

    HOLDS = "holds"
    BROKEN = "broken"
    NOT_APPLICABLE = "n/a"


class Verdict(enum.StrEnum):
    """How a check ended: the report's vocabulary."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"
    #: the outcome was as documented, but the traffic observations disagreed before
    #: they converged: never reported as a pass (the evidence holds the sequence seen)
    FLAKY = "flaky"


@dataclass(frozen=True)
class Expectation:
    outcome: Outcome
    note: str = ""


#: the "mode" of a check whose subject is the same in every mode (marker
#: ``mode_independent``): it runs and reports once, with this mode name
ANY_MODE = "any"


@dataclass(frozen=True)
class Incorrect:
    """A documented statement the suite shows to be wrong: what really happens, and why."""

    statement: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Claim:
    id: str
    area: str
    title: str
    sources: tuple[str, ...]
    expect: Mapping[str, Expectation]
    workaround: tuple[str, ...] = ()
    workaround_note: str = ""
    #: set for a claim about one target product; checked only with ``--product <name>``
    product: str | None = None
    #: set when the claim records a statement the suite shows to be incorrect
    incorrect: Incorrect | None = None

    def expectation(self, mode: str) -> Expectation:
        """The expectation in ``mode``; for :data:`ANY_MODE` the one every mode shares."""
        if mode != ANY_MODE:
            return self.expect[mode]
        outcomes = {e.outcome for e in self.expect.values()}
        if len(outcomes) != 1:
            raise CatalogError(
                f"claim {self.id} expects different outcomes per mode; a check of it cannot "
                "be mode_independent"
            )
        notes = {e.note for e in self.expect.values()}
        return Expectation(outcomes.pop(), notes.pop() if len(notes) == 1 else "")

    def applies_to(self, mode: str) -> bool:
        return self.expect[mode].outcome is not Outcome.NOT_APPLICABLE


class CatalogError(ValueError):
    """The catalog file is malformed; the message names the claim and the field."""


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(s, str) and s for s in value)


def _parse_incorrect(cid: str, raw: Any) -> Incorrect | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("statement"), str)
        or not raw["statement"]
        or not _strings(raw.get("sources"))
    ):
        raise CatalogError(
            f"claim {cid}: incorrect needs a statement (what really happens) and sources"
        )
    return Incorrect(raw["statement"], tuple(raw["sources"]))


def _parse_claim(raw: Mapping[str, Any]) -> Claim:
    cid = raw.get("id")
    if not isinstance(cid, str) or not cid:
        raise CatalogError(f"a claim has no id: {raw!r}")
    for key in ("area", "title"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise CatalogError(f"claim {cid}: missing {key}")
    sources = raw.get("sources")
    if not isinstance(sources, list) or not _strings(sources):
        raise CatalogError(f"claim {cid}: sources must be a non-empty list of strings")
    expect_raw = raw.get("expect")
    if not isinstance(expect_raw, dict):
        raise CatalogError(f"claim {cid}: expect must map every mode to an outcome")
    unknown = set(expect_raw) - set(MODES)
    missing = set(MODES) - set(expect_raw)
    if unknown or missing:
        raise CatalogError(
            f"claim {cid}: expect has unknown modes {sorted(unknown)} / lacks {sorted(missing)}"
        )
    expect: dict[str, Expectation] = {}
    for mode, value in expect_raw.items():
        try:
            outcome = Outcome(value["outcome"])
        except (KeyError, TypeError, ValueError):
            raise CatalogError(
                f"claim {cid}: mode {mode}: outcome must be one of {[o.value for o in Outcome]}"
            ) from None
        note = value.get("note", "")
        if outcome is Outcome.NOT_APPLICABLE and not note:
            raise CatalogError(f"claim {cid}: mode {mode} is n/a without a note saying why")
        expect[mode] = Expectation(outcome, note)
    return Claim(
        id=cid,
        area=raw["area"],
        title=raw["title"],
        sources=tuple(sources),
        expect={m: expect[m] for m in MODES},
        workaround=tuple(raw.get("workaround", ())),
        workaround_note=raw.get("workaround_note", ""),
        product=raw.get("product"),
        incorrect=_parse_incorrect(cid, raw.get("incorrect")),
    )


def parse_catalog(document: Mapping[str, Any]) -> dict[str, Claim]:
    """Parse and check a catalog document: ids unique, workarounds resolve."""
    raw_claims = document.get("claims")
    if not isinstance(raw_claims, list) or not raw_claims:
        raise CatalogError("the catalog has no claims list")
    catalog: dict[str, Claim] = {}
    for raw in raw_claims:
        claim = _parse_claim(raw)
        if claim.id in catalog:
            raise CatalogError(f"claim id {claim.id} appears twice")
        catalog[claim.id] = claim
    for claim in catalog.values():
        for target in claim.workaround:
            if target not in catalog:
                raise CatalogError(f"claim {claim.id}: workaround {target} is not a claim")
        for mode, exp in claim.expect.items():
            if exp.outcome is not Outcome.BROKEN:
                continue
            fixes = [
                w for w in claim.workaround if catalog[w].expect[mode].outcome is Outcome.HOLDS
            ]
            if not fixes and not claim.workaround_note:
                raise CatalogError(
                    f"claim {claim.id}: broken in {mode} but no workaround holds there "
                    "and no workaround_note says why"
                )
    return catalog


def builtin_document() -> dict[str, Any]:
    """claims.yaml as shipped with the package."""
    loaded: dict[str, Any] = yaml.safe_load(
        paths.package_data("claims.yaml").read_text(encoding="utf-8")
    )
    return loaded


def builtin_claim_ids() -> set[str]:
    return {c["id"] for c in builtin_document()["claims"]}


def _recipe_claims() -> list[dict[str, Any]]:
    """Claims that installed product recipes bring (``RecipeSource.claims_file``)."""
    from meshconform.products import discover  # noqa: PLC0415 - entry points load lazily

    found: list[dict[str, Any]] = []
    for source in discover().values():
        if source.claims_file is None:
            continue
        raw = yaml.safe_load(source.claims_file.read_text(encoding="utf-8")) or {}
        claims = raw.get("claims") if isinstance(raw, dict) else None
        if not isinstance(claims, list) or not claims:
            raise CatalogError(f"recipe {source.name}: {source.claims_file} has no claims list")
        for claim in claims:
            if not isinstance(claim, dict) or claim.get("product") != source.name:
                cid = claim.get("id") if isinstance(claim, dict) else claim
                raise CatalogError(
                    f"recipe {source.name}: claim {cid!r} in {source.claims_file} "
                    f"must carry product: {source.name}"
                )
        found.extend(claims)
    return found


@cache
def get_catalog() -> dict[str, Claim]:
    """The catalog shipped with the package plus the claims of installed product recipes,
    parsed and checked once (every claim: sources, and an expectation for every mode)."""
    document = builtin_document()
    return parse_catalog({"claims": [*document["claims"], *_recipe_claims()]})


def get_claim(claim_id: str) -> Claim:
    try:
        return get_catalog()[claim_id]
    except KeyError:
        raise UsageError(
            f"unknown claim {claim_id!r}",
            "List the catalog with 'meshconform claims'",
        ) from None


def workarounds_for(claim: Claim, mode: str) -> Sequence[Claim]:
    """The workaround claims that hold in ``mode`` for a claim that is broken there."""
    catalog = get_catalog()
    return [
        catalog[w] for w in claim.workaround if catalog[w].expect[mode].outcome is Outcome.HOLDS
    ]
