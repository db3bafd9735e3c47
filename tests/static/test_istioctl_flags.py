"""Every istioctl command line the suite runs, against the REAL istioctl of every CI version.

A flag or subcommand that one Istio release lacks (``manifest generate -o`` before 1.31)
fails the test named after that version and command, instead of crashing a run.

The command lines come from the suite's own builders (``manifest_generate_args``,
``kube_inject_args``, ``analyze_args``, ``ISTIOCTL_VERSION_ARGS``, ``install_argv``,
``IstioctlAccess.argv``), never retyped here; ``test_every_istioctl_call_uses_a_checked_builder``
keeps new call sites from bypassing them. Offline commands run for real; the ones that need
a cluster (install, proxy-status, proxy-config) run with ``--help`` appended: cobra parses
every flag first and answers "unknown flag" before it would print help, and
``test_help_still_rejects_unknown_flags`` proves that for each version.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from meshconform import paths
from meshconform.live.artifacts import IstioctlAccess
from meshconform.live.istio import install_argv
from meshconform.live.tools import ISTIOCTL_VERSION_ARGS
from meshconform.modes import MODES
from meshconform.static.analyze import analyze_args
from meshconform.static.inject import kube_inject_args
from meshconform.static.install import generate, manifest_generate_args
from meshconform.static.istioctl import Istioctl, get_istioctl
from tests.static.conftest import STATIC_VERSIONS

_ISTIOCTLS: dict[str, Istioctl] = {}


def _istioctl(minor: str) -> Istioctl:
    """The version's istioctl as CI provisions it; missing is an ERROR with the reason."""
    if minor not in _ISTIOCTLS:
        _ISTIOCTLS[minor] = get_istioctl(STATIC_VERSIONS[minor], build=False)
    return _ISTIOCTLS[minor]


def _accepted(
    istioctl: Istioctl,
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    input_text: str | None = None,
) -> str:
    """Run ``args``; fail with istioctl's own words when it rejects them."""
    proc = istioctl.run(args, check=False, env=env, input_text=input_text)
    said = (proc.stderr + proc.stdout).strip()
    assert "unknown flag" not in said, said
    assert "unknown shorthand flag" not in said, said
    assert "unknown command" not in said, said
    assert proc.returncode == 0, f"exit {proc.returncode}: {said[-800:]}"
    return proc.stdout


def _manifest_generate(istioctl: Istioctl, tmp_path: Path) -> None:
    overlay = MODES["sidecar"].istio_overlay
    out = _accepted(istioctl, manifest_generate_args(["-f", str(overlay)], ["hub=docker.io/istio"]))
    kinds = {o["kind"] for o in yaml.safe_load_all(out) if o}
    assert {"Deployment", "MutatingWebhookConfiguration"} <= kinds, sorted(kinds)


def _kube_inject(istioctl: Istioctl, tmp_path: Path) -> None:
    install = generate(istioctl, MODES["sidecar"])
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "flags", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }
    out = _accepted(
        istioctl,
        kube_inject_args(*install.config_files()),
        env={"ENABLE_NATIVE_SIDECARS": "false"},
        input_text=yaml.safe_dump(pod),
    )
    injected = next(d for d in yaml.safe_load_all(out) if d)
    assert "istio-proxy" in [c["name"] for c in injected["spec"]["containers"]]


def _analyze(istioctl: Istioctl, tmp_path: Path) -> None:
    bundle = tmp_path / "resources.yaml"
    bundle.write_text(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
        "metadata: {name: flags, namespace: default}\n"
        "spec: {hosts: [example.com], ports: [{number: 443, name: tls, protocol: TLS}], "
        "resolution: DNS}\n",
        "utf-8",
    )
    _accepted(istioctl, analyze_args(bundle))


def _version(istioctl: Istioctl, tmp_path: Path) -> None:
    out = _accepted(istioctl, list(ISTIOCTL_VERSION_ARGS))
    if istioctl.from_source:  # the version ldflags of istioctl_build.istio_build
        assert f"{istioctl.release.minor}-dev" in out, out
    else:
        assert istioctl.release.release in out, out


_ACCESS = IstioctlAccess(Path("istioctl"), Path(os.devnull), "flags-context")


def _install(istioctl: Istioctl, tmp_path: Path) -> None:
    argv = install_argv(
        istioctl.path, MODES["ambient"], istioctl.release, Path(os.devnull), "flags-context",
        readiness_timeout=60,
    )
    _accepted(istioctl, [*argv[1:], "--help"])


def _proxy_status(istioctl: Istioctl, tmp_path: Path) -> None:
    _accepted(istioctl, [*_ACCESS.argv("proxy-status")[1:], "--help"])


def _proxy_config(istioctl: Istioctl, tmp_path: Path) -> None:
    argv = _ACCESS.argv("proxy-config", "all", "pod.ns", "-o", "json")
    out = _accepted(istioctl, [*argv[1:], "--help"])
    output_flag = [line for line in out.splitlines() if "--output" in line]
    assert output_flag, out
    assert "json" in output_flag[0], output_flag  # -o json is a valid value


#: every istioctl command line the suite runs -> how it is checked
USES: dict[str, Callable[[Istioctl, Path], None]] = {
    "manifest-generate": _manifest_generate,
    "kube-inject": _kube_inject,
    "analyze": _analyze,
    "version": _version,
    "install": _install,
    "proxy-status": _proxy_status,
    "proxy-config": _proxy_config,
}


@pytest.mark.parametrize("use", sorted(USES))
@pytest.mark.parametrize("minor", sorted(STATIC_VERSIONS))
def test_istioctl_accepts(minor: str, use: str, tmp_path: Path) -> None:
    """istioctl <minor> MUST accept the suite's <use> command line, every flag of it."""
    USES[use](_istioctl(minor), tmp_path)


@pytest.mark.parametrize("minor", sorted(STATIC_VERSIONS))
def test_help_still_rejects_unknown_flags(minor: str) -> None:
    """The --help probe is only evidence if an unknown flag still fails with it."""
    proc = _istioctl(minor).run(["install", "--no-such-flag", "--help"], check=False)
    assert proc.returncode != 0
    assert "unknown flag: --no-such-flag" in proc.stderr + proc.stdout


#: the builders whose command lines USES checks, and the subcommands built inline
_BUILDERS = {"manifest_generate_args", "kube_inject_args", "analyze_args"}
_ACCESS_COMMANDS = {"proxy-status", "proxy-config"}
_INLINE_COMMANDS = {"install"}  # install_argv: [str(istioctl), "install", ...]


def _calls_outside_builders(tree: ast.AST) -> list[str]:
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = ast.unparse(node.func.value)
            first = node.args[0] if node.args else None
            if node.func.attr == "run" and "istioctl" in receiver:
                name = first.func if isinstance(first, ast.Call) else None
                builder = name.id if isinstance(name, ast.Name) else ast.unparse(first or node)
                if builder not in _BUILDERS:
                    problems.append(f"line {node.lineno}: {receiver}.run({builder} ...)")
            if node.func.attr == "argv" and "access" in receiver:
                command = first.value if isinstance(first, ast.Constant) else None
                if command not in _ACCESS_COMMANDS:
                    problems.append(f"line {node.lineno}: {receiver}.argv({command!r} ...)")
        if isinstance(node, ast.List) and len(node.elts) > 1:
            head = ast.unparse(node.elts[0])
            second = node.elts[1]
            if (
                "istioctl" in head
                and isinstance(second, ast.Constant)
                and second.value not in _INLINE_COMMANDS
            ):
                problems.append(f"line {node.lineno}: [{head}, {second.value!r}, ...]")
    return problems


def test_every_istioctl_call_uses_a_checked_builder() -> None:
    """A new istioctl call site MUST build its command line with a builder that USES checks."""
    problems = []
    for path in sorted((paths.repo_root() / "src" / "meshconform").rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        problems += [f"{path.name} {p}" for p in _calls_outside_builders(tree)]
    assert not problems, "istioctl called outside the checked builders:\n" + "\n".join(problems)
