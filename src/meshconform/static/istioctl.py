"""Resolve and run the istioctl of one pinned Istio release for the static tier.

Order: ``MESHCONFORM_ISTIOCTL_<MINOR>`` (e.g. MESHCONFORM_ISTIOCTL_1_30), the suite's
go-install cache, the official release binary (an istioctl on PATH that reports exactly
that release, the tool cache, or a checksum-verified download: tools.py), then ``go install``.
An istioctl of unknown version from PATH is never used here.
Every call is timed (:data:`CALLS`), so the benchmark can report suite overhead.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from meshconform.errors import IstioctlError, ToolMissingError
from meshconform.istioctl_build import cached_istioctl, env_var, go_install_istioctl
from meshconform.live.tools import ToolResolver
from meshconform.versions import IstioRelease

__all__ = ["CALLS", "Istioctl", "IstioctlError", "get_istioctl"]


@dataclass
class CallLog:
    """Wall time of every istioctl call, for the benchmark's overhead ratio."""

    durations: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float) -> None:
        with self.lock:
            self.durations.append(seconds)

    def total(self) -> float:
        with self.lock:
            return sum(self.durations)

    def reset(self) -> None:
        with self.lock:
            self.durations.clear()


CALLS = CallLog()

#: ``Istioctl.source`` of the suite's own builds (tools/istio/<minor>)
SOURCE_CACHE = "cache"
SOURCE_BUILD = "go install"


@dataclass(frozen=True)
class Istioctl:
    path: Path
    release: IstioRelease
    #: how it was obtained: "env MESHCONFORM_ISTIOCTL_1_31", "cache", "go install"
    source: str

    @property
    def from_source(self) -> bool:
        """Built by the suite from ``tools/istio/<minor>`` (not a release or the user's)."""
        return self.source in (SOURCE_CACHE, SOURCE_BUILD)

    @property
    def build(self) -> str:
        """For the report: how this istioctl was had; a source build names its substitutions."""
        if self.from_source:
            return f"{self.release.build_note()} (via {self.source})"
        return f"istioctl {self.release.minor} via {self.source}"

    @property
    def substituted(self) -> str | None:
        """For each row's evidence: the substituted dependencies of a source build, or None."""
        if not (self.from_source and self.release.substitutions):
            return None
        return self.release.build_note()

    @property
    def fingerprint(self) -> str:
        stat = self.path.stat()
        return f"{self.path.resolve()}:{stat.st_mtime_ns}:{stat.st_size}"

    def run(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
        check: bool = True,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run istioctl with no cluster reachable (KUBECONFIG points at nothing)."""
        full_env = {**os.environ, "KUBECONFIG": os.devnull, **(env or {})}
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [str(self.path), *args],
                env=full_env,
                capture_output=True,
                text=True,
                input=input_text,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise IstioctlError(
                f"istioctl {self.release.minor} {' '.join(args)} did not finish in {timeout:.0f}s"
            ) from None
        except OSError as error:
            raise IstioctlError(
                f"istioctl {self.release.minor} at {self.path} cannot run: {error}"
            ) from None
        finally:
            CALLS.add(time.perf_counter() - start)
        if check and proc.returncode != 0:
            raise IstioctlError(
                f"istioctl {self.release.minor} {' '.join(args)} exited {proc.returncode}:\n"
                f"{proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc


def get_istioctl(release: IstioRelease, *, build: bool = True) -> Istioctl:
    """The istioctl for ``release``, or raise ToolMissingError with the exact reason."""
    var = env_var(release)
    explicit = os.environ.get(var)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ToolMissingError(
                f"{var}={explicit} is not a file",
                f"Point {var} at an istioctl {release.minor} binary",
            )
        return Istioctl(path, release, f"env {var}")
    cached = cached_istioctl(release)
    if cached:
        return Istioctl(cached, release, SOURCE_CACHE)
    # An official release binary of exactly this version: on PATH (version-checked), in the
    # tool cache, or downloaded and checksum-verified. Better evidence than a branch build.
    try:
        found = ToolResolver(istio=release, allow_build=False).resolve("istioctl")
    except ToolMissingError as missing:
        release_problem = missing.problem
    else:
        return Istioctl(found.path, release, f"{found.source} (release {found.version})")
    if not build:
        raise ToolMissingError(
            f"no istioctl {release.minor}: not in the go-install cache; {release_problem}",
            f"Run 'python -m meshconform.istioctl_build --istio-version {release.minor}' "
            f"or set {var}",
        )
    return Istioctl(go_install_istioctl(release), release, SOURCE_BUILD)
