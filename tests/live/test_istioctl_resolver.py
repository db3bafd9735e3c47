"""ONE resolver finds istioctl for every tier (live/tools.py), and ``--istioctl`` wins in
each: the static tier's ``get_istioctl``, the live tier, the plugin's preflight and
fixtures, ``meshconform static`` and ``certify``. Real executables, no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshconform import istioctl_build
from meshconform.certify import CertifyRequest, pytest_argv
from meshconform.errors import ToolMissingError
from meshconform.live.tools import ToolResolver, istioctl_env_var
from meshconform.static.istioctl import SOURCE_CACHE, get_istioctl
from meshconform.versions import ISTIO_RELEASES
from tests.live.test_tools import make_exe, no_network

RELEASE = ISTIO_RELEASES["1.30"]


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An empty cache, nothing on PATH, no MESHCONFORM_ISTIOCTL*; downloads fail fast."""
    monkeypatch.setenv("MESHCONFORM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    for name in ("MESHCONFORM_ISTIOCTL", istioctl_env_var(RELEASE)):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("meshconform.live.tools.requests_opener", no_network)
    monkeypatch.setattr(ToolResolver.__init__, "__kwdefaults__",
                        {**ToolResolver.__init__.__kwdefaults__, "opener": no_network})
    return {"PATH": str(tmp_path / "empty-path")}


def test_explicit_istioctl_wins_over_the_minor_env_and_the_source_cache(
    tmp_path: Path, offline: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = make_exe(tmp_path / "mine" / "istioctl", f"client version: {RELEASE.release}")
    other = make_exe(tmp_path / "other" / "istioctl", f"client version: {RELEASE.release}")
    monkeypatch.setenv(istioctl_env_var(RELEASE), str(other))
    monkeypatch.setattr(istioctl_build, "cached_istioctl", lambda release: other)
    found = get_istioctl(RELEASE, build=False, explicit=mine)
    assert (found.path, found.source) == (mine, "option --istioctl")
    live = ToolResolver({"istioctl": mine}, istio=RELEASE, opener=no_network).resolve("istioctl")
    assert (live.path, live.source) == (mine, "option")


def test_the_minor_env_var_is_honoured_by_the_live_tier_too(
    tmp_path: Path, offline: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    given = make_exe(tmp_path / "istioctl", f"client version: {RELEASE.release}")
    monkeypatch.setenv(istioctl_env_var(RELEASE), str(given))
    live = ToolResolver(istio=RELEASE, opener=no_network).resolve("istioctl")
    static = get_istioctl(RELEASE, build=False)
    assert live.path == static.path == given
    assert static.source == f"env {istioctl_env_var(RELEASE)}"


def test_the_live_tier_refuses_a_minor_env_istioctl_of_another_patch(
    tmp_path: Path, offline: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    other_patch = make_exe(tmp_path / "istioctl", "client version: 1.30.1")
    monkeypatch.setenv(istioctl_env_var(RELEASE), str(other_patch))
    with pytest.raises(ToolMissingError, match=r"1\.30\.1, the run installs Istio 1\.30\.3"):
        ToolResolver(istio=RELEASE, opener=no_network).resolve("istioctl")
    # the static tier checks a minor: its own use of the variable takes it as given
    assert get_istioctl(RELEASE, build=False).path == other_patch


def test_explicit_istioctl_is_checked_at_the_minor_for_static_and_the_patch_for_live(
    tmp_path: Path, offline: dict[str, str]
) -> None:
    patch = make_exe(tmp_path / "patch" / "istioctl", "client version: 1.30.1")
    assert get_istioctl(RELEASE, build=False, explicit=patch).path == patch
    with pytest.raises(ToolMissingError, match=r"installs Istio 1\.30\.3"):
        ToolResolver({"istioctl": patch}, istio=RELEASE, opener=no_network).resolve("istioctl")
    minor = make_exe(tmp_path / "minor" / "istioctl", "client version: 1.31.0")
    with pytest.raises(ToolMissingError, match=r"given by --istioctl .* is version 1\.31"):
        get_istioctl(RELEASE, build=False, explicit=minor)


def test_static_takes_the_suites_build_before_path_and_live_does_not(
    tmp_path: Path, offline: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The static tier renders offline with the suite's cached build; the live tier
    installs release images, so an exact release istioctl on PATH comes first there."""
    built = make_exe(tmp_path / "built" / "istioctl", "version.BuildInfo{Version:\"1.30-dev\"}")
    on_path = make_exe(tmp_path / "empty-path" / "istioctl", f"client version: {RELEASE.release}")
    monkeypatch.setattr(istioctl_build, "cached_istioctl", lambda release: built)
    static = get_istioctl(RELEASE, build=False)
    assert (static.path, static.source, static.from_source) == (built, SOURCE_CACHE, True)
    live = ToolResolver(istio=RELEASE, opener=no_network, allow_build=False,
                        environ={"PATH": str(on_path.parent)}).resolve("istioctl")
    assert (live.path, live.source) == (on_path, "PATH")


def test_nothing_found_names_every_way_to_give_one(tmp_path: Path, offline: dict[str, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(istioctl_build, "cached_istioctl", lambda release: None)
    with pytest.raises(ToolMissingError) as missing:
        get_istioctl(RELEASE, build=False)
    text = str(missing.value)
    assert "not in the go-install cache" in text
    assert "--istioctl" in text
    assert istioctl_env_var(RELEASE) in text
    assert "istioctl_build --istio-version 1.30" in text


def test_certify_gives_istioctl_to_every_tier(tmp_path: Path) -> None:
    request = CertifyRequest(product="testkube", istio="1.30", modes=("sidecar",),
                             tiers=("static", "dataplane", "live"), out=tmp_path,
                             istioctl=tmp_path / "istioctl")
    for tier in request.tiers:
        argv = pytest_argv(request, tier)
        assert argv[argv.index("--istioctl") + 1] == str(tmp_path / "istioctl"), tier


STATIC_CHECK = '''
import os
from pathlib import Path

import pytest


@pytest.mark.static
@pytest.mark.claim("job-completes")
def test_uses_the_given_istioctl(istioctl_for, mode):
    assert istioctl_for.path == Path(os.environ["GIVEN_ISTIOCTL"])
    assert istioctl_for.source == "option --istioctl"
'''


def test_the_plugin_gives_istioctl_to_the_static_tier(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = make_exe(tmp_path / "given" / "istioctl", "client version: 1.30.3")
    monkeypatch.setenv("GIVEN_ISTIOCTL", str(given))
    pytester.makepyfile(test_static=STATIC_CHECK)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--tier", "static", "--istio-version", "1.30",
        "--mesh-mode", "sidecar", "--istioctl", str(given),
        "--report-dir", str(tmp_path / "rep"), timeout=120,
    )
    result.assert_outcomes(passed=1)


def test_the_preflight_names_an_istioctl_option_of_another_minor_in_one_line(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    newer = make_exe(tmp_path / "newer" / "istioctl", "client version: 1.31.0")
    pytester.makepyfile(test_static=STATIC_CHECK)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--tier", "static", "--istio-version", "1.30",
        "--mesh-mode", "sidecar", "--istioctl", str(newer), timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    lines = [line for line in output.splitlines() if "given by --istioctl" in line]
    assert len(lines) == 1, output
    assert "Traceback" not in output


def test_the_controlplane_cluster_uses_the_given_istioctl(
    tmp_path: Path, offline: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--cluster controlplane runs the istioctl built with its istiod, unless --istioctl
    names another: that one renders and installs."""
    from meshconform.live.controlplane import binaries  # noqa: PLC0415
    from meshconform.options import parse_options  # noqa: PLC0415
    from meshconform.plugin import live  # noqa: PLC0415

    release = ISTIO_RELEASES["1.31"]
    built = {name: make_exe(tmp_path / "built" / name, "x")
             for name in ("kube", "etcd", "kwok", "istiod", "pilot-agent", "istioctl")}
    monkeypatch.setattr(binaries, "provision", lambda release: binaries.ControlPlaneBinaries(
        built["kube"], built["etcd"], built["kwok"], built["istiod"], built["pilot-agent"],
        built["istioctl"]))
    given = make_exe(tmp_path / "given" / "istioctl", f"client version: {release.release}")

    def start(istioctl: Path | None) -> Path:
        options = parse_options(
            mesh_modes=["sidecar"], istio_versions=["1.31"], tiers=["live"],
            cluster="controlplane", report_dir=str(tmp_path / "rep"),
            binaries={"istioctl": str(istioctl) if istioctl else None})
        config = pytest.Config.__new__(pytest.Config)
        config.stash = pytest.Stash()
        live.live_session_start(config, options)
        state = config.stash[live.STATE]
        assert state.binaries is not None
        return state.binaries.istioctl

    assert start(None) == built["istioctl"]
    assert start(given) == given
