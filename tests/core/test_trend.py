"""``meshconform trend``: verdict changes and phase timings over several runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from meshconform.claims import Verdict
from meshconform.cli import main
from meshconform.report import ClaimResult, RunInfo, write_report

NIGHTS = {
    "nightly-2026-11-29": ({"job-completes": Verdict.PASS, "gateway-health": Verdict.PASS},
                           {"cluster": 41.0, "istio": 63.5, "product": 0.0, "checks": 120.2}),
    "nightly-2026-11-30": ({"job-completes": Verdict.FAIL, "gateway-health": Verdict.FLAKY},
                           {"cluster": 44.1, "istio": 70.0, "product": 0.0, "checks": 131.0}),
    "nightly-2026-12-01": ({"job-completes": Verdict.PASS, "gateway-health": Verdict.PASS},
                           {"cluster": 39.8, "istio": 61.2, "product": 0.0, "checks": 118.7}),
}


def _nights(tmp_path: Path) -> list[Path]:
    out = []
    for night, (verdicts, timings) in NIGHTS.items():
        results = [ClaimResult(id=cid, mode="native-sidecar", tier="live", verdict=v,
                               expected="holds", observed="holds", istio_version="1.30")
                   for cid, v in verdicts.items()]
        info = RunInfo(modes=["native-sidecar"], tiers=["live"], istio_version="1.30.3",
                       timings=timings)
        write_report(results, info, tmp_path / night)
        out.append(tmp_path / night / "report.json")
    return out


def test_trend_table_shows_verdict_changes_and_timings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trend", *map(str, _nights(tmp_path))]) == 0
    out = capsys.readouterr().out
    header = "| nightly-2026-11-29 | nightly-2026-11-30 | nightly-2026-12-01 |"
    assert f"| claim | mode | tier | Istio {header}" in out
    assert "| `job-completes` | native-sidecar | live | 1.30 | pass | **fail** | pass |" in out
    assert "| `gateway-health` | native-sidecar | live | 1.30 | pass | **flaky** | pass |" in out
    assert "| istio | 63.5 | 70.0 | 61.2 |" in out
    assert "| flaky | 0 | 1 | 0 |" in out


def test_trend_without_changes_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _nights(tmp_path)[0]
    assert main(["trend", str(first), str(first)]) == 0
    assert "No verdict changed across the 2 runs." in capsys.readouterr().out


def test_trend_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "trend.png"
    assert main(["trend", *map(str, _nights(tmp_path)), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Plot: {png}" in capsys.readouterr().out


def test_trend_plot_without_matplotlib_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    png = tmp_path / "trend.png"
    assert main(["trend", *map(str, _nights(tmp_path)), "--plot", str(png)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "meshconform: --plot needs matplotlib, which is not installed. "
        "Install it with: pip install 'meshconform[plot]'\n"
    )
    assert not png.exists()
