"""``meshconform trend REPORT.json...``: verdict changes and phase timings over time.

Reports are given oldest first (e.g. the nightly's merged reports). The output is
Markdown: the claims whose verdict changed, the verdict counts and the phase
timings of each run. ``--plot FILE.png`` draws the counts and timings with
matplotlib (the optional ``plot`` extra).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from meshconform.claims import Verdict
from meshconform.errors import UsageError

#: worst first: the verdict a cell shows when a run has several results for it
_WORST = ("error", "fail", "flaky", "pass", "skip")
_PLOT_COLOURS = {
    "pass": "#2e7d32",
    "flaky": "#f9a825",
    "fail": "#c62828",
    "error": "#6a1b9a",
    "skip": "#9e9e9e",
}

Key = tuple[str, str, str, str]  # claim, mode, tier, Istio version


def run_labels(paths: Sequence[Path]) -> list[str]:
    """A short name per report: its folder's name, unique (``nightly-2026-12-01``)."""
    labels = [p.parent.name or p.stem for p in paths]
    if len(set(labels)) != len(labels):
        labels = [str(p.parent) if str(p.parent) != "." else p.stem for p in paths]
    if len(set(labels)) != len(labels):
        labels = [f"{i + 1}: {label}" for i, label in enumerate(labels)]
    return labels


def verdict_cells(report: Mapping[str, Any]) -> dict[Key, str]:
    cells: dict[Key, str] = {}
    for row in report["claims"]:
        key = (row["id"], row["mode"], row["tier"], row.get("istio_version") or "")
        verdict = str(row["verdict"])
        if key not in cells or _WORST.index(verdict) < _WORST.index(cells[key]):
            cells[key] = verdict
    return cells


def verdict_changes(reports: Sequence[Mapping[str, Any]]) -> list[tuple[Key, list[str]]]:
    """Every claim x mode x tier x version whose verdict is not the same in all runs."""
    per_run = [verdict_cells(r) for r in reports]
    keys = sorted({k for cells in per_run for k in cells})
    changes = []
    for key in keys:
        row = [cells.get(key, "-") for cells in per_run]
        if len(set(row)) > 1:
            changes.append((key, row))
    return changes


def counts(report: Mapping[str, Any]) -> dict[str, int]:
    out = {v.value: 0 for v in Verdict}
    for row in report["claims"]:
        out[str(row["verdict"])] = out.get(str(row["verdict"]), 0) + 1
    return out


def phases(reports: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: list[str] = []
    for report in reports:
        seen += [p for p in report["timings"] if p not in seen]
    return seen


def render_trend(reports: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    header = "| " + " | ".join(labels) + " |"
    rule = "| " + " | ".join("---" for _ in labels) + " |"
    lines = [f"# meshconform trend ({len(reports)} runs, oldest first)", ""]
    lines += ["| run | Istio | tiers | modes |", "| --- | --- | --- | --- |"]
    for label, r in zip(labels, reports, strict=True):
        lines.append(
            f"| {label} | {r['istio']['version'] or '?'} | {', '.join(r['tier'])} | "
            f"{', '.join(r['mode'])} |"
        )
    lines += ["", "## Verdict changes", ""]
    changes = verdict_changes(reports)
    if changes:
        lines += ["| claim | mode | tier | Istio " + header, "| --- | --- | --- | --- " + rule]
        for (cid, mode, tier, version), row in changes:
            cells = " | ".join(f"**{v}**" if v in ("fail", "error", "flaky") else v for v in row)
            lines.append(f"| `{cid}` | {mode} | {tier} | {version or '-'} | {cells} |")
    else:
        lines.append(f"No verdict changed across the {len(reports)} runs.")
    lines += ["", "## Verdicts per run", "", "| verdict " + header, "| --- " + rule]
    all_counts = [counts(r) for r in reports]
    for verdict in (v.value for v in Verdict):
        lines.append(f"| {verdict} | " + " | ".join(str(c[verdict]) for c in all_counts) + " |")
    lines += ["", "## Phase timings (seconds)", ""]
    names = phases(reports)
    if names:
        lines += ["| phase " + header, "| --- " + rule]
        for phase in names:
            values = [r["timings"].get(phase) for r in reports]
            cells = " | ".join("-" if v is None else f"{v:.1f}" for v in values)
            lines.append(f"| {phase} | {cells} |")
    else:
        lines.append("No run recorded phase timings.")
    return "\n".join(lines) + "\n"


def require_matplotlib() -> None:
    """Fail in one line, before anything is written, when the plot extra is missing."""
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib, which is not installed",
            "Install it with: pip install 'meshconform[plot]'",
        ) from None


def plot_trend(reports: Sequence[Mapping[str, Any]], labels: Sequence[str], target: Path) -> None:
    """Two panels over the runs: verdict counts, and the time spent in each phase."""
    import matplotlib  # noqa: PLC0415 - optional extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    x = list(range(len(reports)))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    all_counts = [counts(r) for r in reports]
    bottoms = [0] * len(reports)
    for verdict in ("pass", "flaky", "fail", "error", "skip"):  # stacked, good at the bottom
        values = [c.get(verdict, 0) for c in all_counts]
        if any(values):
            top.bar(x, values, bottom=bottoms, label=verdict, color=_PLOT_COLOURS[verdict])
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_ylabel("checks")
    top.set_title("meshconform: checks per verdict, per run")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    top.grid(visible=True, alpha=0.3)
    for phase in phases(reports):
        values = [r["timings"].get(phase, float("nan")) for r in reports]
        bottom.plot(x, values, marker="s", label=phase)
    bottom.set_ylabel("seconds")
    bottom.set_title("time per phase")
    if phases(reports):
        bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bottom.grid(visible=True, alpha=0.3)
    bottom.set_xticks(x, list(labels), rotation=20, ha="right")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)
