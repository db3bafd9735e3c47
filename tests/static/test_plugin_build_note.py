"""The pytest static tier names how each version's istioctl was had, in the report.

A 1.30 istioctl built with substituted dependencies (versions.py) says so in ``istio.build``
and in the evidence of every row that used it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from meshconform import paths
from meshconform.versions import ISTIO_RELEASES


def test_static_rows_name_the_substituted_build(tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "suites", "--tier", "static", "--istio-version",
         "1.30", "--mesh-mode", "native-sidecar", "-k", "jobs_static", "-p", "no:cacheprovider",
         "--report-dir", str(report_dir)],
        cwd=paths.repo_root(), capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((report_dir / "report.json").read_text("utf-8"))
    sentences = [s.sentence() for s in ISTIO_RELEASES["1.30"].substitutions]
    assert all(s in report["istio"]["build"] for s in sentences), report["istio"]["build"]
    rows = [r for r in report["claims"] if r["verdict"] != "skip"]
    assert rows
    for row in rows:
        assert all(s in row["evidence"] for s in sentences), row
