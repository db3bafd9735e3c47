"""Mutation testing of the decision modules: do the offline tests notice a broken decision?

    python benchmarks/mutation.py [--module NAME ...] [--max-seconds N] [--keep]

Runs ``mutmut`` (PyPI, in the dev extra) one module at a time, each in a scratch copy
of the checkout (``git ls-files``) whose pyproject gets a ``[tool.mutmut]`` section
naming that one file and the tests that exercise it; one mutant at a time
(``--max-children 1``: the machine is shared) and at most ``--max-seconds`` per module.
Prints, per module and in total, the mutants killed / survived / not decided (timeout,
not run before the cap) and the score killed / (killed + survived), then every
surviving mutant with its diff. Results and the reasons survivors are acceptable:
docs/mutation.md. Target: at least 90 % killed.

Only tests that import the code in-process can kill a mutant (mutmut swaps functions
inside the test process): subprocess-based tests are not selected.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: module -> (file to mutate, the in-process tests that exercise it)
TARGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "observe.jobs": ("src/meshconform/observe/jobs.py", ("tests/observe",)),
    "observe.pods": (
        "src/meshconform/observe/pods.py",
        ("tests/observe", "tests/live/test_wait_conditions.py",
         "tests/live/test_wait_conditions_rows.py"),
    ),
    "observe.curl": ("src/meshconform/traffic/curl.py", ("tests/observe",)),
    "observe.dns": ("src/meshconform/traffic/dns.py", ("tests/observe",)),
    "wait.loop": (
        "src/meshconform/wait/loop.py",
        ("tests/core/test_waiters.py", "tests/observe", "tests/live/test_kube_watch.py"),
    ),
    "wait.timeouts": (
        "src/meshconform/wait/timeouts.py",
        ("tests/core/test_timeouts.py", "tests/core/test_waiters.py"),
    ),
    "wait.conditions": (
        "src/meshconform/wait/conditions.py",
        (
            "tests/live/test_wait_conditions.py",
            "tests/live/test_wait_conditions_rows.py",
            "tests/observe",
            "tests/live/test_kube_watch.py",
        ),
    ),
    "wait.workloads": (
        "src/meshconform/wait/workloads.py",
        ("tests/observe", "tests/live/test_wait_workloads.py"),
    ),
    "wait.probes": (
        "src/meshconform/wait/probes.py",
        ("tests/live/test_wait_probes.py", "tests/observe", "tests/dataplane/test_flaky.py"),
    ),
    "kube": (
        "src/meshconform/live/kube.py",
        ("tests/live/test_kube_watch.py", "tests/live/test_kube_exec.py"),
    ),
    "claimcheck": (
        "src/meshconform/claimcheck.py",
        (
            "tests/observe",
            "tests/core/test_claimcheck.py",
            "tests/core/test_claimcheck_incorrect.py",
        ),
    ),
    "probes.classify": (
        "src/meshconform/traffic/classify.py",
        ("tests/dataplane/test_classify.py",),
    ),
    "traffic.expect": (
        "src/meshconform/traffic/expect.py",
        ("tests/observe", "tests/dataplane/test_classify.py",
         "tests/dataplane/test_unobservable.py"),
    ),
    "traffic.observation": (
        "src/meshconform/traffic/observation.py",
        ("tests/dataplane/test_classify.py", "tests/dataplane/test_unobservable.py",
         "tests/dataplane/test_flaky.py", "tests/observe"),
    ),
}
#: mutmut's status words (``mutmut results --all true``)
KILLED = {"killed"}
SURVIVED = {"survived"}
_RESULT = re.compile(r"^\s*(\S+): (\S.*)$")
#: every survivor's diff in one interpreter (``mutmut show`` starts one per mutant)
_DIFFS = """
import json, sys
from mutmut.__main__ import find_mutant
from mutmut.mutation.diff_apply import get_diff_for_mutant
names = json.load(sys.stdin)
print(json.dumps({n: get_diff_for_mutant(n, path=find_mutant(n).path) for n in names}))
"""


@dataclass
class ModuleScore:
    module: str
    statuses: dict[str, str] = field(default_factory=dict)
    survivors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    capped: bool = False

    def count(self, words: set[str]) -> int:
        return sum(1 for s in self.statuses.values() if s in words)

    @property
    def killed(self) -> int:
        return self.count(KILLED)

    @property
    def survived(self) -> int:
        return self.count(SURVIVED)

    @property
    def undecided(self) -> int:
        return len(self.statuses) - self.killed - self.survived

    @property
    def wording(self) -> int:
        """Survivors that only change message text (see :func:`wording_only`)."""
        return sum(1 for diff in self.survivors.values() if wording_only(diff))

    def line(self) -> str:
        decided = self.killed + self.survived
        score = f"{100 * self.killed / decided:5.1f}%" if decided else "  n/a"
        logic = decided - self.wording
        decisions = f"{100 * self.killed / logic:5.1f}%" if logic else "  n/a"
        cap = " (capped)" if self.capped else ""
        other: dict[str, int] = {}
        for status in self.statuses.values():
            if status not in KILLED | SURVIVED:
                other[status] = other.get(status, 0) + 1
        if other:
            cap += " [" + ", ".join(f"{k} {v}" for k, v in sorted(other.items())) + "]"
        return (
            f"{self.module:16} {score}  killed {self.killed:4}  survived {self.survived:3} "
            f"(wording {self.wording:3})  undecided {self.undecided:3}  "
            f"decisions {decisions}  {self.seconds:5.0f}s{cap}"
        )


_STRING = re.compile(r"""(?:[rbfu]{0,2})("[^"]*"|'[^']*')""")


def wording_only(diff: str) -> bool:
    """True when a mutant only changes the text inside string literals (``"XX...XX"``,
    case changes): the explanation a user reads, not a decision. Counted separately."""
    removed = [line[1:] for line in diff.splitlines()
               if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff.splitlines()
             if line.startswith("+") and not line.startswith("+++")]
    if not removed or len(removed) != len(added):
        return False
    return all(_STRING.sub('""', a) == _STRING.sub('""', b) and a != b
               for a, b in zip(removed, added, strict=True))


def scratch_copy(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    for rel in files:
        source = ROOT / rel
        if source.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def configure(dest: Path, source: str, tests: tuple[str, ...]) -> None:
    selection = ", ".join(f'"{t}"' for t in tests)
    with (dest / "pyproject.toml").open("a", encoding="utf-8") as out:
        out.write(
            "\n[tool.mutmut]\n"
            'source_paths = ["src/"]\n'
            f'only_mutate = ["{source}", "*{source.removeprefix("src/")}"]\n'
            f"pytest_add_cli_args_test_selection = [{selection}]\n"
            'also_copy = ["fixtures", "clusters", "suites", "conftest.py", "tests", "docs"]\n'
        )


def run_module(module: str, max_seconds: float, keep: bool, python: str) -> ModuleScore:
    source, tests = TARGETS[module]
    score = ModuleScore(module)
    workdir = Path(tempfile.mkdtemp(prefix=f"meshconform-mutation-{module}-"))
    try:
        scratch_copy(workdir)
        configure(workdir, source, tests)
        env = {**os.environ, "MESHCONFORM_ROOT": str(workdir / "mutants")}
        started = time.monotonic()
        proc = subprocess.Popen(
            [python, "-m", "mutmut", "run", "--max-children", "1"],
            cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )
        try:
            _, stderr = proc.communicate(timeout=max_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            _, stderr = proc.communicate()
            score.capped = True
        score.seconds = time.monotonic() - started
        if proc.returncode not in (0, None) and not score.capped:
            print(f"{module}: mutmut exited {proc.returncode}: {stderr[-1500:]}", file=sys.stderr)
        listed = subprocess.run(
            [python, "-m", "mutmut", "results", "--all", "true"],
            cwd=workdir, env=env, capture_output=True, text=True, check=False,
        ).stdout
        for line in listed.splitlines():
            match = _RESULT.match(line)
            if match:
                score.statuses[match.group(1)] = match.group(2).strip()
        survivors = [name for name, status in score.statuses.items() if status in SURVIVED]
        if survivors:
            shown = subprocess.run(
                [python, "-c", _DIFFS], input=json.dumps(survivors), cwd=workdir, env=env,
                capture_output=True, text=True, check=False,
            )
            diffs = json.loads(shown.stdout) if shown.returncode == 0 else {}
            score.survivors = {n: diffs.get(n, "(diff unavailable)") for n in survivors}
    finally:
        if keep:
            print(f"{module}: kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", action="append", choices=sorted(TARGETS),
                        help="module to mutate (repeatable; default all, one after another)")
    parser.add_argument("--max-seconds", type=float, default=900.0,
                        help="cap per module; mutants not run by then count as undecided")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies")
    parser.add_argument("--quiet-survivors", action="store_true",
                        help="list survivors by name only, without their diffs")
    args = parser.parse_args()
    if shutil.which("git") is None:
        print("mutation.py needs git (the scratch copy is git ls-files)", file=sys.stderr)
        return 2
    try:
        import mutmut  # noqa: F401, PLC0415
    except ImportError:
        print("mutmut is not installed: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    scores = []
    for module in args.module or list(TARGETS):
        score = run_module(module, args.max_seconds, args.keep, sys.executable)
        print(score.line(), flush=True)
        scores.append(score)
    killed = sum(s.killed for s in scores)
    survived = sum(s.survived for s in scores)
    wording = sum(s.wording for s in scores)
    undecided = sum(s.undecided for s in scores)
    total = f"{100 * killed / (killed + survived):.1f}%" if killed + survived else "n/a"
    logic = killed + survived - wording
    decisions = f"{100 * killed / logic:.1f}%" if logic else "n/a"
    print(f"{'total':16} {total:>6}  killed {killed:4}  survived {survived:3} "
          f"(wording {wording:3})  undecided {undecided:3}  decisions {decisions}")
    for score in scores:
        for name, diff in score.survivors.items():
            kind = "wording" if wording_only(diff) else "logic"
            print(f"\nsurvived ({kind}): {name}")
            if not args.quiet_survivors and kind == "logic":
                print(diff)
    return 0


if __name__ == "__main__":
    sys.exit(main())
