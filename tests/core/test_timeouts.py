"""``Timeouts``: every field documented with its default, scaled, and overridable per field."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from meshconform.errors import UsageError
from meshconform.options import parse_options
from meshconform.wait import Timeouts, parse_overrides
from meshconform.wait.timeouts import check_override, field_names

DOC = Path(__file__).resolve().parents[2] / "docs" / "live-checks.md"
ROW = re.compile(r"^\| `(\w+)` \| +([0-9.]+) \|", re.MULTILINE)


def test_every_field_is_in_the_docs_table_with_its_default() -> None:
    documented = {name: float(value) for name, value in ROW.findall(DOC.read_text())}
    defaults = {f.name: float(f.default) for f in fields(Timeouts)}  # type: ignore[arg-type]
    assert documented == defaults


def test_an_override_sets_exactly_that_field_after_the_scale() -> None:
    options = parse_options(timeout_scale=2, timeout_overrides=["pod_ready=300",
                                                                "consecutive_successes=5"])
    assert options.timeout_overrides == (("pod_ready", 300.0), ("consecutive_successes", 5.0))
    timeouts = options.timeouts
    assert timeouts.pod_ready == 300.0  # as given, not doubled
    assert timeouts.consecutive_successes == 5
    assert isinstance(timeouts.consecutive_successes, int)
    assert timeouts.job_complete == 2 * Timeouts().job_complete
    assert timeouts.consecutive_successes != Timeouts().scaled(2).consecutive_successes
    assert parse_options().timeouts == Timeouts()


def test_the_last_override_of_a_field_wins_and_spaces_are_allowed() -> None:
    assert parse_overrides([" pod_ready = 30", "pod_ready=45.5"]) == {"pod_ready": 45.5}
    assert parse_overrides([]) == {}
    assert Timeouts().overridden({}) == Timeouts()
    assert Timeouts().overridden({"exec_command": 7}).exec_command == 7.0
    assert Timeouts().overridden({"probe_request": 2.5}).probe_request == 2.5  # not rounded
    assert parse_overrides(["probe_request=0.5"]) == {"probe_request": 0.5}  # under a second


@pytest.mark.parametrize(("text", "problem"), [
    ("pod_ready", "expected NAME=SECONDS, got 'pod_ready'"),
    ("=30", "expected NAME=SECONDS, got '=30'"),
    ("pod_ready=soon", "pod_ready: 'soon' is not a number of seconds"),
    ("pod_ready=30=1", "pod_ready: '30=1' is not a number of seconds"),
    ("pod_redy=30", "unknown timeout 'pod_redy'; the fields are: cluster_create, "),
    ("pod_ready=0", "timeout pod_ready must be a positive number of seconds, got 0.0"),
    ("pod_ready=-5", "timeout pod_ready must be a positive number of seconds, got -5.0"),
    ("pod_ready=inf", "timeout pod_ready must be a positive number of seconds, got inf"),
    ("pod_ready=nan", "timeout pod_ready must be a positive number of seconds, got nan"),
    ("consecutive_successes=2.5", "consecutive_successes counts attempts: a whole number, "
                                  "got 2.5"),
])
def test_a_bad_override_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_overrides([text])
    assert str(caught.value).startswith(problem)
    with pytest.raises(UsageError) as usage:
        parse_options(timeout_overrides=[text])
    message = str(usage.value)
    assert f"--timeout-override: {problem}" in message
    assert "--timeout-override pod_ready=300" in message


def test_a_bad_value_is_refused_by_overridden_too() -> None:
    with pytest.raises(ValueError, match="unknown timeout 'nope'"):
        Timeouts().overridden({"nope": 1})
    check_override("consecutive_successes", 4.0)  # a whole number given as a float is fine
    assert field_names()[0] == "cluster_create"
    assert "consecutive_successes" in field_names()
    assert len(field_names()) == len(fields(Timeouts))


def test_scaling_multiplies_every_bound_but_the_count() -> None:
    base, scaled = Timeouts(), Timeouts().scaled(3)
    for name in field_names():
        expected = getattr(base, name) * (1 if name == "consecutive_successes" else 3)
        assert getattr(scaled, name) == expected, name
