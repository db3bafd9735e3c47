"""istioctl provisioning: cache layout, env override, refusal message."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from meshconform.errors import ToolMissingError
from meshconform.gobuild import tools_dir
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
    assert capsys.readouterr().out.startswith("1.31: cached (")


def test_provision_command_bad_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--istio-version", "2.0"]) == 2
    assert "not supported" in capsys.readouterr().err


def _directives(go_mod: str, verb: str) -> list[list[str]]:
    """The fields of every ``verb`` directive of a go.mod, one-line and block form."""
    found: list[list[str]] = []
    in_block = False
    for raw in go_mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if line == f"{verb} (":
            in_block = True
        elif in_block and line == ")":
            in_block = False
        elif in_block and line:
            found.append(line.split())
        elif line.startswith(f"{verb} "):
            found.append(line.split()[1:])
    return found


def _replaces(go_mod: str) -> dict[str, str]:
    """module -> the version it is replaced with (``old [v] => new v``)."""
    return {f[0]: f[-1] for f in _directives(go_mod, "replace")}


@pytest.mark.parametrize("minor", sorted(ISTIO_RELEASES))
def test_substitutions_are_the_wrapper_modules_replaces(minor: str) -> None:
    """versions.py lists every substitution; the wrapper go.mod replaces exactly those."""
    release = ISTIO_RELEASES[minor]
    go_mod = tools_dir() / "istio" / minor / "go.mod"
    replaces = _replaces(go_mod.read_text("utf-8")) if go_mod.is_file() else {}
    assert replaces == {s.module: s.used for s in release.substitutions}


def test_substitutions_replace_what_the_go_ref_pins() -> None:
    """Each ``pinned`` is what istio.io/istio at the release's Go ref requires (its go.mod)."""
    release = ISTIO_RELEASES["1.30"]
    go = shutil.which("go")
    assert go, "Go is needed to read istio.io/istio's go.mod from the module cache"
    done = subprocess.run(
        [go, "mod", "download", "-json", f"istio.io/istio@{release.go_ref}"],
        cwd=tools_dir() / "istio" / "1.30", capture_output=True, text=True, timeout=300,
        check=False,
    )
    info = json.loads(done.stdout)
    assert "Error" not in info, info.get("Error")
    pins = _directives(Path(info["GoMod"]).read_text("utf-8"), "require")
    requires = {f[0]: f[1] for f in pins}
    assert {s.module: requires.get(s.module) for s in release.substitutions} == {
        s.module: s.pinned for s in release.substitutions
    }


def test_build_note_names_every_substitution() -> None:
    note = ISTIO_RELEASES["1.30"].build_note()
    assert "istio.io/api v1.30.8 instead of v1.30.4-0.20260824163423-69099aec2678" in note
    assert all(s.sentence() in note for s in ISTIO_RELEASES["1.30"].substitutions)
    assert "instead of" not in ISTIO_RELEASES["1.31"].build_note()


def test_only_the_suites_own_build_carries_the_substitutions(tmp_path: Path) -> None:
    """A 1.30 istioctl from the wrapper module names its substitutions; a user's does not."""
    from meshconform.static.istioctl import SOURCE_BUILD, SOURCE_CACHE, Istioctl  # noqa: PLC0415

    release = ISTIO_RELEASES["1.30"]
    for source in (SOURCE_CACHE, SOURCE_BUILD):
        built = Istioctl(tmp_path / "istioctl", release, source)
        assert built.substituted == release.build_note()
        assert "istio.io/client-go v1.30.8 instead of" in built.build
    theirs = Istioctl(tmp_path / "istioctl", release, "env MESHCONFORM_ISTIOCTL_1_30")
    assert theirs.substituted is None
    assert "instead of" not in theirs.build
    assert Istioctl(tmp_path / "istioctl", ISTIO_RELEASES["1.31"], SOURCE_CACHE).substituted is None
