"""Verdicts and the report: what each check concluded, gathered from this process or the
xdist workers, written as report.json / report.md at the end of the session.

A check's result travels on its ``TestReport`` (``user_properties``), so results from
workers reach the controller the same way as local ones. Phase timings (cluster, Istio,
product installs) are kept in :func:`phase_timings`, which the tiers' fixtures write to.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.claims import ANY_MODE, Verdict, get_catalog
from meshconform.errors import IstioctlError, UsageError
from meshconform.evidence import ClusterKind
from meshconform.options import TIERS
from meshconform.plugin.matrix import item_claim_id, item_mode_name, item_release, item_tier
from meshconform.plugin.options import run_options
from meshconform.report import ClaimResult, RunInfo, write_report
from meshconform.traffic import converge

RESULTS_KEY = pytest.StashKey[dict[str, ClaimResult]]()
#: worker -> phase -> seconds, as the workers reported them
TIMINGS_KEY = pytest.StashKey[dict[str, dict[str, float]]]()
#: phase -> seconds that THIS process did the work for
PHASES_KEY = pytest.StashKey[dict[str, float]]()
#: Istio minor -> how the static tier's istioctl was had (``Istioctl.build``)
BUILDS_KEY = pytest.StashKey[dict[str, str]]()
CHECK_KEY = pytest.StashKey[ClaimCheck]()
FLAPS_KEY = pytest.StashKey[list[converge.Flap]]()
RESULT_PROPERTY = "meshconform_result"
TIMINGS_PROPERTY = "meshconform_timings"
BUILD_PROPERTY = "meshconform_istio_build"


def start(config: pytest.Config) -> None:
    """Empty result stores, and the collector of reports (local and from workers)."""
    config.stash[RESULTS_KEY] = {}
    config.stash[TIMINGS_KEY] = {}
    config.stash[BUILDS_KEY] = {}
    config.stash[PHASES_KEY] = {}
    config.pluginmanager.register(ResultCollector(config), "meshconform-results")


def phase_timings(config: pytest.Config) -> dict[str, float]:
    """Seconds per phase (``cluster:<mode>``, ``istio:<mode>``, ``product:<mode>``) that this
    process did the work for; the tiers' fixtures add to it. The controller sums the
    workers' answers, so a cluster one worker created and another adopted counts once."""
    return config.stash.setdefault(PHASES_KEY, {})


def record_check(item: pytest.Item, check: ClaimCheck) -> None:
    """Keep the check's :class:`ClaimCheck` (its observation and evidence) for its result."""
    item.stash[CHECK_KEY] = check


def _verdict(
    report: pytest.TestReport, excinfo: pytest.ExceptionInfo[BaseException] | None
) -> Verdict:
    if report.skipped:
        return Verdict.SKIP
    if report.passed:
        return Verdict.PASS
    if report.when == "call" and excinfo is not None and excinfo.errisinstance(AssertionError):
        return Verdict.FAIL
    return Verdict.ERROR


def _static_istioctl(item: pytest.Item) -> object | None:
    """The static tier's istioctl this check used (its ``istioctl_for`` fixture), if any."""
    funcargs: dict[str, object] = getattr(item, "funcargs", None) or {}
    return funcargs.get("istioctl_for")


def result_for(
    item: pytest.Item,
    report: pytest.TestReport,
    excinfo: pytest.ExceptionInfo[BaseException] | None,
) -> ClaimResult | None:
    """The report row of a check bound to a claim, or None for any other test."""
    claim_id = item_claim_id(item)
    tier = item_tier(item)
    mode = item_mode_name(item)
    if claim_id is None or tier is None or mode is None:
        return None
    options = run_options(item.config)
    check = item.stash.get(CHECK_KEY, None)
    release = item_release(item)
    version = release.minor if release is not None else options.istio[0].minor
    evidence = list(check.evidence) if check else []
    verdict = _verdict(report, excinfo)
    flaps = item.stash.get(FLAPS_KEY, [])
    evidence += [str(flap) for flap in flaps]
    if verdict is Verdict.PASS and flaps:
        verdict = Verdict.FLAKY  # honest flakiness: converged, but only after disagreeing
    if verdict is Verdict.SKIP and isinstance(report.longrepr, tuple):
        evidence.append(str(report.longrepr[2]))
    elif verdict in (Verdict.FAIL, Verdict.ERROR) and excinfo is not None:
        evidence.append(excinfo.exconly())
    substituted = getattr(_static_istioctl(item), "substituted", None)
    if substituted:
        evidence.append(substituted)
    artifacts = None
    if verdict in (Verdict.FAIL, Verdict.ERROR) and tier == "live":
        from meshconform.plugin import live  # noqa: PLC0415 - only the live tier needs it

        artifacts = live.collect_failure_artifacts(item, options.artifacts_dir)
    return ClaimResult(
        id=claim_id,
        mode=mode,
        tier=tier,
        verdict=verdict,
        expected=str(get_catalog()[claim_id].expectation(mode).outcome),
        observed=str(check.observed) if check and check.observed else None,
        evidence="\n".join(evidence),
        duration_s=round(report.duration, 3),
        istio_version=version,
        check=item.nodeid,
        artifacts=artifacts,
    )


def _one_line(excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
    """Errors whose message says everything: a missing tool, istioctl's own failure."""
    return excinfo.errisinstance((UsageError, IstioctlError))


def record_flaps(item: pytest.Item) -> Generator[None, None, None]:
    """Around a check's call: record every traffic convergence loop it runs."""
    with converge.recording() as flaps:
        try:
            return (yield)
        finally:
            item.stash[FLAPS_KEY] = flaps


def annotate(
    item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport
) -> pytest.TestReport:
    """Put the check's result (and the istioctl build, and this process's phase timings)
    on its report; a missing tool or istioctl's own failure is one line, no traceback."""
    if report.failed and call.excinfo is not None and _one_line(call.excinfo):
        report.longrepr = call.excinfo.exconly()
    concluding = (
        report.when == "call"
        or (report.when == "setup" and not report.passed)
        or (report.when == "teardown" and report.failed)
    )
    if concluding:
        result = result_for(item, report, call.excinfo)
        if result is not None:
            report.user_properties.append((RESULT_PROPERTY, json.dumps(result.to_json())))
        istioctl = _static_istioctl(item)
        build = getattr(istioctl, "build", None)
        if isinstance(build, str):
            minor = getattr(getattr(istioctl, "release", None), "minor", "")
            report.user_properties.append((BUILD_PROPERTY, json.dumps([minor, build])))
    if report.when == "teardown":
        timings = dict(phase_timings(item.config))
        if timings:
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            report.user_properties.append((TIMINGS_PROPERTY, json.dumps([worker, timings])))
    return report


class ResultCollector:
    """Gathers the claim results that reports carry (from this process or xdist workers)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == RESULT_PROPERTY:
                result = ClaimResult.from_json(json.loads(str(value)))
                self.config.stash[RESULTS_KEY][result.check] = result
            elif name == BUILD_PROPERTY:
                minor, build = json.loads(str(value))
                self.config.stash[BUILDS_KEY][minor] = build
            elif name == TIMINGS_PROPERTY:
                worker, timings = json.loads(str(value))
                self.config.stash[TIMINGS_KEY][worker] = timings


def results(config: pytest.Config) -> list[ClaimResult]:
    return list(config.stash.get(RESULTS_KEY, {}).values())


def run_info(config: pytest.Config, rows: list[ClaimResult]) -> RunInfo:
    options = run_options(config)
    timings: dict[str, float] = {}
    for per_worker in config.stash[TIMINGS_KEY].values():
        for phase, seconds in per_worker.items():
            timings[phase] = timings.get(phase, 0.0) + seconds
    timings["checks"] = sum(r.duration_s for r in rows)
    kubernetes = None
    if options.live:
        from meshconform.plugin import live  # noqa: PLC0415 - only the live tier needs it

        kubernetes = live.kubernetes_version(config) or options.kubernetes
    release = options.istio[0]
    return RunInfo(
        modes=sorted(
            {r.mode for r in rows}, key=[*(m.name for m in options.modes), ANY_MODE].index
        ),
        tiers=[t for t in TIERS if any(r.tier == t for r in rows)],
        istio_version=", ".join(r.release for r in options.istio),
        istio_build=(
            f"release {release.release}"
            if options.live and options.cluster is not ClusterKind.CONTROLPLANE
            else "; ".join(
                f"{r.minor}: {config.stash[BUILDS_KEY].get(r.minor, r.build_note())}"
                for r in options.istio
            )
        ),
        kubernetes_version=kubernetes,
        cluster=str(options.cluster) if options.live else None,
        product=options.product,
        timings=timings,
        command=shlex.join(["pytest", *config.invocation_params.args]),
    )


def write(config: pytest.Config) -> None:
    """report.json, report.md (and the junit.xml pytest writes) in the report folder."""
    rows = results(config)
    if rows:
        write_report(rows, run_info(config, rows), run_options(config).report_dir)


def summarize(terminalreporter: Any, config: pytest.Config) -> None:
    rows = results(config)
    if not rows:
        return
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r.verdict)] = counts.get(str(r.verdict), 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    terminalreporter.write_sep("-", "meshconform")
    terminalreporter.write_line(f"claims checked: {summary}")
    terminalreporter.write_line(f"report: {Path(run_options(config).report_dir) / 'report.md'}")
