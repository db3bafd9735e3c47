"""Start-up order, static: holdApplicationUntilProxyStarts per pod and mesh-wide.
Facts: shared/research/istio-behaviours.md 3.2; docs/static.md."""

from __future__ import annotations

import pytest

from meshconform.modes import Capability
from meshconform.plugin.static import StaticCheckRun

pytestmark = [pytest.mark.static, pytest.mark.workloads]


@pytest.mark.claim("proxy-ready-before-app")
@pytest.mark.requires(Capability.SIDECAR)
def test_proxy_ready_before_app_static(static_check: StaticCheckRun) -> None:
    """With holdApplicationUntilProxyStarts, the app MUST start only after the proxy is ready.

    Documented: deployKF "bring your own Istio"; Testkube enterprise chart;
    istio/istio#11130. Static evidence, for the proxy.istio.io/config annotation AND for
    meshConfig.defaultConfig.holdApplicationUntilProxyStarts=true: classic: istio-proxy
    first with a postStart 'pilot-agent wait'; native: istio-proxy's startupProbe.
    """
    static_check()
