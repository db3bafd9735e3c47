"""One claim's chain, as data: claim -> checks -> manifests -> evaluator -> evidence.

``meshconform plan --claim ID`` prints it. Nothing here is a second list that could
drift from the code: the checks are what pytest collects from ``suites/`` (every tier,
every mode), the manifests are what each check's claim marker names plus the fixture
files its fixtures' source applies, the static evaluator is the static registry's
entry (the one both static runners call), and a live or dataplane check's deciding
functions are the ``meshconform`` functions its code calls.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from meshconform import paths
from meshconform.claims import Claim, get_catalog
from meshconform.errors import UsageError
from meshconform.modes import MODES

#: a quoted path under fixtures/ in source code
_FIXTURE_PATH = re.compile(r"""["']((?:[\w.-]+/)+[\w.-]+\.ya?ml)["']""")

#: the mode's Istio overlay, under fixtures/ (fixtures/istio/<mode>.yaml)
MODE_OVERLAY = "istio/<mode>.yaml"

#: why a gateway probe check is not in an ordinary run
PROBE_ONLY = "runs only with --probe-gateway HOST:PORT (a gateway you can reach)"

#: what a tier's verdict rests on, when the check does not say more
TIER_EVIDENCE = {
    "static": "istioctl output, no cluster: `istioctl manifest generate` of the mode's "
    "overlay and `istioctl kube-inject` of the workloads (the facts the evaluator reads)",
    "dataplane": "requests through a real Envoy serving the configuration istiod generates",
}


@dataclass
class ChainCheck:
    """One check function of the claim, over the matrix cells pytest collected."""

    nodeid: str  # without the parametrization
    tier: str
    #: mode -> None (runs) or the central skip reason
    modes: dict[str, str | None] = field(default_factory=dict)
    istio_versions: list[str] = field(default_factory=list)
    #: named by the check's claim marker
    manifests: list[str] = field(default_factory=list)
    #: fixture name -> the fixture files its source applies
    fixture_manifests: dict[str, list[str]] = field(default_factory=dict)
    #: the function(s) that decide holds/broken
    evaluator: str = ""
    evidence: str = ""


@dataclass
class ClaimChain:
    claim: Claim
    checks: list[ChainCheck]

    def to_json(self) -> dict[str, Any]:
        c = self.claim
        return {
            "claim": {
                "id": c.id,
                "area": c.area,
                "title": c.title,
                "sources": list(c.sources),
                "product": c.product,
                "expect": {
                    m: {"outcome": str(e.outcome), "note": e.note} for m, e in c.expect.items()
                },
                "workaround": list(c.workaround),
                "workaround_note": c.workaround_note,
            },
            "checks": [check.__dict__ for check in self.checks],
        }


def fixture_files(text: str) -> list[str]:
    """The paths under fixtures/ that ``text`` (source code) names, in order, once each."""
    root = paths.fixtures_dir()
    found = [m for m in _FIXTURE_PATH.findall(text) if (root / m).is_file()]
    return list(dict.fromkeys(found))


def _source(func: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        return ""


def _names(code: Any) -> list[str]:
    """Every global or attribute name ``code`` and its nested functions use."""
    names: list[str] = []
    codes = [code]
    while codes:
        current = codes.pop()
        if current is None:
            continue
        names += list(current.co_names)
        codes += [c for c in current.co_consts if inspect.iscode(c)]
    return names


def _module_functions(func: Callable[..., Any]) -> list[str]:
    """The ``meshconform`` functions a check's code calls, also through the helpers of its
    own module (``_run_job`` and the like), read from the compiled code."""
    scope = getattr(func, "__globals__", {})
    modules = [
        v for v in scope.values() if inspect.ismodule(v) and v.__name__.startswith("meshconform.")
    ]
    found: list[str] = []
    pending = [func]
    visited: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in visited:
            continue
        visited.add(id(current))
        for name in _names(getattr(current, "__code__", None)):
            for value in [scope.get(name), *(getattr(m, name, None) for m in modules)]:
                if not inspect.isfunction(value):
                    continue
                module = value.__module__ or ""
                if module.startswith("meshconform."):
                    found.append(f"{module}.{value.__qualname__}")
                elif module == func.__module__ and value is not func:
                    pending.append(value)  # a helper beside the check
    return list(dict.fromkeys(found))


class _ChainCollector:
    def __init__(self, claim_id: str) -> None:
        self.claim_id = claim_id
        self.checks: dict[str, ChainCheck] = {}

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        """Every tier is selected, so only gateway probe checks are deselected here: they run
        only against a reachable gateway. They belong to the chain all the same."""
        for item in items:
            if item.get_closest_marker("probe_gateway") is not None:
                self._add(item, PROBE_ONLY)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            self._add(item, None)

    def _add(self, item: pytest.Item, deselected: str | None) -> None:
        from meshconform.plugin.matrix import (  # noqa: PLC0415 - needs a configured plugin
            item_claim_id,
            item_evidence,
            item_manifests,
            item_mode_name,
            item_release,
            item_tier,
        )
        from meshconform.static.registry import find  # noqa: PLC0415

        if item_claim_id(item) != self.claim_id:
            return
        tier = item_tier(item) or ""
        base = item.nodeid.split("[", 1)[0]
        check = self.checks.get(base)
        if check is None:
            check = self.checks[base] = self._new(item, base, tier, find, item_manifests)
            if deselected == PROBE_ONLY:
                check.evidence = "requests to the reachable gateway given with --probe-gateway"
            elif tier == "live":
                check.evidence = "live cluster: " + ", ".join(
                    sorted(str(e) for e in item_evidence(item))
                )
        skip = item.get_closest_marker("skip")
        mode = item_mode_name(item) or "-"
        reason = str(skip.kwargs.get("reason", "")) if skip else None
        check.modes[mode] = deselected or reason
        release = item_release(item)
        if release is not None and release.minor not in check.istio_versions:
            check.istio_versions.append(release.minor)

    def _new(
        self,
        item: pytest.Item,
        base: str,
        tier: str,
        find: Callable[[str], Any],
        item_manifests: Callable[[pytest.Item], tuple[str, ...]],
    ) -> ChainCheck:
        func = getattr(item, "function", None)
        # static and live: Istio rendered or installed with the mode's overlay first
        probe = item.get_closest_marker("probe_gateway") is not None
        overlay = [MODE_OVERLAY] if tier in ("static", "live") and not probe else []
        check = ChainCheck(base, tier, manifests=[*overlay, *item_manifests(item)])
        info = getattr(item, "_fixtureinfo", None)
        defs = getattr(info, "name2fixturedefs", {}) or {}
        for name in getattr(info, "names_closure", []):
            for fixturedef in defs.get(name, ()):
                files = fixture_files(_source(fixturedef.func))
                if files:
                    check.fixture_manifests[name] = files
        registered = find(self.claim_id) if tier == "static" else None
        if registered is not None:
            check.manifests = list(dict.fromkeys([*check.manifests, *registered.manifests]))
            check.evaluator = f"{registered.decides} over {registered.facts} (static registry)"
            check.evidence = TIER_EVIDENCE["static"]
        elif func is not None:
            calls = _module_functions(func)
            check.evaluator = f"{func.__module__}.{func.__qualname__}" + (
                f", calling {', '.join(calls)}" if calls else ""
            )
            check.evidence = TIER_EVIDENCE.get(tier, "")
        return check


def claim_chain(claim_id: str, extra_args: Sequence[str] = ()) -> ClaimChain:
    """The chain of ``claim_id``: its checks as pytest collects them from ``suites/``."""
    catalog = get_catalog()
    if claim_id not in catalog:
        raise UsageError(
            f"unknown claim {claim_id!r}", "Run 'meshconform claims' for the catalog's ids"
        )
    claim = catalog[claim_id]
    args = ["--tier=all", "--mesh-mode=all", *extra_args]
    if claim.product is not None:
        args.append(f"--product={claim.product}")
    collector = _ChainCollector(claim_id)
    suites = str(paths.repo_root() / "suites")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = pytest.main(
            [suites, "--collect-only", "-q", "-p", "no:cacheprovider", *args],
            plugins=[collector],
        )
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        lines = (err.getvalue() + out.getvalue()).strip().splitlines()
        message = next(
            (ln for ln in lines if "meshconform:" in ln or "ERROR" in ln),
            lines[-1] if lines else f"pytest exited {code}",
        )
        raise UsageError(
            f"collecting the checks failed: {message.removeprefix('ERROR: ')}",
            "Fix the suite or the options and run again",
        )
    order = {"static": 0, "dataplane": 1, "live": 2}
    checks = sorted(collector.checks.values(), key=lambda c: (order.get(c.tier, 3), c.nodeid))
    return ClaimChain(claim, checks)


def _modes_line(check: ChainCheck) -> list[str]:
    runs = [m for m, why in check.modes.items() if why is None]
    lines = [f"runs in: {', '.join(runs) or 'no mode'}"]
    skipped: dict[str, list[str]] = {}
    for mode, why in check.modes.items():
        if why is not None:
            skipped.setdefault(why, []).append(mode)
    lines += [f"skipped in {', '.join(modes)}: {why}" for why, modes in skipped.items()]
    return lines


def render_chain(chain: ClaimChain) -> str:
    """The chain as text, claim first, one block per check."""
    c = chain.claim
    lines = [
        f"claim {c.id} ({c.area}{', product ' + c.product if c.product else ''})",
        f"  {c.title}",
        "  sources:",
    ]
    lines += [f"    - {s}" for s in c.sources]
    lines.append("  expected:")
    for mode in MODES:
        e = c.expect[mode]
        lines.append(f"    {mode:20} {e.outcome!s:7} {e.note}".rstrip())
    if c.workaround:
        lines.append(f"  workaround claims: {', '.join(c.workaround)}")
    if c.workaround_note:
        lines.append(f"  workaround note: {c.workaround_note}")
    lines += ["", f"checks ({len(chain.checks)}):"]
    if not chain.checks:
        lines.append("  none collected")
    for check in chain.checks:
        lines.append(f"  [{check.tier}] {check.nodeid}")
        for line in _modes_line(check):
            lines.append(f"      {line}")
        if check.istio_versions:
            lines.append(f"      istio: {', '.join(check.istio_versions)}")
        lines.append("      manifests: " + (", ".join(check.manifests) or "-"))
        for name, files in check.fixture_manifests.items():
            lines.append(f"        via fixture {name}: {', '.join(files)}")
        lines.append(f"      evaluator: {check.evaluator}")
        lines.append(f"      evidence: {check.evidence}")
    return "\n".join(lines) + "\n"
