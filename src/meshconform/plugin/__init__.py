"""The meshconform pytest plugin (registered through the ``pytest11`` entry point).

It turns the options into a :class:`~meshconform.options.RunOptions`, expands the
matrix (modes x Istio versions), keeps only the selected tiers, skips centrally
where a claim is n/a or a capability is missing, groups live checks per mode for
xdist, and writes the report. Tier-specific fixtures live in ``plugin.live``,
``plugin.static`` and ``plugin.dataplane``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import shlex
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.claims import ANY_MODE, Outcome, Verdict, get_catalog
from meshconform.errors import IstioctlError, UsageError
from meshconform.evidence import FULL_DATA_PLANE, ClusterKind, Evidence, missing_evidence
from meshconform.modes import Capability, Mode
from meshconform.options import TIERS, RunOptions, parse_options
from meshconform.products import known_products
from meshconform.report import ClaimResult, RunInfo, write_report
from meshconform.setups import install_sigterm_interrupt
from meshconform.traffic import converge
from meshconform.traffic.cli import gateway_target
from meshconform.traffic.gateway import GatewayTarget
from meshconform.versions import IstioRelease
from meshconform.wait.waiters import Timeouts

OPTIONS_KEY = pytest.StashKey[RunOptions]()
RESULTS_KEY = pytest.StashKey[dict[str, ClaimResult]]()
TIMINGS_KEY = pytest.StashKey[dict[str, dict[str, float]]]()
#: Istio minor -> how the static tier's istioctl was had (``Istioctl.build``)
BUILDS_KEY = pytest.StashKey[dict[str, str]]()
CHECK_KEY = pytest.StashKey[ClaimCheck]()
PROBE_KEY = pytest.StashKey[GatewayTarget]()
FLAPS_KEY = pytest.StashKey[list[converge.Flap]]()
RESTORE_SIGTERM_KEY = pytest.StashKey[Callable[[], None]]()
RESULT_PROPERTY = "meshconform_result"
TIMINGS_PROPERTY = "meshconform_timings"
BUILD_PROPERTY = "meshconform_istio_build"

MARKERS = (
    "claim(id): binds a check to a claim of the catalog (src/meshconform/claims.yaml)",
    "requires(*capabilities): mode capabilities the check needs; the plugin skips centrally",
    "static: static tier (real istioctl, no cluster)",
    "dataplane: dataplane tier (real Envoy on loopback)",
    "live: live tier (a real cluster with Istio)",
    "workloads: area: pod lifecycle, jobs, start-up order, init containers, injection",
    "egress: area: egress control and DNS proxying",
    "gateway: area: ingress gateway routing and TLS",
    "security: area: mTLS and authorization",
    "probe_gateway: runs only with --probe-gateway, against that reachable gateway",
    "evidence(*sources): live tier: what the verdict rests on (meshconform.evidence); "
    "default the whole data plane; skipped centrally where the cluster cannot give it",
    "mode_independent: the check's subject is the same in every mode (a probed gateway, "
    "the dataplane's Envoy gateway): it runs and reports once, as mode 'any'",
)

#: fixture modules, one per tier, registered as plugins so their fixtures are visible
TIER_PLUGINS = (
    "meshconform.plugin.static",
    "meshconform.plugin.dataplane",
    "meshconform.plugin.live",
    "meshconform.plugin.products",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("meshconform", "meshconform conformance suite")
    group.addoption(
        "--mesh-mode",
        action="append",
        default=[],
        metavar="MODE",
        help="sidecar, cni, native-sidecar, cni-native-sidecar, ambient, or all (repeatable, "
        "comma separated; default all)",
    )
    group.addoption(
        "--istio-version",
        action="append",
        default=[],
        metavar="VERSION",
        help="supported Istio minor or patch, or all (static tier: several)",
    )
    group.addoption(
        "--tier",
        action="append",
        default=[],
        metavar="TIER",
        help="static, dataplane, live, or all (default: static,dataplane)",
    )
    group.addoption("--product", default=None, help="target product to install and check")
    group.addoption(
        "--kubernetes-version",
        default=None,
        metavar="MINOR",
        help="Kubernetes minor of the kind node image (default from versions.py)",
    )
    group.addoption(
        "--cluster",
        default=None,
        choices=("kind", "controlplane"),
        help="live tier: kind (default; Docker) or controlplane (a real API server, "
        "controllers and istiod as processes, no kubelet)",
    )
    group.addoption(
        "--istio-config",
        action="append",
        default=[],
        metavar="FILE",
        help="live tier: your IstioOperator or Helm values, layered on the mode's overlay",
    )
    group.addoption(
        "--kubeconfig",
        default=None,
        help="use this existing cluster instead of creating a kind cluster",
    )
    group.addoption("--context", default=None, help="kubeconfig context (with --kubeconfig)")
    group.addoption(
        "--keep-cluster",
        action="store_true",
        help="do not delete the kind clusters this run created",
    )
    group.addoption(
        "--reuse-cluster",
        action="store_true",
        help="use an existing kind cluster of the same name if there is one",
    )
    group.addoption(
        "--keep", action="store_true", help="keep each check's namespace for inspection"
    )
    group.addoption(
        "--report-dir",
        default=None,
        help="where report.json, report.md and junit.xml go (default meshconform-report)",
    )
    group.addoption(
        "--artifacts-dir",
        default=None,
        help="where failed checks' diagnostics go (default <report-dir>/artifacts)",
    )
    group.addoption(
        "--timeout-scale", type=float, default=1.0, help="multiply every timeout (slow machines)"
    )
    for tool in ("kind", "kubectl", "istioctl", "helm"):
        group.addoption(
            f"--{tool}",
            default=None,
            metavar="PATH",
            help=f"path of the {tool} binary (default: resolve it)",
        )
    probe = parser.getgroup(
        "meshconform probe", "the gateway claims against any reachable Istio ingress gateway"
    )
    probe.addoption(
        "--probe-gateway",
        default=None,
        metavar="HOST:PORT",
        help="the gateway's HTTPS address; runs only the gateway probe checks, no cluster needed",
    )
    probe.addoption("--probe-host", default=None, help="a host one Gateway server serves")
    probe.addoption(
        "--probe-ca",
        default=None,
        type=Path,
        metavar="CA.pem",
        help="CA (PEM) that signed that host's certificate",
    )
    probe.addoption("--probe-http-port", type=int, default=80)
    probe.addoption("--probe-health-port", type=int, default=15021)
    probe.addoption("--probe-path", default="/")


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def _options_from(config: pytest.Config) -> RunOptions:
    get = config.getoption
    return parse_options(
        mesh_modes=get("mesh_mode"),
        istio_versions=get("istio_version"),
        tiers=get("tier"),
        product=get("product"),
        kubernetes=get("kubernetes_version"),
        kubeconfig=get("kubeconfig"),
        context=get("context"),
        keep_cluster=get("keep_cluster"),
        reuse_cluster=get("reuse_cluster"),
        keep_namespaces=get("keep"),
        report_dir=get("report_dir"),
        artifacts_dir=get("artifacts_dir"),
        timeout_scale=get("timeout_scale"),
        binaries={t: get(t) for t in ("kind", "kubectl", "istioctl", "helm")},
        known_products=known_products(),
        cluster=get("cluster"),
        istio_config=get("istio_config"),
    )


def _probe_target_from(config: pytest.Config) -> GatewayTarget | None:
    """The gateway named by --probe-* options, checked like ``meshconform probe gateway``."""
    get = config.getoption
    given = {name: get(name) for name in ("probe_gateway", "probe_host", "probe_ca")}
    if not any(given.values()):
        return None
    missing = [f"--{n.replace('_', '-')}" for n, v in given.items() if not v]
    if missing:
        raise UsageError(
            f"probing a gateway needs {', '.join(missing)} too",
            "Pass --probe-gateway HOST:PORT --probe-host NAME --probe-ca CA.pem",
        )
    return gateway_target(
        argparse.Namespace(
            address=get("probe_gateway"),
            host=get("probe_host"),
            ca=get("probe_ca"),
            http_port=get("probe_http_port"),
            health_port=get("probe_health_port"),
            path=get("probe_path"),
        )
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    try:
        options = _options_from(config)
    except UsageError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[OPTIONS_KEY] = options
    # SIGTERM (a cancelled CI job) ends the run like Ctrl-C, so clean-up runs
    config.stash[RESTORE_SIGTERM_KEY] = install_sigterm_interrupt()
    config.stash[RESULTS_KEY] = {}
    config.stash[TIMINGS_KEY] = {}
    config.stash[BUILDS_KEY] = {}
    config.pluginmanager.register(ResultCollector(config), "meshconform-results")
    for name in TIER_PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as missing:  # a tier still being written
            if missing.name != name:
                raise
            continue
        if not config.pluginmanager.is_registered(module):
            config.pluginmanager.register(module, name)
    explicit = bool(config.getoption("tier") or config.getoption("report_dir"))
    if explicit and _is_controller(config) and not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(options.report_dir / "junit.xml")
    try:
        probe = _probe_target_from(config)
    except UsageError as error:
        raise pytest.UsageError(str(error)) from None
    if probe is not None:
        config.stash[PROBE_KEY] = probe
        return  # probing a reachable gateway needs no cluster
    if options.live and not config.option.collectonly:
        # --collect-only (and `meshconform plan`) must list live checks without Docker
        from meshconform.plugin import live  # noqa: PLC0415 - only the live tier needs it

        try:
            live.live_session_start(config, options)
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None


def pytest_unconfigure(config: pytest.Config) -> None:
    restore = config.stash.get(RESTORE_SIGTERM_KEY, None)
    if restore is not None:
        restore()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    options = metafunc.config.stash[OPTIONS_KEY]
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


def item_mode(item: pytest.Item) -> Mode | None:
    callspec = getattr(item, "callspec", None)
    mode = callspec.params.get("mode") if callspec else None
    return mode if isinstance(mode, Mode) else None


def item_mode_name(item: pytest.Item) -> str | None:
    """The mode a check reports: its mode's name, or ``any`` for a mode_independent check."""
    mode = item_mode(item)
    if mode is None:
        return None
    return ANY_MODE if item.get_closest_marker("mode_independent") is not None else mode.name


def skip_reason(item: pytest.Item) -> str | None:
    """Why a check does not run in its mode, decided here and nowhere else."""
    mode = item_mode(item)
    if mode is None:
        return None
    claim_id = item_claim_id(item)
    if claim_id is not None:
        claim = get_catalog()[claim_id]
        selected = item.config.stash[OPTIONS_KEY].product
        if claim.product is not None and claim.product != selected:
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
        options = item.config.stash[OPTIONS_KEY]
        return missing_evidence(options.cluster, item_evidence(item), mode.name)
    return None


def item_evidence(item: pytest.Item) -> frozenset[Evidence]:
    """What a live check's verdict rests on (its ``evidence`` marker; default: everything)."""
    marker = item.get_closest_marker("evidence")
    if marker is None:
        return FULL_DATA_PLANE
    return frozenset(Evidence(source) for source in marker.args)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    options = config.stash[OPTIONS_KEY]
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    probing = PROBE_KEY in config.stash
    for item in items:
        tier = item_tier(item)
        claim_id = item_claim_id(item)
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
    if _is_controller(config) and not config.option.collectonly:
        _istioctl_preflight(kept)


def _istioctl_preflight(items: list[pytest.Item]) -> None:
    """Stop with ONE line when no Istio version the static checks need has an istioctl.

    Each static check would otherwise end ``error`` with the same traceback. When some
    versions have one, the checks of the others still end ``error`` with the reason.
    """
    needed: dict[str, IstioRelease] = {}
    for item in items:
        callspec = getattr(item, "callspec", None)
        release = callspec.params.get("istio_release") if callspec else None
        if (
            "istioctl_for" in getattr(item, "fixturenames", ())
            and isinstance(release, IstioRelease)
            and item.get_closest_marker("skip") is None
        ):
            needed[release.minor] = release
    if not needed:
        return
    from meshconform.static.istioctl import get_istioctl  # noqa: PLC0415

    problems = []
    for release in needed.values():
        try:
            get_istioctl(release)
        except UsageError as missing:
            problems.append(" ".join(str(missing).split()))
        else:
            return
    pytest.exit("; ".join(problems), returncode=pytest.ExitCode.USAGE_ERROR)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def run_options(pytestconfig: pytest.Config) -> RunOptions:
    return pytestconfig.stash[OPTIONS_KEY]


@pytest.fixture(scope="session")
def timeouts(run_options: RunOptions) -> Timeouts:
    return Timeouts().scaled(run_options.timeout_scale)


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
    callspec = getattr(node, "callspec", None)
    release = callspec.params.get("istio_release") if callspec else None
    options = request.config.stash[OPTIONS_KEY]
    version = release.minor if isinstance(release, IstioRelease) else options.istio[0].minor
    check = ClaimCheck(get_catalog()[claim_id], item_mode_name(node) or mode.name, tier, version)
    if tier == "live":
        check.origin = str(options.cluster)
    node.stash[CHECK_KEY] = check
    return check


# ---------------------------------------------------------------- results


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


def _result_for(
    item: pytest.Item,
    report: pytest.TestReport,
    excinfo: pytest.ExceptionInfo[BaseException] | None,
) -> ClaimResult | None:
    claim_id = item_claim_id(item)
    tier = item_tier(item)
    mode = item_mode_name(item)
    if claim_id is None or tier is None or mode is None:
        return None
    options = item.config.stash[OPTIONS_KEY]
    check = item.stash.get(CHECK_KEY, None)
    callspec = getattr(item, "callspec", None)
    release = callspec.params.get("istio_release") if callspec else None
    version = release.minor if isinstance(release, IstioRelease) else options.istio[0].minor
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
        from meshconform.plugin import live  # noqa: PLC0415

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


def _static_istioctl(item: pytest.Item) -> object | None:
    """The static tier's istioctl this check used (its ``istioctl_for`` fixture), if any."""
    funcargs: dict[str, object] = getattr(item, "funcargs", None) or {}
    return funcargs.get("istioctl_for")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Record every traffic convergence loop the check runs (probes.converge.Flap)."""
    with converge.recording() as flaps:
        try:
            return (yield)
        finally:
            item.stash[FLAPS_KEY] = flaps


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and call.excinfo is not None and _one_line(call.excinfo):
        # istioctl's own message (or a missing tool's) is the whole story: no traceback
        report.longrepr = call.excinfo.exconly()
    concluding = (
        report.when == "call"
        or (report.when == "setup" and not report.passed)
        or (report.when == "teardown" and report.failed)
    )
    if concluding:
        result = _result_for(item, report, call.excinfo)
        if result is not None:
            report.user_properties.append((RESULT_PROPERTY, json.dumps(result.to_json())))
        istioctl = _static_istioctl(item)
        build = getattr(istioctl, "build", None)
        if isinstance(build, str):
            minor = getattr(getattr(istioctl, "release", None), "minor", "")
            report.user_properties.append((BUILD_PROPERTY, json.dumps([minor, build])))
    if report.when == "teardown" and "meshconform.plugin.live" in sys.modules:
        timings = sys.modules["meshconform.plugin.live"].phase_timings(item.config)
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


def _run_info(config: pytest.Config, results: list[ClaimResult]) -> RunInfo:
    options = config.stash[OPTIONS_KEY]
    timings: dict[str, float] = {}
    for per_worker in config.stash[TIMINGS_KEY].values():
        for phase, seconds in per_worker.items():
            timings[phase] = timings.get(phase, 0.0) + seconds
    timings["checks"] = sum(r.duration_s for r in results)
    kubernetes = None
    if options.live:
        from meshconform.plugin import live  # noqa: PLC0415

        kubernetes = live.kubernetes_version(config) or options.kubernetes
    release = options.istio[0]
    return RunInfo(
        modes=sorted(
            {r.mode for r in results}, key=[*(m.name for m in options.modes), ANY_MODE].index
        ),
        tiers=[t for t in TIERS if any(r.tier == t for r in results)],
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


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # trylast: pytest's own sessionfinish (runner) tears down the session fixtures
    # that are still set up after -x or Ctrl-C (the shared namespaces of
    # suites/conftest.py); that must happen before the clusters are deleted and
    # their clients closed, or every teardown fails against a dead API server.
    config = session.config
    if not _is_controller(config) or OPTIONS_KEY not in config.stash:
        return
    options = config.stash[OPTIONS_KEY]
    results = list(config.stash[RESULTS_KEY].values())
    try:
        if results:
            write_report(results, _run_info(config, results), options.report_dir)
    finally:
        if options.live and not config.option.collectonly:
            from meshconform.plugin import live  # noqa: PLC0415

            live.live_session_finish(config)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if OPTIONS_KEY not in config.stash:
        return
    results = list(config.stash[RESULTS_KEY].values())
    if not results:
        return
    options = config.stash[OPTIONS_KEY]
    counts: dict[str, int] = {}
    for r in results:
        counts[str(r.verdict)] = counts.get(str(r.verdict), 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    terminalreporter.write_sep("-", "meshconform")
    terminalreporter.write_line(f"claims checked: {summary}")
    terminalreporter.write_line(f"report: {Path(options.report_dir) / 'report.md'}")
