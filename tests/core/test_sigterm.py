"""Defect 10 (issue 10): SIGTERM (a cancelled CI job) during the Istio install or the
checks ends the run through pytest's own shutdown, so the session hooks clean up: the
shared namespaces are deleted and the clusters this run created are removed."""

from __future__ import annotations

import signal

import pytest

CHECK = '''
import os, signal, time
import pytest


@pytest.mark.static
@pytest.mark.claim("gateway-health")
def test_cancelled(claim, mode):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
'''
CONFTEST = '''
from pathlib import Path


def pytest_sessionfinish(session, exitstatus):
    Path("cleanup-ran").write_text(str(int(exitstatus)))
'''


def test_sigterm_during_the_checks_runs_the_session_cleanup(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cancel=CHECK)
    pytester.makeconftest(CONFTEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--tier", "static",
                                           "--mesh-mode", "cni", "--report-dir", "rep",
                                           timeout=60)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()[-2000:]
    assert (pytester.path / "cleanup-ran").read_text() == str(int(pytest.ExitCode.INTERRUPTED))
    result.stdout.fnmatch_lines(["*KeyboardInterrupt*signal 15*"])


def test_the_plugin_restores_the_previous_handler(pytester: pytest.Pytester) -> None:
    before = signal.getsignal(signal.SIGTERM)
    pytester.makepyfile("def test_nothing():\n    pass\n")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert signal.getsignal(signal.SIGTERM) is before
