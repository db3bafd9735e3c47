"""deployKF's required mesh configs, applied to the mode's mesh and checked on injected pods."""

from __future__ import annotations

import pytest

from meshconform.product_static import (
    analyze,
    injects_unlabelled_namespaces,
    kube_inject,
    proxy_container,
)

pytestmark = [pytest.mark.static]


def requirement_gaps(render, injected):
    """What deployKF requires that this mesh and injected pod do not provide."""
    gaps = []
    default = render.mesh_config.get("defaultConfig", {})
    if default.get("holdApplicationUntilProxyStarts") is not True:
        gaps.append("mesh config lacks holdApplicationUntilProxyStarts")
    metadata = default.get("proxyMetadata", {})
    gaps.extend(f"proxyMetadata {key} is {metadata.get(key)!r}"
                for key in ("ISTIO_META_DNS_CAPTURE", "ISTIO_META_DNS_AUTO_ALLOCATE")
                if metadata.get(key) != "true")
    where = proxy_container(injected)
    if where is None:
        gaps.append("no istio-proxy injected")
    else:
        env = {e["name"]: e.get("value") for e in where[1].get("env", [])}
        if env.get("ISTIO_META_DNS_CAPTURE") != "true":
            gaps.append("istio-proxy env lacks ISTIO_META_DNS_CAPTURE=true")
        if where[0] == "containers":
            spec = injected["spec"]
            first = spec["containers"][0]
            hook = first.get("lifecycle", {}).get("postStart", {}).get("exec", {}).get("command")
            if first["name"] != "istio-proxy" or hook != ["pilot-agent", "wait"]:
                gaps.append("classic istio-proxy is not first with postStart pilot-agent wait")
        elif where[1].get("restartPolicy") != "Always" or not where[1].get("startupProbe"):
            gaps.append("native istio-proxy lacks restartPolicy Always + startupProbe")
    hooks = injects_unlabelled_namespaces(render.webhooks)
    if hooks:
        gaps.append(f"webhooks inject unlabelled namespaces: {hooks}")
    return gaps


@pytest.mark.workloads
@pytest.mark.claim("deploykf-mesh-requirements")
def test_mesh_meets_requirements(claim, product_recipe, mesh_for, product_istioctl, mode):
    """A mesh with deployKF's required configs MUST hold apps, capture DNS, not inject by default.

    Documented: deployKF/website content/guides/dependencies/istio.md "Use an existing istio
    installation"; deployKF values.yaml enableNamespacesByDefault false.
    """
    render = mesh_for(dict(product_recipe.mesh_requirements))
    (pod,) = kube_inject(product_istioctl, render,
                         product_recipe.render_workload(product_recipe.workloads[0], mode.name))
    gaps = requirement_gaps(render, pod)
    claim.conclude(not gaps, "; ".join(gaps) or "all requirements met")


@pytest.mark.gateway
@pytest.mark.claim("deploykf-gateway-resources-valid")
def test_gateway_resources_pass_analyze(claim, product_recipe, product_istioctl):
    """deployKF's Gateways and https-redirect VirtualService MUST pass istioctl analyze.

    Documented: deployKF/deployKF deploykf-istio-gateway templates (v0.1.5).
    """
    ok, output = analyze(product_istioctl, product_recipe.istio_resources)
    claim.conclude(ok, output)
