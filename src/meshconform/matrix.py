"""A nightly matrix cell that could not run still shows up: every claim ``error``, with why.

A cell whose Istio version cannot be installed, whose tools cannot be fetched, or
whose job was cancelled writes no report of its own; without one it would vanish
from the merged matrix, which would then look greener than it is.
``meshconform error-report`` writes the report such a cell should have had.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshconform.claims import Outcome, Verdict, get_catalog
from meshconform.modes import get_mode
from meshconform.report import ClaimResult, RunInfo, write_report
from meshconform.versions import get_istio_release


def error_cell(
    *, mode: str, istio_version: str, product: str | None, reason: str, report_dir: Path
) -> dict[str, Any]:
    """Write report.json/report.md for a cell that did not run; every applicable claim errs."""
    release = get_istio_release(istio_version)
    name = get_mode(mode).name
    reason = " ".join(reason.split()) or "the cell produced no report"
    results = [
        ClaimResult(
            id=claim.id,
            mode=name,
            tier="live",
            verdict=Verdict.ERROR,
            expected=str(claim.expect[name].outcome),
            evidence=f"the cell did not run: {reason}",
            istio_version=release.minor,
            check=f"(cell {name} x Istio {release.minor})",
        )
        for claim in get_catalog().values()
        if claim.expect[name].outcome is not Outcome.NOT_APPLICABLE
        and (claim.product is None or claim.product == product)
    ]
    info = RunInfo(
        modes=[name],
        tiers=["live"],
        istio_version=release.release,
        istio_build=f"release {release.release}",
        product=product,
        command=f"meshconform error-report (cell {name} x Istio {release.minor})",
    )
    return write_report(results, info, report_dir)
