"""An Envoy bootstrap shaped like a sidecar's outbound path under outboundTrafficPolicy.

Mirrors (shared/research/istio-behaviours.md 3.4):

- HTTP (the per-port route config "80"): one virtual host per registry host
  (a ServiceEntry, protocol HTTP) routing to ``outbound|80||<host>``, and a
  catch-all: under REGISTRY_ONLY the virtual host ``block_all`` with a
  ``direct_response`` 502, under ALLOW_ANY ``allow_any`` routing to
  ``PassthroughCluster`` (``pilot/pkg/networking/core/httproute.go``,
  ``util.BlackHole = "block_all"``, ``util.Passthrough = "allow_any"``).
- TLS (port 443): ``tls_inspector`` and a filter chain per TLS ServiceEntry
  host with ``filter_chain_match.server_names`` -> ``tcp_proxy`` to
  ``outbound|443||<host>`` (no termination: SNI passthrough); the fall-through
  chain goes to ``BlackHoleCluster`` (a STATIC cluster with no endpoints) or to
  ``PassthroughCluster`` (``pilot/pkg/networking/core/listener.go``,
  ``cluster_builder.go`` ``buildBlackHoleCluster``/``buildDefaultPassthroughCluster``).

Differences, each on purpose (docs/dataplane.md):
- traffic reaches the listeners directly, not via iptables and the
  ``virtualOutbound`` listener on 15001 with ``use_original_dst``;
- ``PassthroughCluster`` is ORIGINAL_DST in Istio; there is no original
  destination on loopback, so here it is a STATIC cluster to a "rest of the
  internet" server: it shows where the traffic went, which is what the claims ask;
- ``outbound|80||<host>`` (resolution DNS, STRICT_DNS in Istio) and
  ``outbound|443||<host>`` (resolution NONE, ORIGINAL_DST in Istio) are STATIC
  clusters to local servers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from meshconform.dataplane import xds
from meshconform.dataplane.xds import Config

HTTP = "http"
TLS = "tls"
BLACKHOLE = "BlackHoleCluster"
PASSTHROUGH = "PassthroughCluster"
PASSTHROUGH_TLS = "PassthroughCluster_tls"  # see module doc: one STATIC cluster per protocol


class OutboundPolicy(enum.StrEnum):
    REGISTRY_ONLY = "REGISTRY_ONLY"
    ALLOW_ANY = "ALLOW_ANY"


@dataclass(frozen=True)
class SidecarSpec:
    http_host: str  # ServiceEntry hosts, protocol HTTP, resolution DNS
    http_port: int  # where that host's server listens (127.0.0.1)
    tls_host: str  # ServiceEntry hosts, protocol TLS 443, resolution NONE
    tls_port: int
    world_http_port: int  # where ALLOW_ANY's passthrough sends HTTP
    world_tls_port: int  # ... and TLS
    policy: OutboundPolicy = OutboundPolicy.REGISTRY_ONLY
    service_entries: bool = True  # fault: False = the ServiceEntries are missing


def _http_listener(spec: SidecarSpec) -> Config:
    vhosts: list[Config] = []
    if spec.service_entries:
        vhosts.append(
            {
                "name": f"{spec.http_host}:80",
                "domains": [spec.http_host],
                "routes": [xds.route_to(f"outbound|80||{spec.http_host}")],
            }
        )
    if spec.policy is OutboundPolicy.REGISTRY_ONLY:
        catch_all = {"name": "block_all", "routes": [xds.direct_response(502)]}
    else:
        catch_all = {"name": "allow_any", "routes": [xds.route_to(PASSTHROUGH)]}
    vhosts.append({**catch_all, "domains": ["*"]})
    return xds.listener(
        HTTP,
        [
            {
                "filters": [
                    xds.http_connection_manager("outbound_0.0.0.0_80", vhosts, route_name="80")
                ]
            }
        ],
    )


def _tls_listener(spec: SidecarSpec) -> Config:
    chains: list[Config] = []
    if spec.service_entries:
        chains.append(
            {
                "filter_chain_match": {"server_names": [spec.tls_host]},
                "filters": [
                    xds.tcp_proxy(
                        f"outbound|443||{spec.tls_host}", f"outbound|443||{spec.tls_host}"
                    )
                ],
            }
        )
    fallthrough = BLACKHOLE if spec.policy is OutboundPolicy.REGISTRY_ONLY else PASSTHROUGH_TLS
    chains.append({"filters": [xds.tcp_proxy(fallthrough, fallthrough)]})
    return xds.listener(TLS, chains, listener_filters=[xds.tls_inspector()])


def sidecar_config(spec: SidecarSpec) -> Config:
    """The bootstrap for a sidecar's outbound path; listeners :data:`HTTP` and :data:`TLS`."""
    clusters = [
        xds.static_cluster(BLACKHOLE, None),
        xds.static_cluster(PASSTHROUGH, spec.world_http_port),
        xds.static_cluster(PASSTHROUGH_TLS, spec.world_tls_port),
    ]
    if spec.service_entries:
        clusters += [
            xds.static_cluster(f"outbound|80||{spec.http_host}", spec.http_port),
            xds.static_cluster(f"outbound|443||{spec.tls_host}", spec.tls_port),
        ]
    return xds.bootstrap([_http_listener(spec), _tls_listener(spec)], clusters)
