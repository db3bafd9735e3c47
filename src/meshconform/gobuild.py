"""Build Go binaries from the suite's wrapper modules (``tools/``) into the suite cache.

Every binary the suite provisions from source (istioctl, istiod's ``pilot-discovery``,
``pilot-agent``, the Kubernetes control plane, kwok) is built the same way:

- from a wrapper module committed under ``tools/<name>/`` (its own ``go.mod`` and
  ``go.sum``): the pins and every substitution are data a reviewer reads, and the
  module proxy's answers are checked against the committed ``go.sum``;
- once per content of that module and link flags: the cache folder's name carries a
  digest of ``go.mod``, ``go.sum``, the sources and the ldflags, so a changed pin
  builds anew and an unchanged one is reused;
- under a file lock, so parallel processes (xdist workers, tox envs) build it once;
- failures are one :class:`~meshconform.errors.ToolMissingError` that names the piece
  and the fix: Go missing, the module proxy refusing a module (its own words), a
  failed compile (the last lines of Go's output), a timeout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from meshconform import paths
from meshconform.errors import ToolMissingError

#: Go's minimum for the wrapper modules (their go.mod ``go`` lines); an older Go
#: fetches this toolchain itself when GOTOOLCHAIN allows it.
GO_MINIMUM = "1.24"


@dataclass(frozen=True)
class GoBuild:
    """One wrapper module and the binaries built from it."""

    #: what the user reads in messages: "istiod 1.31", "kube-apiserver v1.35.4"
    title: str
    #: the wrapper module, relative to ``tools/``: "istio/1.31", "kube", "kwok"
    module: str
    #: import paths of the main packages to build; each gives the binary of its last element
    packages: tuple[str, ...]
    #: ``-X`` and other link flags (versions)
    ldflags: tuple[str, ...] = ()
    #: how to do without the build, for the error message
    alternative: str = ""
    #: binary names when they differ from the packages' last elements (``"."`` builds the
    #: module's own main package, named after the module folder)
    names: tuple[str, ...] = field(default=())

    def binaries(self) -> tuple[str, ...]:
        if self.names:
            return self.names
        return tuple(_binary_name(p, self.module) for p in self.packages)


def _binary_name(package: str, module: str) -> str:
    return Path(module).name if package == "." else package.rstrip("/").rsplit("/", 1)[-1]


def tools_dir() -> Path:
    return paths.repo_root() / "tools"


def module_dir(build: GoBuild) -> Path:
    return tools_dir() / build.module


def digest(build: GoBuild) -> str:
    """A digest of what decides the binaries: the module's files and the link flags."""
    source = module_dir(build)
    h = hashlib.sha256()
    for path in sorted(source.rglob("*")):
        if path.is_file() and (path.suffix in (".go", ".mod", ".sum")):
            h.update(path.relative_to(source).as_posix().encode())
            h.update(path.read_bytes())
    h.update("\0".join(build.ldflags).encode())
    h.update("\0".join(build.packages).encode())
    return h.hexdigest()[:16]


def build_dir(build: GoBuild) -> Path:
    return paths.cache_dir() / "bin" / build.module.replace("/", "-") / digest(build)


def cached(build: GoBuild) -> dict[str, Path] | None:
    """The built binaries by name, or None when any is missing."""
    folder = build_dir(build)
    found = {name: folder / name for name in build.binaries()}
    if all(p.is_file() and os.access(p, os.X_OK) for p in found.values()):
        return found
    return None


def refusal(output: str) -> str | None:
    """The module proxy's refusal, first occurrence verbatim (``403 Forbidden ...``)."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "403 Forbidden" in line or "404 Not Found" in line or "410 Gone" in line:
            detail = lines[i + 1].strip() if i + 1 < len(lines) else ""
            return f"{line.strip()} {detail}".strip()
    return None


def go_binary() -> str | None:
    return shutil.which("go")


def build(spec: GoBuild, *, timeout: float = 3600) -> dict[str, Path]:
    """Return the binaries of ``spec``, building them once into the suite cache."""
    found = cached(spec)
    if found:
        return found
    go = go_binary()
    if go is None:
        raise ToolMissingError(
            f"{spec.title} is not built yet and Go is not installed to build it",
            f"Install Go >= {GO_MINIMUM} (https://go.dev/dl/)"
            + (f", or {spec.alternative}" if spec.alternative else ""),
        )
    source = module_dir(spec)
    if not (source / "go.mod").is_file():
        raise ToolMissingError(
            f"the wrapper module for {spec.title} is missing ({source}/go.mod)",
            "Run from a complete meshconform checkout (tools/ holds the wrapper modules)",
        )
    target = build_dir(spec)
    target.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target / ".build.lock"), timeout=timeout):
        found = cached(spec)  # another process built it while we waited
        if found:
            return found
        staging = target / "partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        argv = [go, "build", "-o", f"{staging}{os.sep}"]
        if spec.ldflags:
            argv += ["-ldflags", " ".join(spec.ldflags)]
        argv += list(spec.packages)
        env = {**os.environ, "GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0"}
        started = time.monotonic()
        try:
            done = subprocess.run(
                argv,
                cwd=source,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ToolMissingError(
                f"building {spec.title} did not finish in {timeout:.0f}s",
                "Retry (the Go module and build caches keep what was done), or raise the timeout",
            ) from None
        output = done.stdout + done.stderr
        if done.returncode != 0:
            refused = refusal(output)
            if refused:
                raise ToolMissingError(
                    f"the Go module proxy refuses a module that {spec.title} needs: {refused}",
                    f"Pin a version the proxy serves in tools/{spec.module}/go.mod"
                    + (f", or {spec.alternative}" if spec.alternative else ""),
                )
            tail = " | ".join(output.strip().splitlines()[-5:])
            raise ToolMissingError(
                f"building {spec.title} failed (go build exit {done.returncode}): {tail}",
                "Read Go's message; check GOPROXY and access to it"
                + (f"; or {spec.alternative}" if spec.alternative else ""),
            )
        for name in spec.binaries():
            built = staging / name
            if not built.is_file():
                raise ToolMissingError(
                    f"go build of {spec.title} produced no {name} in {staging}",
                    "Check the package list in src/meshconform for this build",
                )
            built.replace(target / name)
        (target / "build-seconds").write_text(f"{time.monotonic() - started:.1f}\n", "utf-8")
        shutil.rmtree(staging, ignore_errors=True)
    found = cached(spec)
    if found is None:  # pragma: no cover - replace() above makes this unreachable
        raise ToolMissingError(f"{spec.title} vanished from {target}", "Rebuild")
    return found


def build_seconds(spec: GoBuild) -> float | None:
    """How long the cached build took, as recorded when it was made."""
    path = build_dir(spec) / "build-seconds"
    try:
        return float(path.read_text("utf-8").strip())
    except (OSError, ValueError):
        return None


def provision(spec: GoBuild, timeout: float = 3600) -> tuple[bool, str]:
    """Build ``spec`` unless cached: (available, one line saying cached/built/refused)."""
    if cached(spec):
        seconds = build_seconds(spec)
        took = f", built in {seconds:.0f}s" if seconds is not None else ""
        return True, f"cached ({build_dir(spec)}{took})"
    started = time.monotonic()
    try:
        build(spec, timeout=timeout)
    except ToolMissingError as error:
        return False, f"refused: {error.problem}. {error.fix}"
    return True, f"built in {time.monotonic() - started:.0f}s ({build_dir(spec)})"
