"""Where the suite's data lives: clusters/, fixtures/, suites/ of the checkout."""

from __future__ import annotations

import os
from pathlib import Path

from meshconform.errors import UsageError

_PACKAGE_DIR = Path(__file__).resolve().parent


def repo_root() -> Path:
    """Return the meshconform checkout that holds ``clusters/`` and ``fixtures/``.

    ``MESHCONFORM_ROOT`` wins; otherwise the source tree this package was loaded
    from (an editable install), then the current directory and its parents.
    """
    candidates: list[Path] = []
    env = os.environ.get("MESHCONFORM_ROOT")
    if env:
        candidates.append(Path(env))
    candidates.append(_PACKAGE_DIR.parents[1])
    cwd = Path.cwd()
    candidates.extend([cwd, *cwd.parents])
    for candidate in candidates:
        if (candidate / "fixtures").is_dir() and (candidate / "clusters").is_dir():
            return candidate.resolve()
    raise UsageError(
        "cannot find the meshconform data folders (clusters/, fixtures/)",
        "Run from a meshconform checkout or set MESHCONFORM_ROOT to one",
    )


def fixtures_dir() -> Path:
    return repo_root() / "fixtures"


def clusters_dir() -> Path:
    return repo_root() / "clusters"


def package_data(name: str) -> Path:
    """A data file shipped inside the package (catalog, schemas)."""
    return _PACKAGE_DIR / name


def cache_dir() -> Path:
    """The suite's cache for binaries it provisions (istioctl builds, downloads)."""
    env = os.environ.get("MESHCONFORM_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "meshconform"
