"""Compare two reports: versions changed, verdicts flipped, claims added or removed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Key = tuple[str, str, str, str]


def _rows(report: Mapping[str, Any]) -> dict[Key, Mapping[str, Any]]:
    """(claim, mode, tier, istio version) -> row. Rows of other versions stay distinct."""
    return {
        (r["id"], r["mode"], r["tier"], r.get("istio_version") or ""): r for r in report["claims"]
    }


def _rows_ignoring_version(
    report: Mapping[str, Any],
) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    return {(r["id"], r["mode"], r["tier"]): r for r in report["claims"]}


def diff_reports(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-able diff. When the Istio version changed, rows are matched without it."""
    versions = {
        "istio": [old["istio"], new["istio"]],
        "meshconform": [old["meshconform"], new["meshconform"]],
    }
    changed = {k: v for k, v in versions.items() if v[0] != v[1]}
    if old["istio"].get("version") != new["istio"].get("version"):
        before: Mapping[Any, Mapping[str, Any]] = _rows_ignoring_version(old)
        after: Mapping[Any, Mapping[str, Any]] = _rows_ignoring_version(new)
    else:
        before, after = _rows(old), _rows(new)
    flipped = []
    for key in sorted(set(before) & set(after)):
        a, b = before[key], after[key]
        if (a["verdict"], a.get("observed")) != (b["verdict"], b.get("observed")):
            flipped.append(
                {
                    "id": key[0],
                    "mode": key[1],
                    "tier": key[2],
                    "old": {
                        "verdict": a["verdict"],
                        "observed": a.get("observed"),
                        "istio_version": a.get("istio_version"),
                    },
                    "new": {
                        "verdict": b["verdict"],
                        "observed": b.get("observed"),
                        "istio_version": b.get("istio_version"),
                        "finding": b.get("finding", ""),
                    },
                }
            )
    return {
        "versions_changed": changed,
        "flipped": flipped,
        "added": [list(k) for k in sorted(set(after) - set(before))],
        "removed": [list(k) for k in sorted(set(before) - set(after))],
    }


def render_diff_markdown(diff: Mapping[str, Any]) -> str:
    lines = ["# meshconform report diff", ""]
    if diff["versions_changed"]:
        for name, (a, b) in diff["versions_changed"].items():
            lines.append(f"- {name}: `{a}` -> `{b}`")
    else:
        lines.append("- versions unchanged")
    lines += ["", f"## Verdicts flipped ({len(diff['flipped'])})", ""]
    if diff["flipped"]:
        lines += ["| claim | mode | tier | old | new |", "| --- | --- | --- | --- | --- |"]
        for f in diff["flipped"]:
            old, new = f["old"], f["new"]
            lines.append(
                f"| `{f['id']}` | {f['mode']} | {f['tier']} | {old['verdict']} "
                f"({old['observed'] or '-'}) | {new['verdict']} "
                f"({new['observed'] or '-'}) {new['finding']} |"
            )
    for title, key in (("Added", "added"), ("Removed", "removed")):
        lines += ["", f"## {title} ({len(diff[key])})", ""]
        lines += [f"- `{row[0]}` {' '.join(row[1:])}".rstrip() for row in diff[key]]
    return "\n".join(lines) + "\n"
