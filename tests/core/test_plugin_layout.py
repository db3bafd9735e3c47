"""The plugin's layout (issue 10): ``plugin/__init__.py`` only wires hooks; options, matrix
and skips, results and the shared fixtures are modules of their own; state travels in
``config.stash`` under the owning module's keys, never through ``sys.modules`` or another
module's ``STATE``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import meshconform
from meshconform import paths

SRC = Path(meshconform.__file__).parent
PLUGIN = SRC / "plugin"


def _python_files() -> list[Path]:
    return sorted([*SRC.rglob("*.py"), *(paths.repo_root() / "suites").rglob("*.py")])


def test_nothing_looks_modules_up_in_sys_modules() -> None:
    found = [
        f"{path}:{node.lineno}"
        for path in _python_files()
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute) and node.attr == "modules"
        and isinstance(node.value, ast.Name) and node.value.id == "sys"
    ]
    assert not found


def test_no_module_reaches_into_another_modules_state() -> None:
    """``live.STATE`` from outside plugin/live.py: pass an explicit object instead."""
    found = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "STATE":
                found.append(f"{path}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and any(a.name == "STATE" for a in node.names):
                found.append(f"{path}:{node.lineno}")
    assert not found


def test_the_entry_point_module_only_wires_hooks() -> None:
    tree = ast.parse((PLUGIN / "__init__.py").read_text())
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions
    for function in functions:
        assert function.name.startswith(("pytest_", "_")), function.name
        for decorator in function.decorator_list:
            assert "fixture" not in ast.unparse(decorator), function.name
    assert not [n for n in tree.body if isinstance(n, ast.ClassDef)]


@pytest.mark.parametrize(("module", "job"), [
    ("options", "add_options"),
    ("matrix", "skip_reason"),
    ("results", "result_for"),
    ("fixtures", "claim"),
])
def test_each_concern_has_its_module(module: str, job: str) -> None:
    tree = ast.parse((PLUGIN / f"{module}.py").read_text())
    assert job in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_phase_timings_are_one_explicit_object_the_tiers_write_to(
    pytester: pytest.Pytester,
) -> None:
    """The live tier's and the products' install timings land in ``results.phase_timings``
    of the config and from there on each check's teardown report."""
    pytester.makeconftest('''
import pytest
from meshconform.plugin.results import phase_timings


@pytest.fixture
def installed(request):
    phase_timings(request.config)["product:sidecar"] = 1.5
''')
    pytester.makepyfile(test_timed='''
import pytest


@pytest.mark.static
@pytest.mark.claim("job-completes")
def test_timed(installed, mode):
    pass
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--tier", "static",
                                           "--mesh-mode", "native-sidecar",
                                           "--report-dir", "rep", timeout=120)
    result.assert_outcomes(passed=1)
    report = (pytester.path / "rep" / "report.json").read_text()
    assert '"product:sidecar": 1.5' in report
