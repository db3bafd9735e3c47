"""A pytest plugin that records which control planes of the run exist before each check.

Loaded only by ``test_plane_release.py`` (``-p tests.controlplane.planes_seen`` with
``MESHCONFORM_TEST_PLANES_SEEN`` naming the output file), in a run of the suite itself:
one JSON line per check, its node id and the run's plane folders that exist then.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from meshconform.live.clusters import run_id
from meshconform.live.controlplane.cluster import state_root


def pytest_runtest_setup(item: pytest.Item) -> None:
    suffix = f"-{run_id()[:8]}"
    root = state_root()
    planes = sorted(p.name for p in root.iterdir() if p.name.endswith(suffix)) \
        if root.is_dir() else []  # fmt: skip
    with Path(os.environ["MESHCONFORM_TEST_PLANES_SEEN"]).open("a", encoding="utf-8") as out:
        out.write(json.dumps({"check": item.nodeid, "planes": planes}) + "\n")
