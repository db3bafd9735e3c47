"""An Envoy bootstrap shaped like the config istiod pushes to an ingress gateway.

Mirrors, for ``Gateway`` servers ``https`` (443, tls SIMPLE, credentialName,
hosts [host]) and ``http`` (80, tls.httpsRedirect) plus a ``VirtualService``
routing host -> backend (Istio ``pilot/pkg/networking/core/gateway.go``):

- HTTPS: a listener with ``tls_inspector`` and one filter chain per server
  with ``filter_chain_match.server_names`` = the server's hosts (Istio sets
  ``sniHosts`` from ``TLSServerInfo[server].SNIHosts``; ``createGatewayHTTPFilterChainOpts``).
  An SNI no chain matches has no chain: Envoy closes the connection.
- Routes: one virtual host per host, ``ignore_port_in_host_matching: true``
  (``IgnorePortInHostMatching: !node.IsProxylessGrpc()``), no catch-all, so an
  unclaimed Host gets Envoy's 404 (NR). Istio only adds a "blackhole" ``*``
  virtual host without routes (also 404) when a route config has no hosts.
- HTTP redirect: the virtual host gets ``require_tls: ALL``
  (``newVHost.RequireTls = route.VirtualHost_ALL``), not a route-level
  ``https_redirect``; Envoy answers 301 to ``https://<Host header><path>``.
- Health: a ``:15021`` listener answering ``/healthz/ready``.
- VirtualService redirect (deployKF's https-redirect, ``tls.httpsRedirect: false`` on the
  port-80 server): a route-level ``redirect`` as ``route.go ApplyRedirect`` builds it:
  ``scheme_redirect``, ``port_redirect`` (dropped for https:443 and http:80) and
  ``response_code`` from ``redirectCode`` (307 -> ``TEMPORARY_REDIRECT``).

Differences, each on purpose (docs/dataplane.md):
- the certificate comes from files, not SDS (istiod serves ``credentialName``
  Secrets over SDS: ``pilot/pkg/xds/sds.go``);
- routes are inline, not RDS; listeners bind 127.0.0.1:0, not 0.0.0.0:8443/8080;
- ``/healthz/ready`` is a ``direct_response`` 200; Istio's bootstrap
  (``tools/packaging/common/envoy_bootstrap.json``) routes it to the ``agent``
  cluster (pilot-agent on :15020), which reports Envoy's own readiness;
- the backend cluster is STATIC (Istio: EDS, with auto-mTLS to the pod).
"""

from __future__ import annotations

from dataclasses import dataclass

from meshconform.certs import CertPair
from meshconform.dataplane import xds
from meshconform.dataplane.xds import Config

HTTPS = "https"
HTTP = "http"
HEALTH = "health"


@dataclass(frozen=True)
class GatewayFaults:
    """Switches that turn the config into a known non-conforming one."""

    no_redirect: bool = False  # port-80 server without tls.httpsRedirect: serves plain HTTP
    redirect_scheme: str | None = None  # e.g. "http": a redirect to the wrong scheme
    sni_not_enforced: bool = False  # one catch-all filter chain (like hosts: "*")
    catch_all_route: bool = False  # a VirtualService for "*": unknown hosts reach the backend
    no_health: bool = False  # no :15021 listener


#: HTTPRedirect.redirectCode -> Envoy RedirectAction.response_code (route.go ApplyRedirect)
REDIRECT_CODES = {
    301: "MOVED_PERMANENTLY",
    302: "FOUND",
    303: "SEE_OTHER",
    307: "TEMPORARY_REDIRECT",
    308: "PERMANENT_REDIRECT",
}


@dataclass(frozen=True)
class VirtualServiceRedirect:
    """A VirtualService ``HTTPRedirect`` on the port-80 server (which keeps httpsRedirect false)."""

    scheme: str = "https"
    port: int = 443
    code: int = 307

    def route(self) -> Config:
        redirect: Config = {
            "scheme_redirect": self.scheme,
            "response_code": REDIRECT_CODES[self.code],
        }
        if (self.scheme, self.port) not in (("https", 443), ("http", 80)):
            redirect["port_redirect"] = self.port
        return {"match": {"prefix": "/"}, "redirect": redirect}


@dataclass(frozen=True)
class GatewaySpec:
    host: str
    cert: CertPair  # what the Secret named by credentialName holds
    backend_port: int  # the routed backend (127.0.0.1)
    faults: GatewayFaults = GatewayFaults()
    #: deployKF's way: the redirect comes from a VirtualService, not tls.httpsRedirect
    vs_redirect: VirtualServiceRedirect | None = None


def _backend(spec: GatewaySpec) -> str:
    return f"outbound|8000||{spec.host.split('.')[0]}.default.svc.cluster.local"


def _https_listener(spec: GatewaySpec) -> Config:
    vhosts = [
        {
            "name": f"{spec.host}:443",
            "domains": [spec.host],
            "routes": [xds.route_to(_backend(spec))],
        }
    ]
    if spec.faults.catch_all_route:
        vhosts.append({"name": "*:443", "domains": ["*"], "routes": [xds.route_to(_backend(spec))]})
    chain: Config = {
        "transport_socket": xds.downstream_tls(spec.cert),
        "filters": [
            xds.http_connection_manager(
                "outbound_0.0.0.0_8443", vhosts, route_name="https.443.https.gateway.istio-system"
            )
        ],
    }
    if not spec.faults.sni_not_enforced:
        chain["filter_chain_match"] = {"server_names": [spec.host]}
    return xds.listener(HTTPS, [chain], listener_filters=[xds.tls_inspector()])


def _http_listener(spec: GatewaySpec) -> Config:
    vhost: Config = {"name": f"{spec.host}:80", "domains": [spec.host]}
    if spec.vs_redirect is not None:
        vhost["routes"] = [spec.vs_redirect.route()]
    elif spec.faults.redirect_scheme is not None:
        vhost["routes"] = [
            {"match": {"prefix": "/"}, "redirect": {"scheme_redirect": spec.faults.redirect_scheme}}
        ]
    elif spec.faults.no_redirect:
        vhost["routes"] = [xds.route_to(_backend(spec))]
    else:
        vhost["require_tls"] = "ALL"
        vhost["routes"] = []
    return xds.listener(
        HTTP,
        [
            {
                "filters": [
                    xds.http_connection_manager(
                        "outbound_0.0.0.0_8080", [vhost], route_name="http.80"
                    )
                ]
            }
        ],
    )


def _health_listener() -> Config:
    vhost = {
        "name": "backend",
        "domains": ["*"],
        "routes": [{"match": {"prefix": "/healthz/ready"}, "direct_response": {"status": 200}}],
    }
    return xds.listener(
        HEALTH, [{"filters": [xds.http_connection_manager("agent", [vhost], route_name="agent")]}]
    )


def gateway_config(spec: GatewaySpec) -> Config:
    """The bootstrap for an ingress gateway serving ``spec.host``; listeners named
    :data:`HTTPS`, :data:`HTTP` and (unless faulted) :data:`HEALTH`."""
    listeners = [_https_listener(spec), _http_listener(spec)]
    if not spec.faults.no_health:
        listeners.append(_health_listener())
    return xds.bootstrap(listeners, [xds.static_cluster(_backend(spec), spec.backend_port)])
