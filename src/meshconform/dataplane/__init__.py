"""The dataplane tier: the real Envoy, configured the way Istio configures it, on loopback.

- :mod:`.envoy`: start/stop Envoy processes (``running_envoy``);
- :mod:`.gateway_config`, :mod:`.sidecar_config`: bootstrap builders mirroring
  an ingress gateway and a sidecar's outbound path, with fault switches;
- :mod:`.upstreams`: real local HTTP/HTTPS servers;
- :mod:`.scenarios`: Envoy plus upstreams, yielding probe targets.
"""
