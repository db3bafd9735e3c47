"""istioctl provisioning: cache layout, env override, refusal message."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshconform.errors import ToolMissingError
from meshconform.istioctl_build import _refusal, build_dir, cached_istioctl, env_var, main
from meshconform.static.istioctl import get_istioctl
from meshconform.versions import ISTIO_RELEASES


def test_cache_path_and_env_var_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHCONFORM_CACHE", str(tmp_path))
    release = ISTIO_RELEASES["1.30"]
    folder = build_dir(release)
    assert folder.parent == tmp_path / "bin" / "istio-1.30"
    assert len(folder.name) == 16  # the wrapper module's content digest
    assert cached_istioctl(release) is None
    assert env_var(release) == "MESHCONFORM_ISTIOCTL_1_30"


def test_explicit_env_wins_and_must_exist(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    release = ISTIO_RELEASES["1.30"]
    binary = tmp_path / "istioctl"
    binary.write_text("", "utf-8")
    monkeypatch.setenv(env_var(release), str(binary))
    found = get_istioctl(release, build=False)
    assert found.path == binary
    assert found.source == "env MESHCONFORM_ISTIOCTL_1_30"
    monkeypatch.setenv(env_var(release), str(tmp_path / "missing"))
    with pytest.raises(ToolMissingError, match="is not a file"):
        get_istioctl(release, build=False)


def test_no_cache_no_build_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHCONFORM_CACHE", str(tmp_path))
    monkeypatch.delenv("MESHCONFORM_ISTIOCTL_1_29", raising=False)
    with pytest.raises(ToolMissingError, match=r"istioctl_build --istio-version 1\.29"):
        get_istioctl(ISTIO_RELEASES["1.29"], build=False)


def test_refusal_quotes_the_proxy() -> None:
    output = ("go: downloading x\nreading https://goproxy.example/istio.io/api/@v/v1.zip: "
              "403 Forbidden\n\tserver response: This module version is not available.\n")
    assert _refusal(output) == ("reading https://goproxy.example/istio.io/api/@v/v1.zip: "
                                "403 Forbidden server response: This module version is not "
                                "available.")
    assert _refusal("go: build failed") is None


def test_go_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHCONFORM_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    from meshconform.istioctl_build import go_install_istioctl  # noqa: PLC0415

    with pytest.raises(ToolMissingError, match="Go is not installed"):
        go_install_istioctl(ISTIO_RELEASES["1.31"])


def test_provision_command_reports_cached(capsys: pytest.CaptureFixture[str]) -> None:
    """CI provisions first; here the cached version is reported, nothing is built."""
    assert main(["--istio-version", "1.31"]) == 0
    assert capsys.readouterr().out.startswith("1.31: cached: ")


def test_provision_command_bad_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--istio-version", "2.0"]) == 2
    assert "not supported" in capsys.readouterr().err
