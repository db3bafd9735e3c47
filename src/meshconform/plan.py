"""The plan: which checks a run would execute, found by pytest's own collection.

``meshconform plan`` and ``pytest --collect-only`` cannot disagree: the plan IS a
collection run of ``suites/`` with the same options, observed from inside.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from meshconform import paths
from meshconform.claims import get_catalog
from meshconform.errors import UsageError


@dataclass(frozen=True)
class PlannedCheck:
    nodeid: str
    claim: str
    tier: str
    mode: str
    istio_version: str | None
    skip: str | None


class _Collector:
    def __init__(self) -> None:
        self.checks: list[PlannedCheck] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from meshconform.plugin import (  # noqa: PLC0415 - needs a configured plugin
            item_claim_id,
            item_mode,
            item_tier,
        )

        for item in session.items:
            claim_id, tier, mode = item_claim_id(item), item_tier(item), item_mode(item)
            if claim_id is None or tier is None or mode is None:
                continue
            skip = item.get_closest_marker("skip")
            callspec = getattr(item, "callspec", None)
            release = callspec.params.get("istio_release") if callspec else None
            self.checks.append(
                PlannedCheck(
                    nodeid=item.nodeid,
                    claim=claim_id,
                    tier=tier,
                    mode=mode.name,
                    istio_version=getattr(release, "minor", None),
                    skip=str(skip.kwargs.get("reason", "")) if skip else None,
                )
            )


def collect_plan(args: Sequence[str]) -> list[PlannedCheck]:
    """Collect ``suites/`` with pytest options ``args``; raise UsageError on bad input."""
    collector = _Collector()
    suites = str(paths.repo_root() / "suites")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = pytest.main(
            [suites, "--collect-only", "-q", "-p", "no:cacheprovider", *args], plugins=[collector]
        )
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        text = (err.getvalue() + out.getvalue()).strip().splitlines()
        message = next(
            (line for line in text if "meshconform:" in line),
            text[-1] if text else f"pytest exited {code}",
        )
        raise UsageError(
            f"collecting the checks failed: {message.removeprefix('ERROR: ')}",
            "Fix the options above and run again",
        )
    return collector.checks


def plan_as_json(checks: Sequence[PlannedCheck]) -> dict[str, Any]:
    return {"checks": [c.__dict__ for c in checks]}


def render_plan(checks: Sequence[PlannedCheck], modes: Sequence[str]) -> str:
    """Per mode: each claim with its expectation and the tiers whose checks would run."""
    catalog = get_catalog()
    lines: list[str] = []
    for mode in modes:
        mine = [c for c in checks if c.mode == mode]
        run = [c for c in mine if c.skip is None]
        lines.append(f"{mode}: {len(run)} checks to run, {len(mine) - len(run)} skipped")
        for claim_id, claim in catalog.items():
            rows = [c for c in mine if c.claim == claim_id]
            if not rows:
                continue
            expectation = claim.expect[mode].outcome
            tiers = sorted({c.tier for c in rows if c.skip is None})
            if tiers:
                lines.append(f"  {claim_id:36} expect {expectation!s:7} tiers: {', '.join(tiers)}")
            else:
                lines.append(f"  {claim_id:36} skipped: {rows[0].skip}")
        lines.append("")
    return "\n".join(lines)
