"""Run the istioctl of one pinned Istio release for the static tier.

:func:`get_istioctl` finds it with the resolver every tier shares (``live/tools.py``):
``--istioctl``, ``MESHCONFORM_ISTIOCTL_<MINOR>`` (e.g. MESHCONFORM_ISTIOCTL_1_30), the
suite's go-install cache, the official release binary (an istioctl on PATH that reports
exactly that release, the tool cache, or a checksum-verified download), then ``go install``.
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
from meshconform.istioctl_build import env_var
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


#: ResolvedTool.source -> Istioctl.source, where the report's wording differs
_SOURCES = {"go cache": SOURCE_CACHE, "go": SOURCE_BUILD, "option": "option --istioctl"}


def get_istioctl(
    release: IstioRelease,
    *,
    build: bool = True,
    explicit: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Istioctl:
    """The istioctl for ``release``, or raise ToolMissingError with the exact reason.

    Found by the one resolver every tier uses (:class:`meshconform.live.tools.ToolResolver`,
    static order): ``explicit`` (``--istioctl``), ``MESHCONFORM_ISTIOCTL_<MINOR>``,
    ``MESHCONFORM_ISTIOCTL``, the go-install cache, the release binary (PATH at that
    version, tool cache, checksum-verified download), then ``go install`` if ``build``.
    """
    resolver = ToolResolver(
        {"istioctl": explicit}, istio=release, allow_build=build, environ=environ, tier="static"
    )
    try:
        found = resolver.resolve("istioctl")
    except ToolMissingError as missing:
        if build or explicit is not None or missing.problem.startswith(env_var(release)):
            raise
        raise ToolMissingError(
            f"no istioctl {release.minor}: {missing.problem}",
            f"Run 'python -m meshconform.istioctl_build --istio-version {release.minor}', "
            f"set {env_var(release)} or pass --istioctl",
        ) from None
    source = _SOURCES.get(found.source, found.source)
    if found.source in ("PATH", "cache", "download", "env"):
        source = f"{found.source} (release {found.version})"
    return Istioctl(found.path, release, source)
