"""Defect 12 (issue 10): ``pytest suites`` on a machine that cannot obtain istioctl for the
run's Istio version ends with ONE line naming what is missing and a non-zero exit, not
dozens of errors with tracebacks."""

from __future__ import annotations

import pytest

STATIC_CHECK = '''
import pytest


@pytest.mark.static
@pytest.mark.claim("gateway-health")
def test_needs_istioctl(istioctl_for, mode):
    pass


@pytest.mark.static
@pytest.mark.claim("job-completes")
def test_needs_it_too(istioctl_for, mode):
    pass
'''


def test_no_istioctl_for_the_default_version_is_one_line(pytester: pytest.Pytester,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from meshconform.versions import DEFAULT_ISTIO  # noqa: PLC0415

    var = f"MESHCONFORM_ISTIOCTL_{DEFAULT_ISTIO.replace('.', '_')}"
    monkeypatch.setenv(var, str(pytester.path / "no-such-istioctl"))
    pytester.makepyfile(test_static=STATIC_CHECK)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), output
    assert "Traceback" not in output
    assert "ERROR at setup" not in output
    lines = [line for line in output.splitlines() if var in line]
    assert len(lines) == 1, output
    assert "no-such-istioctl" in lines[0]
