"""The dataplane tier's gateway scenarios as Istio resources, compiled by the real istiod.

A scenario is the Gateway / VirtualService / Secret YAML a team would apply
(``fixtures/gateway/``: an HTTPS SIMPLE server with ``credentialName`` and an HTTP server
with ``tls.httpsRedirect``, both for two hosts; the first host routes to a backend), for
hosts unique to the scenario. A fault is a change to those resources
(:class:`ResourceFaults`), never to Envoy's config: istiod compiles them on the gateway
lab (meshconform.live.controlplane.gateway_lab) and the gateway's Envoy serves the result.

The one fault no Istio resource expresses, a gateway without its ``:15021`` status
listener, stays on the hand-written config (:mod:`.gateway_config`, ``no_health``): that
listener comes from pilot-agent's bootstrap and the gateway Deployment, not from anything
istiod compiles.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshconform import manifests
from meshconform.certs import CertPair, RunCertificates
from meshconform.dataplane.gateway_config import VirtualServiceRedirect
from meshconform.traffic.gateway import GatewayTarget
from meshconform.wait import Timeouts

if TYPE_CHECKING:
    from meshconform.live.controlplane.gateway_lab import GatewayLab, Served

#: hosts of the lab's scenarios: <suffix>.gw.meshconform.test and other-<suffix>...
HOST_DOMAIN = "gw.meshconform.test"


@dataclass(frozen=True)
class ResourceFaults:
    """Changes to the conforming resources, each a mistake a team can make."""

    #: the HTTP server without ``tls.httpsRedirect``: it routes instead of redirecting
    no_https_redirect: bool = False
    #: the HTTPS server for hosts ``*`` (no SNI to match: one filter chain for any name)
    any_host: bool = False
    #: the second VirtualService for hosts ``*`` (with ``any_host``: unknown hosts routed)
    catch_all_virtual_service: bool = False
    #: the HTTPS server's TLS mode, e.g. ``MUTUAL`` (clients must present a certificate)
    tls_mode: str = "SIMPLE"
    #: a VirtualService redirect on the HTTP server instead of ``httpsRedirect``
    #: (deployKF's way; ``scheme="http"`` is a redirect to the wrong scheme)
    vs_redirect: VirtualServiceRedirect | None = None
    #: the second host's VirtualService left out: the Gateway serves the host, nothing
    #: routes it (Envoy answers 404)
    no_other_host_route: bool = False
    #: the second host's VirtualService rewrites to this path instead of echo's
    #: ``/status/418`` (e.g. ``/get``: routed, to the wrong place)
    other_host_path: str | None = None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def tls_secret(name: str, cert: CertPair, ca_pem: bytes | None = None) -> dict[str, Any]:
    """A kubernetes.io/tls Secret as ``credentialName`` reads it (``ca.crt`` for MUTUAL)."""
    secret = manifests.load_manifests(
        "workloads/tls-secret.yaml",
        NAME=name,
        TLS_CRT_B64=_b64(cert.cert_pem()),
        TLS_KEY_B64=_b64(cert.key_pem()),
    )[0]
    if ca_pem is not None:
        secret["data"]["ca.crt"] = _b64(ca_pem)
    return secret


def _redirect_route(redirect: VirtualServiceRedirect) -> dict[str, Any]:
    """The redirect on the port-80 server only (the HTTPS server keeps the route)."""
    action: dict[str, Any] = {"scheme": redirect.scheme, "redirectCode": redirect.code}
    if redirect.port not in (443, 80):
        action["port"] = redirect.port
    return {"match": [{"port": 80}], "redirect": action}


def gateway_resources(
    host: str,
    other_host: str,
    credential: str,
    cert: CertPair,
    *,
    ca_pem: bytes,
    backend: str = "echo",
    faults: ResourceFaults = ResourceFaults(),
) -> list[dict[str, Any]]:
    """Secret, Gateway and VirtualServices for ``host`` and ``other_host``, with ``faults``."""
    objects = [tls_secret(credential, cert, ca_pem if faults.tls_mode == "MUTUAL" else None)]
    gateway = manifests.load_manifests(
        "gateway/gateway.yaml", HOST=host, OTHER_HOST=other_host, CREDENTIAL=credential
    )[0]
    https, http = gateway["spec"]["servers"]
    https["tls"]["mode"] = faults.tls_mode
    if faults.any_host:
        https["hosts"] = ["*"]
    if faults.no_https_redirect or faults.vs_redirect is not None:
        http.pop("tls", None)
    services = manifests.load_manifests(
        "gateway/virtual-services.yaml", HOST=host, OTHER_HOST=other_host, BACKEND=backend
    )
    if faults.catch_all_virtual_service:
        services[1]["spec"]["hosts"] = ["*"]
    if faults.vs_redirect is not None:
        main = services[0]["spec"]
        main["http"].insert(0, _redirect_route(faults.vs_redirect))
    if faults.other_host_path is not None:
        rewrite = services[1]["spec"]["http"][0]["rewrite"]["uriRegexRewrite"]
        rewrite["rewrite"] = faults.other_host_path
    if faults.no_other_host_route:
        services = services[:1]
    objects += [gateway, *services]
    return objects


@dataclass
class IstiodGatewayRun:
    """A scenario as the lab's gateway serves it: the probe target and Envoy's counters."""

    lab: GatewayLab
    served: Served
    target: GatewayTarget
    objects: list[dict[str, Any]]

    def stat(self, suffix: str) -> int:
        """A counter of the gateway's HTTPS listener, e.g. ``no_filter_chain_match``."""
        port = self.lab.endpoint.https_port
        return self.lab.stat(f"listener.0.0.0.0_{port}.{suffix}")


@contextlib.contextmanager
def istiod_gateway_scenario(
    lab: GatewayLab,
    certs: RunCertificates,
    *,
    faults: ResourceFaults = ResourceFaults(),
    cert: str = "server",
    timeouts: Timeouts | None = None,
) -> Iterator[IstiodGatewayRun]:
    """The conforming resources (or ``faults``) for fresh hosts, served by the lab's gateway.

    ``cert``: which certificate the Secret holds: ``server`` (valid, the run CA),
    ``expired``, ``other_host`` (another host's) or ``untrusted`` (another CA's).
    """
    suffix = secrets.token_hex(3)
    host, other = f"{suffix}.{HOST_DOMAIN}", f"other-{suffix}.{HOST_DOMAIN}"
    credential = f"mc-gw-{suffix}"
    issuers = {
        "server": lambda: certs.ca.issue([host, other], stem=credential),
        "expired": lambda: certs.ca.issue_expired([host, other], stem=credential),
        "other_host": lambda: certs.ca.issue([f"somebody-else.{HOST_DOMAIN}"], stem=credential),
        "untrusted": lambda: certs.other_ca.issue([host, other], stem=credential),
    }
    pair = issuers[cert]()
    objects = gateway_resources(
        host, other, credential, pair, ca_pem=certs.ca.cert_path.read_bytes(), faults=faults
    )
    with lab.serve(objects, hosts=[host]) as served:
        endpoint = served.endpoint
        target = GatewayTarget(
            address=endpoint.host,
            host=host,
            ca=certs.ca.cert_path,
            https_port=endpoint.https_port,
            http_port=endpoint.http_port,
            health_port=endpoint.status_port,
            timeouts=timeouts or Timeouts(),
        )
        yield IstiodGatewayRun(lab, served, target, objects)
