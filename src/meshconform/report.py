"""The run report: JSON (machines), Markdown (the claim x mode matrix), and its schema.

Every producer (the pytest plugin, ``meshconform probe``, ``meshconform static``)
builds :class:`ClaimResult` rows and hands them to :func:`write_report`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from meshconform import __version__, paths
from meshconform.claims import ANY_MODE, Outcome, Verdict, get_catalog
from meshconform.errors import UsageError
from meshconform.modes import MODES
from meshconform.redact import redact

TIERS = ("static", "dataplane", "live")


@dataclass
class ClaimResult:
    """One check's outcome for one claim in one mode, tier and Istio version."""

    id: str
    mode: str
    tier: str
    verdict: Verdict
    expected: str
    observed: str | None = None
    evidence: str = ""
    duration_s: float = 0.0
    istio_version: str | None = None
    check: str = ""
    artifacts: str | None = None

    @property
    def finding(self) -> str:
        """'as documented', 'documentation outdated', 'documentation incorrect' (a claim recorded
        as incorrect, shown so) or 'does not conform' (or '')."""
        if self.observed is None or self.verdict in (Verdict.SKIP, Verdict.ERROR):
            return ""
        claim = get_catalog().get(self.id)
        if claim is not None and claim.incorrect is not None and self.observed != self.expected:
            return "documentation incorrect"
        if self.observed == self.expected:
            return "as documented"
        if self.expected == Outcome.BROKEN and self.observed == Outcome.HOLDS:
            return "documentation outdated"
        return "does not conform"

    def to_json(self) -> dict[str, Any]:
        claim = get_catalog().get(self.id)
        data = asdict(self)
        data["verdict"] = str(self.verdict)
        data["title"] = claim.title if claim else ""
        data["source"] = "; ".join(claim.sources) if claim else ""
        data["finding"] = self.finding
        data["evidence"] = redact(self.evidence)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClaimResult:
        keys = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in keys}
        values["verdict"] = Verdict(values["verdict"])
        return cls(**values)


@dataclass
class RunInfo:
    """What the run was about: versions, modes, tiers, product, phase timings."""

    modes: Sequence[str]
    tiers: Sequence[str]
    istio_version: str | None = None
    istio_build: str | None = None
    kubernetes_version: str | None = None
    product: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    command: str = ""
    #: live tier: the kind of cluster the evidence came from (kind, kubeconfig, controlplane)
    cluster: str | None = None


def _summary(verdicts: Iterable[str]) -> dict[str, int]:
    """Counts per verdict; ``flaky`` only when a check was flaky (older reports lack it)."""
    counts = Counter(verdicts)
    summary = {
        v.value: counts.get(v.value, 0)
        for v in Verdict
        if v is not Verdict.FLAKY or counts.get(v.value)
    }
    summary["total"] = sum(summary.values())
    return summary


def summarize(results: Iterable[ClaimResult]) -> dict[str, int]:
    return _summary(str(r.verdict) for r in results)


def build_report(results: Sequence[ClaimResult], info: RunInfo) -> dict[str, Any]:
    return {
        "meshconform": __version__,
        "istio": {"version": info.istio_version, "build": info.istio_build},
        "kubernetes": {"version": info.kubernetes_version} if info.kubernetes_version else None,
        "cluster": info.cluster,
        "mode": list(info.modes),
        "tier": list(info.tiers),
        "product": info.product,
        "command": redact(info.command),
        "claims": [r.to_json() for r in results],
        "summary": summarize(results),
        "timings": {k: round(v, 3) for k, v in info.timings.items()},
    }


def report_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        paths.package_data("report.schema.json").read_text(encoding="utf-8")
    )
    return loaded


def validate_report(report: Mapping[str, Any]) -> None:
    """Raise jsonschema.ValidationError when a report does not match its schema."""
    jsonschema.validate(report, report_schema())


_CELL = {
    Verdict.PASS: "pass",
    Verdict.FAIL: "**FAIL**",
    Verdict.SKIP: "skip",
    Verdict.ERROR: "**ERROR**",
    Verdict.FLAKY: "**flaky**",
}


def _findings(report: Mapping[str, Any]) -> list[tuple[str, int]]:
    counts = Counter(row.get("finding", "") for row in report["claims"])
    names = (
        "as documented",
        "documentation outdated",
        "documentation incorrect",
        "does not conform",
    )
    return [(name, counts.get(name, 0)) for name in names]


def render_markdown(report: Mapping[str, Any]) -> str:
    """The claim x mode matrix, then every failure with its evidence.

    A mode_independent result (mode ``any``) ran once; it is shown in every mode column,
    marked "all modes" (or in one "any" column when the run had no other mode).
    """
    modes = [m for m in MODES if m in report["mode"]] or [ANY_MODE]
    rows: dict[str, dict[str, list[str]]] = {}
    for row in report["claims"]:
        label = f"{_CELL[Verdict(row['verdict'])]} ({row['tier']}"
        label += f" {row['istio_version']})" if row.get("istio_version") else ")"
        if row.get("finding") == "documentation outdated":
            label += " doc outdated"
        elif row.get("finding") == "documentation incorrect":
            label += " doc incorrect"
        if row["mode"] == ANY_MODE and modes != [ANY_MODE]:
            for mode in modes:
                rows.setdefault(row["id"], {}).setdefault(mode, []).append(label + " all modes")
            continue
        rows.setdefault(row["id"], {}).setdefault(row["mode"], []).append(label)
    istio = report["istio"]["version"] or "unknown"
    k8s = (report["kubernetes"] or {}).get("version", "n/a")
    lines = [
        "# meshconform report",
        "",
        f"meshconform {report['meshconform']} | Istio {istio} | Kubernetes {k8s} | "
        f"tiers {', '.join(report['tier'])} | product {report['product'] or 'none'}",
        "",
        "| verdicts | " + " | ".join(f"{k} {v}" for k, v in report["summary"].items()) + " |",
        "| --- | " + " | ".join("---" for _ in report["summary"]) + " |",
        "",
        "Findings: " + ", ".join(f"{n} {finding}" for finding, n in _findings(report)),
        "",
        "| claim | expected | " + " | ".join(modes) + " |",
        "| --- | --- | " + " | ".join("---" for _ in modes) + " |",
    ]
    catalog = get_catalog()
    for cid in [c for c in catalog if c in rows] + sorted(set(rows) - set(catalog)):
        claim = catalog.get(cid)
        expected = "/".join(str(claim.expectation(m).outcome) for m in modes) if claim else "?"
        cells = ["<br>".join(rows[cid].get(m, [])) or "-" for m in modes]
        lines.append(f"| `{cid}` | {expected} | " + " | ".join(cells) + " |")
    failures = [r for r in report["claims"] if r["verdict"] in ("fail", "error")]
    if failures:
        lines += ["", "## Failures and errors", ""]
        for r in failures:
            lines.append(f"### `{r['id']}` in {r['mode']} ({r['tier']}): {r['verdict']}")
            lines.append("")
            lines.append(f"{r['title']}  ")
            lines.append(
                f"Expected {r['expected']}, observed {r['observed'] or 'nothing'}. "
                f"{r['finding']}".rstrip()
            )
            if r.get("artifacts"):
                lines.append(f"Artifacts: `{r['artifacts']}`")
            lines += ["", "```", r["evidence"].strip() or "(no evidence recorded)", "```", ""]
    flaky = [r for r in report["claims"] if r["verdict"] == "flaky"]
    if flaky:
        lines += ["", "## Flaky checks", ""]
        lines.append(
            "The outcome matched the documentation, but the observations disagreed before "
            "they converged, so the check is not counted as a pass."
        )
        lines.append("")
        for r in flaky:
            lines += [f"### `{r['id']}` in {r['mode']} ({r['tier']}): flaky", ""]
            lines += ["```", r["evidence"].strip() or "(no evidence recorded)", "```", ""]
    if report["timings"]:
        lines += ["", "## Timings (seconds)", ""]
        lines += [f"- {k}: {v}" for k, v in report["timings"].items()]
    return "\n".join(lines) + "\n"


def write_report(results: Sequence[ClaimResult], info: RunInfo, report_dir: Path) -> dict[str, Any]:
    """Write report.json and report.md into ``report_dir``; return the report."""
    return write_document(build_report(results, info), report_dir)


def write_document(report: dict[str, Any], report_dir: Path) -> dict[str, Any]:
    """Validate a built report and write it as report.json and report.md."""
    validate_report(report)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (report_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return report


def read_report(path: Path) -> dict[str, Any]:
    """A report.json for a command: a missing or foreign file is a UsageError."""
    if not path.is_file():
        raise UsageError(f"report {path} does not exist", "Pass the path of a report.json")
    try:
        return load_report(path)
    except (json.JSONDecodeError, jsonschema.ValidationError) as error:
        reason = str(error).splitlines()[0]
        raise UsageError(
            f"{path} is not a meshconform report.json ({reason})",
            "Pass report.json files written by meshconform",
        ) from None


def _joined(values: Iterable[str | None]) -> str | None:
    unique = sorted({v for v in values if v})
    return ", ".join(unique) or None


def merge_reports(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One claim x mode matrix from several runs (e.g. the nightly's mode x version cells)."""
    if not reports:
        raise UsageError("nothing to merge", "Pass one or more report.json files")
    claims = [row for report in reports for row in report["claims"]]
    timings: dict[str, float] = {}
    for report in reports:
        for phase, seconds in report["timings"].items():
            timings[phase] = round(timings.get(phase, 0.0) + seconds, 3)
    kubernetes = _joined((r["kubernetes"] or {}).get("version") for r in reports)
    summary = _summary(c["verdict"] for c in claims)
    return {
        "meshconform": _joined(r["meshconform"] for r in reports) or __version__,
        "istio": {
            "version": _joined(r["istio"]["version"] for r in reports),
            "build": _joined(r["istio"]["build"] for r in reports),
        },
        "kubernetes": {"version": kubernetes} if kubernetes else None,
        "cluster": _joined(r.get("cluster") for r in reports),
        "mode": [m for m in [*MODES, ANY_MODE] if any(m in r["mode"] for r in reports)],
        "tier": [t for t in TIERS if any(t in r["tier"] for r in reports)],
        "product": _joined(r["product"] for r in reports),
        "command": f"meshconform merge ({len(reports)} reports)",
        "claims": claims,
        "summary": summary,
        "timings": timings,
    }


def load_report(path: Path) -> dict[str, Any]:
    """Read and validate a report.json written by any meshconform command."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    validate_report(data)
    return data
