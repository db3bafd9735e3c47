"""Fixtures of the dataplane tier: the run's certificates and real Envoys on loopback.

Expensive things are session-scoped (the CA, the conforming gateway and sidecar);
the ``*_with`` fixtures are cheap per-check factories for fault variants, each
Envoy stopped when the check ends. Nothing here touches a cluster.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from meshconform.certs import CertPair, RunCertificates, TestCA
from meshconform.dataplane.gateway_config import GatewayFaults, VirtualServiceRedirect
from meshconform.dataplane.scenarios import (
    CERT_HOSTS,
    GatewayRun,
    SidecarRun,
    gateway_scenario,
    sidecar_scenario,
)
from meshconform.dataplane.sidecar_config import OutboundPolicy
from meshconform.wait.waiters import Timeouts

GatewayFactory = Callable[..., GatewayRun]
SidecarFactory = Callable[..., SidecarRun]


@pytest.fixture(scope="session")
def run_certs(tmp_path_factory: pytest.TempPathFactory) -> RunCertificates:
    """The run's CA, an unrelated CA, and server certificates (valid, expired, other host,
    untrusted) for the dataplane hosts."""
    return RunCertificates.create(tmp_path_factory.mktemp("certs"), CERT_HOSTS)


@pytest.fixture(scope="session")
def run_ca(run_certs: RunCertificates) -> TestCA:
    return run_certs.ca


@pytest.fixture(scope="session")
def envoy_gateway(
    run_certs: RunCertificates, timeouts: Timeouts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayRun]:
    """A conforming ingress gateway (TLS SIMPLE by SNI, httpsRedirect, host routes, health)."""
    with gateway_scenario(
        run_certs, timeouts=timeouts, workdir=tmp_path_factory.mktemp("envoy-gateway")
    ) as run:
        yield run


@pytest.fixture
def envoy_gateway_with(
    run_certs: RunCertificates, timeouts: Timeouts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayFactory]:
    """``envoy_gateway_with(faults=GatewayFaults(...), cert=..., vs_redirect=...)`` starts a
    variant."""
    with contextlib.ExitStack() as stack:

        def start(
            faults: GatewayFaults | None = None,
            cert: CertPair | None = None,
            vs_redirect: VirtualServiceRedirect | None = None,
        ) -> GatewayRun:
            return stack.enter_context(
                gateway_scenario(
                    run_certs,
                    faults=faults,
                    cert=cert,
                    vs_redirect=vs_redirect,
                    timeouts=timeouts,
                    workdir=tmp_path_factory.mktemp("envoy-gateway-variant"),
                )
            )

        yield start


@pytest.fixture(scope="session")
def envoy_sidecar_registry_only(
    run_certs: RunCertificates, timeouts: Timeouts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SidecarRun]:
    """A sidecar outbound path under REGISTRY_ONLY with ServiceEntries for the external hosts."""
    with sidecar_scenario(
        run_certs, timeouts=timeouts, workdir=tmp_path_factory.mktemp("envoy-sidecar")
    ) as run:
        yield run


@pytest.fixture
def envoy_sidecar_with(
    run_certs: RunCertificates, timeouts: Timeouts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SidecarFactory]:
    """``envoy_sidecar_with(policy=OutboundPolicy.ALLOW_ANY, service_entries=False)``."""
    with contextlib.ExitStack() as stack:

        def start(
            policy: OutboundPolicy = OutboundPolicy.REGISTRY_ONLY, service_entries: bool = True
        ) -> SidecarRun:
            return stack.enter_context(
                sidecar_scenario(
                    run_certs,
                    policy=policy,
                    service_entries=service_entries,
                    timeouts=timeouts,
                    workdir=tmp_path_factory.mktemp("envoy-sidecar-variant"),
                )
            )

        yield start
