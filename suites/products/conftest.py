"""Fixtures the product checks share: the real istioctl of the run's release, a mode's mesh."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meshconform.modes import Mode
from meshconform.options import RunOptions
from meshconform.product_static import MeshRender, render_mesh
from meshconform.tools import ToolResolver
from meshconform.versions import IstioRelease


@pytest.fixture(scope="session")
def product_istioctl(run_options: RunOptions, istio_release: IstioRelease) -> Path:
    """istioctl of the release: the static tier's cached build, else the documented order."""
    try:
        build = importlib.import_module("meshconform.istioctl_build")
    except ModuleNotFoundError:
        return ToolResolver(run_options.binaries, istio=istio_release).path("istioctl")
    found: Path = build.cached_istioctl(istio_release)
    return found


@pytest.fixture
def mesh_for(product_istioctl: Path, mode: Mode,
             tmp_path: Path) -> Callable[..., MeshRender]:
    """``mesh_for(extra_spec=None)``: the mode's mesh rendered by istioctl manifest generate."""

    def _render(extra: dict[str, Any] | None = None) -> MeshRender:
        return render_mesh(product_istioctl, mode, tmp_path / "mesh", extra)

    return _render
