"""Small builders for Envoy v3 config fragments (plain dicts, serialised to JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from meshconform.certs import CertPair

Config = dict[str, Any]

_T = "type.googleapis.com/envoy.extensions"
LOOPBACK = "127.0.0.1"


def address(port: int = 0, host: str = LOOPBACK) -> Config:
    return {"socket_address": {"address": host, "port_value": port}}


def bootstrap(listeners: Sequence[Config], clusters: Sequence[Config]) -> Config:
    return {
        "admin": {"address": address(0)},
        "static_resources": {"listeners": list(listeners), "clusters": list(clusters)},
    }


def static_cluster(name: str, port: int | None, *, tls_sni: str | None = None) -> Config:
    """A STATIC cluster; ``port=None`` gives one with no endpoints (a black hole)."""
    cluster: Config = {"name": name, "type": "STATIC", "connect_timeout": "1s"}
    if port is not None:
        cluster["load_assignment"] = {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address(port)}}]}],
        }
    if tls_sni is not None:
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": f"{_T}.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": tls_sni,
            },
        }
    return cluster


def tls_inspector() -> Config:
    return {
        "name": "envoy.filters.listener.tls_inspector",
        "typed_config": {"@type": f"{_T}.filters.listener.tls_inspector.v3.TlsInspector"},
    }


def downstream_tls(cert: CertPair) -> Config:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": f"{_T}.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": str(cert.cert_path)},
                        "private_key": {"filename": str(cert.key_path)},
                    }
                ],
            },
        },
    }


def http_connection_manager(
    stat_prefix: str, virtual_hosts: Sequence[Config], *, route_name: str
) -> Config:
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": f"{_T}.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": stat_prefix,
            "use_remote_address": True,
            "route_config": {
                "name": route_name,
                "virtual_hosts": list(virtual_hosts),
                "validate_clusters": False,
                "ignore_port_in_host_matching": True,
            },
            "http_filters": [
                {
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": f"{_T}.filters.http.router.v3.Router"},
                }
            ],
        },
    }


def tcp_proxy(stat_prefix: str, cluster: str) -> Config:
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": f"{_T}.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": stat_prefix,
            "cluster": cluster,
        },
    }


def route_to(cluster: str) -> Config:
    return {"match": {"prefix": "/"}, "route": {"cluster": cluster}}


def direct_response(status: int, body: str = "") -> Config:
    action: Config = {"status": status}
    if body:
        action["body"] = {"inline_string": body}
    return {"match": {"prefix": "/"}, "direct_response": action}


def listener(
    name: str,
    filter_chains: Sequence[Config],
    *,
    port: int = 0,
    listener_filters: Sequence[Config] = (),
) -> Config:
    # all listeners bind 127.0.0.1:0: name their stats, or they share listener.127.0.0.1_0.*
    config: Config = {
        "name": name,
        "address": address(port),
        "stat_prefix": name,
        "filter_chains": list(filter_chains),
    }
    if listener_filters:
        config["listener_filters"] = list(listener_filters)
    return config
