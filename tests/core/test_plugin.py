"""The plugin: matrix expansion, central skips, tier selection, results and report."""

from __future__ import annotations

import json

import pytest

CHECKS = '''
import pytest
from meshconform.claims import Outcome
from meshconform.modes import Capability


@pytest.mark.static
@pytest.mark.claim("job-completes")
def test_job(claim, mode):
    """A Job MUST complete (observed from a variable the test sets)."""
    claim.conclude(OBSERVED[mode.name], f"observed in {mode.name}")


@pytest.mark.static
@pytest.mark.claim("classic-sidecar-forced")
@pytest.mark.requires(Capability.CLASSIC_SIDECAR)
def test_classic(claim, mode):
    claim.conclude(True)


@pytest.mark.dataplane
@pytest.mark.claim("gateway-health")
@pytest.mark.requires(Capability.ZTUNNEL)
def test_needs_ztunnel(claim, mode):
    claim.conclude(True)


@pytest.mark.static
@pytest.mark.claim("gateway-health")
def test_crashes(claim, mode):
    raise RuntimeError("istioctl exploded")
'''


def write_checks(pytester: pytest.Pytester, observed: dict[str, bool]) -> None:
    pytester.makepyfile(test_checks=f"OBSERVED = {observed!r}\n" + CHECKS)


AS_DOCUMENTED = {"sidecar": False, "cni": False, "native-sidecar": True,
                 "cni-native-sidecar": True, "ambient": True}


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--report-dir", "rep", *args)


def load(pytester: pytest.Pytester) -> dict[str, object]:
    data: dict[str, object] = json.loads((pytester.path / "rep" / "report.json").read_text())
    return data


def test_checks_expand_over_modes_and_skip_centrally(pytester: pytest.Pytester) -> None:
    write_checks(pytester, AS_DOCUMENTED)
    result = run(pytester, "--tier", "static", "-k", "not crashes", "-rs")
    result.assert_outcomes(passed=7, skipped=3, deselected=10)
    result.stdout.fnmatch_lines([
        "*claim classic-sidecar-forced does not apply to mode native-sidecar*",
        "*claim classic-sidecar-forced does not apply to mode cni-native-sidecar*",
        "*claim classic-sidecar-forced does not apply to mode ambient*",
    ])


def test_capability_skip_names_mode_and_capability(pytester: pytest.Pytester) -> None:
    write_checks(pytester, AS_DOCUMENTED)
    result = run(pytester, "--tier", "dataplane", "--mesh-mode", "cni", "-rs")
    result.assert_outcomes(skipped=1, deselected=3)
    result.stdout.fnmatch_lines(["*mode cni does not support ztunnel*"])


def test_documented_failure_that_does_not_happen_fails_as_outdated(
    pytester: pytest.Pytester,
) -> None:
    write_checks(pytester, {**AS_DOCUMENTED, "sidecar": True})
    result = run(pytester, "--tier", "static", "-k", "test_job")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*expected broken, observed holds: documentation outdated*"])
    rows = {r["mode"]: r for r in load(pytester)["claims"]}  # type: ignore[union-attr]
    assert rows["sidecar"]["verdict"] == "fail"
    assert rows["sidecar"]["finding"] == "documentation outdated"
    assert rows["cni"]["verdict"] == "pass"
    assert rows["cni"]["finding"] == "as documented"


def test_errors_are_not_failures(pytester: pytest.Pytester) -> None:
    write_checks(pytester, AS_DOCUMENTED)
    run(pytester, "--tier", "static", "-k", "crashes", "--mesh-mode", "cni")
    (row,) = load(pytester)["claims"]  # type: ignore[misc]
    assert row["verdict"] == "error"
    assert "RuntimeError: istioctl exploded" in row["evidence"]


def test_report_and_junit_are_written(pytester: pytest.Pytester) -> None:
    write_checks(pytester, AS_DOCUMENTED)
    run(pytester, "--tier", "static", "-k", "test_job")
    report = load(pytester)
    assert report["summary"] == {"pass": 5, "fail": 0, "skip": 0, "error": 0, "total": 5}
    assert (pytester.path / "rep" / "junit.xml").is_file()
    assert "| `job-completes` |" in (pytester.path / "rep" / "report.md").read_text()


def test_unknown_claim_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad='''
import pytest
@pytest.mark.static
@pytest.mark.claim("jobs-complete")
def test_x(claim, mode):
    pass
''')
    result = run(pytester, "--tier", "static")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown claim 'jobs-complete'*"])


def test_claim_without_tier_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad='''
import pytest
@pytest.mark.claim("job-completes")
def test_x(claim, mode):
    pass
''')
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*needs a tier marker*"])


@pytest.mark.parametrize(("args", "message"), [
    (["--mesh-mode", "istio-init"], "*unknown mesh mode 'istio-init'*Use one of*"),
    (["--istio-version", "1.12"], "*Istio version '1.12' is not supported*"),
    (["--tier", "smoke"], "*unknown tier 'smoke'*"),
])
def test_bad_options_are_one_line_without_traceback(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    write_checks(pytester, AS_DOCUMENTED)
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()
    assert not (pytester.path / "rep").exists()


def test_session_end_runs_after_pytest_tears_down_session_fixtures() -> None:
    """After -x or Ctrl-C, pytest tears the session fixtures (the suites' shared namespaces)
    down in its own pytest_sessionfinish; the clusters must still exist then."""
    import meshconform.plugin as plugin  # noqa: PLC0415

    options = getattr(plugin.pytest_sessionfinish, "pytest_impl")  # noqa: B009
    assert options["trylast"] is True


SETUP_TROUBLE = '''
import pytest
from meshconform.wait import WaitFailed, WaitTimeout


@pytest.mark.static
@pytest.mark.claim("gateway-health")
def test_wait(claim, mode):
    raise WaitTimeout("pod x/echo Ready: not reached within 120s; last seen: ErrImagePull")


@pytest.mark.static
@pytest.mark.claim("job-completes")
def test_pull(claim, mode):
    raise WaitFailed("pod x/client Ready: cannot succeed any more: ImagePullBackOff")


@pytest.mark.static
@pytest.mark.claim("dns-auto-allocate")
def test_contradicted(claim, mode):
    claim.conclude(not (claim.expected.value == "holds"), "observed the opposite")
'''


def test_setup_trouble_is_error_and_only_a_contradiction_is_fail(
    pytester: pytest.Pytester,
) -> None:
    """Defect 2 (issue 10): a wait that times out or cannot succeed (image pull, exec
    timeout) means the suite could not decide: ``error``. Only an observation that
    contradicts the claim is ``fail``."""
    pytester.makepyfile(test_trouble=SETUP_TROUBLE)
    run(pytester, "--tier", "static", "--mesh-mode", "cni")
    rows = {r["check"].split("::")[1].split("[")[0]: r
            for r in load(pytester)["claims"]}  # type: ignore[union-attr]
    assert rows["test_wait"]["verdict"] == "error"
    assert "ErrImagePull" in rows["test_wait"]["evidence"]
    assert rows["test_pull"]["verdict"] == "error"
    assert rows["test_contradicted"]["verdict"] == "fail"


def test_wait_errors_are_not_assertions() -> None:
    from meshconform.wait import WaitFailed, WaitTimeout  # noqa: PLC0415

    assert not issubclass(WaitTimeout, AssertionError)
    assert not issubclass(WaitFailed, AssertionError)
