"""Envoy plus its real upstreams, started together and stopped together.

:func:`gateway_scenario` and :func:`sidecar_scenario` yield the probe targets
(:class:`~meshconform.traffic.gateway.GatewayTarget`,
:class:`~meshconform.traffic.egress.EgressTarget`) for a running Envoy, reached with
the host transport: the same evaluators the live tier sends from a pod.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from meshconform.certs import CertPair, RunCertificates
from meshconform.dataplane import gateway_config as gw
from meshconform.dataplane import sidecar_config as sc
from meshconform.dataplane.envoy import Envoy, running_envoy
from meshconform.dataplane.upstreams import Upstream
from meshconform.traffic.egress import EgressTarget
from meshconform.traffic.gateway import GatewayTarget
from meshconform.traffic.transport import HostTransport
from meshconform.wait import Timeouts

GATEWAY_HOST = "app.example.com"
EGRESS_HTTP_HOST = "external-http.example.com"
EGRESS_TLS_HOST = "external-tls.example.com"
#: every name the run's server certificate covers
CERT_HOSTS = (GATEWAY_HOST, EGRESS_TLS_HOST)


@dataclass(frozen=True)
class GatewayRun:
    envoy: Envoy
    target: GatewayTarget


@dataclass(frozen=True)
class SidecarRun:
    envoy: Envoy
    target: EgressTarget


def _workdir(workdir: Path | None, prefix: str) -> Path:
    return workdir or Path(tempfile.mkdtemp(prefix=f"meshconform-{prefix}-"))


@contextlib.contextmanager
def gateway_scenario(
    certs: RunCertificates,
    *,
    cert: CertPair | None = None,
    faults: gw.GatewayFaults | None = None,
    vs_redirect: gw.VirtualServiceRedirect | None = None,
    host: str = GATEWAY_HOST,
    timeouts: Timeouts | None = None,
    workdir: Path | None = None,
) -> Iterator[GatewayRun]:
    """An ingress gateway for ``host`` serving ``cert`` (default: the run's server cert)."""
    timeouts = timeouts or Timeouts()
    with Upstream("backend") as backend:
        spec = gw.GatewaySpec(
            host=host,
            cert=cert or certs.server,
            backend_port=backend.port,
            faults=faults or gw.GatewayFaults(),
            vs_redirect=vs_redirect,
        )
        with running_envoy(
            gw.gateway_config(spec),
            name="gateway",
            workdir=_workdir(workdir, "gateway"),
            timeouts=timeouts,
        ) as envoy:
            target = GatewayTarget(
                address="127.0.0.1",
                host=host,
                ca=certs.ca.cert_path,
                https_port=envoy.port(gw.HTTPS),
                http_port=envoy.port(gw.HTTP),
                # no health listener: a port nothing listens on (the admin port is Envoy's)
                health_port=envoy.ports.get(gw.HEALTH, _closed_port()),
                timeouts=timeouts,
                transport=HostTransport(),
            )
            yield GatewayRun(envoy, target)


def _closed_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def sidecar_scenario(
    certs: RunCertificates,
    *,
    policy: sc.OutboundPolicy = sc.OutboundPolicy.REGISTRY_ONLY,
    service_entries: bool = True,
    timeouts: Timeouts | None = None,
    workdir: Path | None = None,
) -> Iterator[SidecarRun]:
    """A sidecar's outbound path with an external HTTP and TLS server, and 'the internet'."""
    timeouts = timeouts or Timeouts()
    with contextlib.ExitStack() as stack:
        external_http = stack.enter_context(Upstream("external-http"))
        external_tls = stack.enter_context(Upstream("external-tls", cert=certs.server))
        world_http = stack.enter_context(Upstream("internet-http"))
        world_tls = stack.enter_context(Upstream("internet-tls", cert=certs.server))
        spec = sc.SidecarSpec(
            http_host=EGRESS_HTTP_HOST,
            http_port=external_http.port,
            tls_host=EGRESS_TLS_HOST,
            tls_port=external_tls.port,
            world_http_port=world_http.port,
            world_tls_port=world_tls.port,
            policy=policy,
            service_entries=service_entries,
        )
        envoy = stack.enter_context(
            running_envoy(
                sc.sidecar_config(spec),
                name="sidecar",
                workdir=_workdir(workdir, "sidecar"),
                timeouts=timeouts,
            )
        )
        yield SidecarRun(
            envoy,
            EgressTarget(
                address="127.0.0.1",
                http_port=envoy.port(sc.HTTP),
                tls_port=envoy.port(sc.TLS),
                http_host=EGRESS_HTTP_HOST,
                tls_host=EGRESS_TLS_HOST,
                ca=certs.ca.cert_path,
                timeouts=timeouts,
                transport=HostTransport(),
            ),
        )
