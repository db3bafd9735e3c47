"""Load the suite's manifests from fixtures/: YAML files with ${NAME} placeholders.

Images come from ``fixtures/images.lock.yaml`` as ``${IMAGE_<NAME>}``; every
other placeholder must be given by the caller. An unresolved placeholder is an
error naming it, never an empty string sent to the API server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from meshconform import paths
from meshconform.errors import UsageError

_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


@cache
def image_variables() -> dict[str, str]:
    """``IMAGE_CURL`` -> the pinned reference, from fixtures/images.lock.yaml."""
    lock = yaml.safe_load((paths.fixtures_dir() / "images.lock.yaml").read_text("utf-8"))
    images: dict[str, str] = lock["images"]
    return {"IMAGE_" + name.upper().replace("-", "_"): ref for name, ref in images.items()}


def pinned_images() -> list[str]:
    return sorted(image_variables().values())


def substitute(text: str, variables: Mapping[str, str], origin: str = "") -> str:
    merged = {**image_variables(), **variables}
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in merged})
    if missing:
        raise UsageError(
            f"{origin or 'manifest'} needs values for {', '.join(missing)}",
            "Pass them as keyword arguments to apply()/load_manifests()",
        )
    return _PLACEHOLDER.sub(lambda m: merged[m.group(1)], text)


def resolve(relpath: str | Path) -> Path:
    path = Path(relpath)
    if not path.is_absolute():
        path = paths.fixtures_dir() / path
    if not path.is_file():
        raise UsageError(f"manifest {relpath} does not exist", f"Expected it at {path}")
    return path


def load_manifests(relpath: str | Path, **variables: str) -> list[dict[str, Any]]:
    """Every object of a fixtures/ YAML file (multi-document), placeholders filled."""
    path = resolve(relpath)
    text = substitute(path.read_text("utf-8"), variables, origin=str(relpath))
    return [doc for doc in yaml.safe_load_all(text) if doc]


def placeholders(relpath: str | Path) -> set[str]:
    """The placeholders a manifest needs besides the pinned images."""
    text = resolve(relpath).read_text("utf-8")
    return set(_PLACEHOLDER.findall(text)) - set(image_variables())
