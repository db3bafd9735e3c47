"""Binary resolution order with real executables, and checksum-verified downloads."""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
from pathlib import Path

import pytest

from meshconform.errors import ToolMissingError
from meshconform.live.tools import (
    ToolResolver,
    download_for,
    extract_member,
    parse_checksum,
    verify_checksum,
)
from meshconform.versions import ISTIO_RELEASES, KIND_VERSION

RELEASE = ISTIO_RELEASES["1.30"]


def make_exe(path: Path, version_output: str = "kind v0.31.0 go1.24 linux/amd64") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{version_output}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def no_network(url: str, timeout: float) -> bytes:
    raise OSError(f"offline: {url}")


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    return {
        "explicit": make_exe(tmp_path / "explicit" / "kind"),
        "env": make_exe(tmp_path / "env" / "kind"),
        "pathdir": make_exe(tmp_path / "pathdir" / "kind").parent,
        "cache": make_exe(tmp_path / "cache" / "bin" / f"kind-{KIND_VERSION}").parents[1],
    }


def resolver(layout: dict[str, Path], *, explicit: bool, env: bool, path: bool,
             cache: bool) -> ToolResolver:
    environ = {"PATH": str(layout["pathdir"]) if path else "/nonexistent"}
    if env:
        environ["MESHCONFORM_KIND"] = str(layout["env"])
    return ToolResolver({"kind": layout["explicit"]} if explicit else {}, environ=environ,
                        cache=layout["cache"] if cache else layout["cache"] / "empty",
                        opener=no_network, platform_id=("linux", "amd64"))


@pytest.mark.parametrize(("explicit", "env", "path", "cache", "source"), [
    (True, True, True, True, "option"),
    (False, True, True, True, "env"),
    (False, False, True, True, "PATH"),
    (False, False, False, True, "cache"),
])
def test_resolution_order(layout: dict[str, Path], explicit: bool, env: bool, path: bool,
                          cache: bool, source: str) -> None:
    found = resolver(layout, explicit=explicit, env=env, path=path, cache=cache).resolve("kind")
    assert found.source == source
    assert found.path.is_file()


def test_missing_everywhere_names_what_was_tried_and_the_fix(layout: dict[str, Path]) -> None:
    with pytest.raises(ToolMissingError) as caught:
        resolver(layout, explicit=False, env=False, path=False, cache=False).resolve("kind")
    message = str(caught.value)
    assert "kind v0.31.0 not found" in message
    assert "not on PATH" in message
    assert "download failed: offline" in message
    assert "--kind" in message
    assert "MESHCONFORM_KIND" in message


def test_explicit_path_that_is_not_executable_is_an_error(tmp_path: Path) -> None:
    bogus = tmp_path / "kind"
    bogus.write_text("not a binary")
    with pytest.raises(ToolMissingError, match="not an executable"):
        ToolResolver({"kind": bogus}, environ={}, opener=no_network).resolve("kind")


def test_istioctl_of_another_version_on_path_is_skipped(tmp_path: Path) -> None:
    make_exe(tmp_path / "path" / "istioctl", "client version: 1.29.6")
    cache = tmp_path / "cache"
    make_exe(cache / "bin" / f"istioctl-{RELEASE.release}", f"client version: {RELEASE.release}")
    found = ToolResolver(environ={"PATH": str(tmp_path / "path")}, istio=RELEASE, cache=cache,
                         opener=no_network, allow_build=False).resolve("istioctl")
    assert found.source == "cache"


def test_explicit_istioctl_of_another_version_is_refused(tmp_path: Path) -> None:
    old = make_exe(tmp_path / "istioctl", "client version: 1.29.6")
    with pytest.raises(ToolMissingError, match=r"version 1\.29\.6.*installs Istio 1\.30\.3"):
        ToolResolver({"istioctl": old}, istio=RELEASE, environ={}).resolve("istioctl")


def _served(files: dict[str, bytes]):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def opener(url: str, timeout: float) -> bytes:
        calls.append(url)
        if url not in files:
            raise OSError(f"404 {url}")
        return files[url]

    return opener, calls


def test_download_verified_and_cached(tmp_path: Path) -> None:
    body = b"#!/bin/sh\necho kind v0.31.0\n"
    spec = download_for("kind", KIND_VERSION, "linux", "amd64")
    digest = hashlib.sha256(body).hexdigest()
    opener, calls = _served({spec.url: body,
                             spec.checksum_url: f"{digest}  kind-linux-amd64\n".encode()})
    found = ToolResolver(environ={"PATH": ""}, cache=tmp_path, opener=opener,
                         platform_id=("linux", "amd64")).resolve("kind")
    assert found.source == "download"
    assert found.path == tmp_path / "bin" / f"kind-{KIND_VERSION}"
    assert found.path.read_bytes() == body
    assert found.path.stat().st_mode & stat.S_IXUSR
    assert calls == [spec.url, spec.checksum_url]


def test_download_with_wrong_checksum_is_rejected_and_not_cached(tmp_path: Path) -> None:
    spec = download_for("kind", KIND_VERSION, "linux", "amd64")
    opener, _ = _served({spec.url: b"tampered", spec.checksum_url: b"0" * 64 + b"  kind\n"})
    with pytest.raises(ToolMissingError, match="failed checksum verification"):
        ToolResolver(environ={"PATH": ""}, cache=tmp_path, opener=opener,
                     platform_id=("linux", "amd64")).resolve("kind")
    assert not (tmp_path / "bin" / f"kind-{KIND_VERSION}").exists()


def test_istioctl_download_is_extracted_from_the_tarball(tmp_path: Path) -> None:
    binary = b"#!/bin/sh\necho 'client version: 1.30.3'\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("istioctl")
        info.size = len(binary)
        tar.addfile(info, io.BytesIO(binary))
    archive = buffer.getvalue()
    spec = download_for("istioctl", RELEASE.release, "linux", "arm64")
    assert spec.url == ("https://github.com/istio/istio/releases/download/1.30.3/"
                        "istioctl-1.30.3-linux-arm64.tar.gz")
    opener, _ = _served({spec.url: archive,
                         spec.checksum_url: hashlib.sha256(archive).hexdigest().encode()})
    found = ToolResolver(environ={"PATH": ""}, istio=RELEASE, cache=tmp_path, opener=opener,
                         allow_build=False, platform_id=("linux", "arm64")).resolve("istioctl")
    assert found.path.read_bytes() == binary


def test_official_urls() -> None:
    assert download_for("kubectl", "v1.35.0", "linux", "amd64").checksum_url == (
        "https://dl.k8s.io/release/v1.35.0/bin/linux/amd64/kubectl.sha256")
    helm = download_for("helm", "v3.17.3", "linux", "amd64")
    assert helm.url == "https://get.helm.sh/helm-v3.17.3-linux-amd64.tar.gz"
    assert helm.checksum_url.endswith(".tar.gz.sha256sum")
    assert helm.member == "linux-amd64/helm"


def test_checksum_file_formats() -> None:
    digest = "a" * 64
    assert parse_checksum(digest) == digest
    assert parse_checksum(f"{digest.upper()}  helm-v3.17.3-linux-amd64.tar.gz\n") == digest
    with pytest.raises(ValueError):
        parse_checksum("<html>not found</html>")
    with pytest.raises(ToolMissingError, match="unreadable"):
        verify_checksum(b"x", "", "kind")


def test_extract_member_misses_are_errors() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz"):
        pass
    with pytest.raises(ValueError, match="no file"):
        extract_member(buffer.getvalue(), "istioctl")


def test_kind_of_another_version_on_path_is_skipped(tmp_path: Path) -> None:
    """Defect 6 (issue 10): GitHub's runners ship an older kind on PATH; the node image is
    built for the pinned kind, so only that version is taken from PATH."""
    old = make_exe(tmp_path / "pathdir" / "kind", "kind v0.20.0 go1.20.4 linux/amd64")
    cached = make_exe(tmp_path / "cache" / "bin" / f"kind-{KIND_VERSION}")
    found = ToolResolver(environ={"PATH": str(old.parent)}, cache=tmp_path / "cache",
                         opener=no_network, platform_id=("linux", "amd64")).resolve("kind")
    assert (found.source, found.path) == ("cache", cached)

    with pytest.raises(ToolMissingError) as caught:
        ToolResolver(environ={"PATH": str(old.parent)}, cache=tmp_path / "empty",
                     opener=no_network, platform_id=("linux", "amd64")).resolve("kind")
    assert f"{old} is not version {KIND_VERSION}" in str(caught.value)

    pinned = make_exe(tmp_path / "pinned" / "kind", f"kind {KIND_VERSION} go1.24 linux/amd64")
    found = ToolResolver(environ={"PATH": str(pinned.parent)}, cache=tmp_path / "empty",
                         opener=no_network, platform_id=("linux", "amd64")).resolve("kind")
    assert (found.source, found.path) == ("PATH", pinned)
