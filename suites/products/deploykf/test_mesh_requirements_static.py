"""deployKF's required mesh configs, applied to the mode's mesh and checked on admitted pods."""

from __future__ import annotations

import pytest

from meshconform.claims import Outcome
from meshconform.static import evaluate

pytestmark = [pytest.mark.static]


def requirement_gaps(install, pod):
    """What deployKF requires that this mesh (StaticInstall) and admitted pod do not provide."""
    gaps = []
    default = install.mesh.get("defaultConfig", {})
    if default.get("holdApplicationUntilProxyStarts") is not True:
        gaps.append("mesh config lacks holdApplicationUntilProxyStarts")
    metadata = default.get("proxyMetadata", {})
    gaps.extend(f"proxyMetadata {key} is {metadata.get(key)!r}"
                for key in ("ISTIO_META_DNS_CAPTURE", "ISTIO_META_DNS_AUTO_ALLOCATE")
                if metadata.get(key) != "true")
    layout = evaluate.proxy_layout(pod)
    proxy = pod.container(evaluate.PROXY) or pod.init(evaluate.PROXY)
    if proxy is None:
        gaps.append("no istio-proxy injected")
    else:
        env = {e["name"]: e.get("value") for e in proxy.get("env", [])}
        if env.get("ISTIO_META_DNS_CAPTURE") != "true":
            gaps.append("istio-proxy env lacks ISTIO_META_DNS_CAPTURE=true")
        if layout == "classic":
            hook = proxy.get("lifecycle", {}).get("postStart", {}).get("exec", {}).get("command")
            if pod.container_names()[:1] != [evaluate.PROXY] or hook != ["pilot-agent", "wait"]:
                gaps.append("classic istio-proxy is not first with postStart pilot-agent wait")
        elif layout != "native" or not proxy.get("startupProbe"):
            gaps.append("native istio-proxy lacks restartPolicy Always + startupProbe")
    by_default = evaluate.injection_not_by_default(install)
    if by_default.outcome is not Outcome.HOLDS:
        gaps.append(f"injection by default: {by_default.evidence}".replace("\n", "; "))
    return gaps


@pytest.mark.workloads
@pytest.mark.claim("deploykf-mesh-requirements")
def test_mesh_meets_requirements(claim, product_recipe, product_install, admitted):
    """A mesh with deployKF's required configs MUST hold apps, capture DNS, not inject by default.

    Documented: deployKF/website content/guides/dependencies/istio.md "Use an existing istio
    installation"; deployKF values.yaml enableNamespacesByDefault false.
    """
    (pod,) = admitted(product_recipe.workloads[0])
    claim.note(pod.describe())
    gaps = requirement_gaps(product_install, pod)
    claim.conclude(not gaps, "; ".join(gaps) or "all requirements met")


@pytest.mark.gateway
@pytest.mark.claim("deploykf-gateway-resources-valid")
def test_gateway_resources_pass_analyze(claim, product_analyze):
    """deployKF's Gateways and https-redirect VirtualService MUST pass istioctl analyze.

    Documented: deployKF/deployKF deploykf-istio-gateway templates (v0.1.5).
    """
    claim.conclude(not product_analyze.problems, product_analyze.output)
