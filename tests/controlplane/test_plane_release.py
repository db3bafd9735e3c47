"""A run over several modes holds one control plane at a time.

The suite itself runs two modes' cheap live checks on the controlplane cluster; a small
plugin (``planes_seen.py``) records the run's plane folders before each check. The
sidecar plane must be gone (stopped, folder removed) before the first cni check, and
nothing of the run may be left at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from meshconform import paths

from .conftest import TEST_ISTIO


def test_each_modes_plane_is_released_after_its_last_check(tmp_path: Path) -> None:
    seen_file = tmp_path / "seen.jsonl"
    argv = [sys.executable, "-m", "pytest", "suites", "--tier", "live", "--cluster",
            "controlplane", "--mesh-mode", "sidecar", "--mesh-mode", "cni",
            "--istio-version", TEST_ISTIO, "--report-dir", str(tmp_path / "report"),
            "-k", "test_injection_not_by_default or test_istio_resources_admitted",
            "-p", "no:randomly", "-p", "no:cacheprovider", "-q",
            "-p", "tests.controlplane.planes_seen"]
    env = {**os.environ, "MESHCONFORM_TEST_PLANES_SEEN": str(seen_file)}
    env.pop("MESHCONFORM_RUN_ID", None)
    done = subprocess.run(argv, cwd=paths.repo_root(), capture_output=True, text=True,
                          check=False, timeout=900, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    seen = [json.loads(line) for line in seen_file.read_text("utf-8").splitlines()]
    by_mode: dict[str, list[list[str]]] = {}
    for row in seen:
        mode = row["check"].split("[")[1].split("-istio")[0]
        by_mode.setdefault(mode, []).append(row["planes"])
    assert set(by_mode) == {"sidecar", "cni"}, seen
    # the first sidecar check may run before its plane exists; the later ones on it alone
    assert all(all("-sidecar-" in p for p in planes) for planes in by_mode["sidecar"]), seen
    assert by_mode["sidecar"][-1], seen
    # by the first cni check the sidecar plane is gone: one plane at a time
    assert all(not any("-sidecar-" in p for p in planes) for planes in by_mode["cni"]), seen
    # and the run leaves no plane of its own behind
    run_ids = {p.rsplit("-", 1)[-1] for planes in by_mode["sidecar"] for p in planes}
    (run,) = run_ids
    from meshconform.live.controlplane.cluster import state_root  # noqa: PLC0415

    assert not [p.name for p in state_root().iterdir() if p.name.endswith(f"-{run}")]
