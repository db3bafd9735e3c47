"""deployKF's https-redirect against the real Envoy, configured as istiod translates its
VirtualService (pilot/pkg/networking/core/route/route.go ApplyRedirect). Config and its
differences from Istio: docs/dataplane.md."""

from __future__ import annotations

from typing import Any

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.dataplane.gateway_config import VirtualServiceRedirect
from meshconform.traffic import gateway
from meshconform.traffic.observation import conclude

pytestmark = [pytest.mark.dataplane, pytest.mark.gateway]


@pytest.mark.claim("deploykf-https-redirect-307")
def test_https_redirect_answers_307(envoy_gateway_with: Any, claim: ClaimCheck) -> None:
    """deployKF's https-redirect VirtualService MUST answer plain HTTP with 307 to https:443.

    Documented: deployKF VirtualService-https-redirect.yaml (redirect scheme https, port 443,
    redirectCode 307) with Gateway-https-redirect.yaml (tls.httpsRedirect false), v0.1.5.
    """
    run = envoy_gateway_with(vs_redirect=VirtualServiceRedirect("https", 443, 307))
    conclude(claim, gateway.virtual_service_redirect(run.target))
