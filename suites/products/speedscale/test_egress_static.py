"""Speedscale's documented ServiceEntries, checked field by field and by istioctl analyze."""

from __future__ import annotations

import pytest

from meshconform.manifests import load_manifests

pytestmark = [pytest.mark.static, pytest.mark.egress]

#: speedscale/docs docs/reference/_external-services.mdx (every host, HTTPS outbound)
DOCUMENTED_HOSTS = {
    "app.speedscale.com", "firehose.us-east-1.amazonaws.com", "sqs.us-east-1.amazonaws.com",
    "sns.us-east-1.amazonaws.com", "s3.us-east-1.amazonaws.com", "*.s3.us-east-1.amazonaws.com",
    "sts.amazonaws.com", "sts.us-east-1.amazonaws.com", "monitoring.us-east-1.amazonaws.com",
    "gcr.io", "speedscale.github.io",
}


def entry_problems(entry):
    """What makes one ServiceEntry differ from Speedscale's documented pattern."""
    spec = entry.get("spec", {})
    problems = []
    if spec.get("location") != "MESH_EXTERNAL":
        problems.append(f"location {spec.get('location')}")
    if spec.get("resolution") != "NONE":
        problems.append(f"resolution {spec.get('resolution')}")
    ports = [(p.get("number"), p.get("protocol")) for p in spec.get("ports", [])]
    if ports != [(443, "TLS")]:
        problems.append(f"ports {ports}")
    return problems


@pytest.mark.claim("speedscale-egress-service-entries")
def test_service_entries_match_docs(claim, product_recipe, product_analyze):
    """Speedscale's ServiceEntries MUST be MESH_EXTERNAL, TLS/443, resolution NONE, for every host.

    Documented: speedscale/docs docs/setup/install/istio.md "External Networking Requirements".
    """
    entries = [o for p in product_recipe.istio_resources for o in load_manifests(p)
               if o["kind"] == "ServiceEntry"]
    hosts = {h for e in entries for h in e["spec"].get("hosts", [])}
    problems = [f"{e['metadata']['name']}: {p}" for e in entries for p in entry_problems(e)]
    missing = sorted(DOCUMENTED_HOSTS - hosts)
    claim.note(f"problems: {problems or 'none'}; undeclared documented hosts: {missing or 'none'}")
    claim.conclude(not problems and not missing and not product_analyze.problems,
                   product_analyze.output)
