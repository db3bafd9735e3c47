"""Schema validation and istioctl analyze on real generated installs and the suite's
Istio resources, including deliberately broken ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from meshconform.modes import MODES
from meshconform.static.analyze import IstioResources, analyze, istio_resources
from meshconform.static.facts import StaticFacts
from meshconform.static.schema import crd_schemas, validate_install, validate_objects


@pytest.mark.parametrize("mode_name", list(MODES))
def test_generated_install_is_schema_valid(facts_for: Callable[[str], StaticFacts],
                                           mode_name: str) -> None:
    install = facts_for(mode_name).install
    assert validate_install(install) == []
    assert ("networking.istio.io", "v1", "ServiceEntry") in crd_schemas(install)


def test_suite_istio_resources_valid_and_analyzed(
        facts_for: Callable[[str], StaticFacts]) -> None:
    facts = facts_for("sidecar")
    resources = istio_resources()
    assert resources.objects, "fixtures/ holds Istio resources"
    assert all(not str(f).startswith("istio/") for f in resources.files)
    assert validate_objects(resources.objects, facts.install) == []
    result = analyze(facts.istioctl, facts.install.workdir, resources)
    assert result.problems == (), result.output


def test_broken_resources_are_caught(facts_for: Callable[[str], StaticFacts],
                                     tmp_path: Path) -> None:
    facts = facts_for("sidecar")
    bad_schema = {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                  "metadata": {"name": "bad", "namespace": "x"},
                  "spec": {"mtls": {"mode": "SOMETIMES"}}}
    problems = validate_objects([bad_schema], facts.install)
    assert len(problems) == 1
    assert "SOMETIMES" in problems[0]
    bad_gateway = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
                   "metadata": {"name": "gw", "namespace": "x"},
                   "spec": {"selector": {"istio": "ingressgateway"}, "servers": [
                       {"port": {"number": 80, "name": "http", "protocol": "HTTP"},
                        "hosts": ["not_a_valid_host"]}]}}
    result = analyze(facts.istioctl, tmp_path, IstioResources((Path("inline"),),
                                                              (bad_gateway,)))
    assert any("not_a_valid_host" in p for p in result.problems), result.output


def test_kubernetes_schema_rejects_unknown_fields(facts_for: Callable[[str], StaticFacts]
                                                  ) -> None:
    facts = facts_for("sidecar")
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},
           "dataa": {"k": "v"}}
    assert validate_objects([bad], facts.install)
