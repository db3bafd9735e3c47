"""Defect 4 (issue 10): the suite's images are run the way their publishers build them.

go-httpbin's release images are built by goreleaser from ``Dockerfile.release``
(mccutchen/go-httpbin at v2.25.0, 697b6e3): ``FROM gcr.io/distroless/static:nonroot``,
the binary copied to ``/usr/bin/`` and ``ENTRYPOINT ["/usr/bin/go-httpbin"]``; the image
tags are goreleaser's ``{{.Version}}`` (``2.25.0``, no ``v``). A ``command:`` naming
``/bin/go-httpbin`` only resolves through the merged-/usr base image, so manifests give
``args:`` and keep the entrypoint.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from meshconform import manifests
from meshconform.paths import fixtures_dir

#: the tag each publisher pushes: curlimages/curl "8.11.1", go-httpbin "2.25.0"
PUBLISHED_TAG = {"curl": r"\d+\.\d+\.\d+", "go-httpbin": r"\d+\.\d+\.\d+"}
ENTRYPOINT_IMAGES = ("IMAGE_GO_HTTPBIN",)
FILES = sorted(p.relative_to(fixtures_dir()).as_posix()
               for p in (fixtures_dir() / "workloads").glob("*.yaml"))


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    pod = ((spec.get("template") or {}).get("spec")) or spec
    return [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]


@pytest.mark.parametrize("relpath", FILES)
def test_entrypoint_images_are_started_through_their_entrypoint(relpath: str) -> None:
    text = manifests.resolve(relpath).read_text("utf-8")
    variables = dict.fromkeys(manifests.placeholders(relpath), "x")
    refs = {manifests.image_variables()[name] for name in ENTRYPOINT_IMAGES}
    for obj in manifests.load_manifests(relpath, **variables):
        for container in _containers(obj):
            if container.get("image") in refs:
                assert "command" not in container, (
                    f"{relpath}: container {container['name']} overrides the entrypoint of "
                    f"{container['image']}; pass flags with args:")
                assert container.get("args"), f"{relpath}: {container['name']} has no args"
    assert "/bin/go-httpbin" not in text


def test_lock_file_tags_are_the_published_tags() -> None:
    lock = manifests.image_variables()
    for name, pattern in PUBLISHED_TAG.items():
        ref = lock["IMAGE_" + name.upper().replace("-", "_")]
        tag = ref.split("@", 1)[0].rsplit(":", 1)[1]
        assert re.fullmatch(pattern, tag), f"{name}: tag {tag!r} is not a published tag"
