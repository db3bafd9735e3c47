"""Fixtures of the dataplane tier: the run's certificates and real Envoys on loopback.

Expensive things are session-scoped (the CA, the gateway lab, the conforming gateway and
sidecar); the ``*_with`` fixtures are cheap per-check factories for fault variants.

The gateway is Istio resources compiled by the real istiod and served by the gateway
lab's Envoy (meshconform.live.controlplane.gateway_lab: a control plane, istiod and
pilot-agent + Envoy as processes, started once per session); each variant applies its
resources for hosts of its own and deletes them when the check ends. The sidecar, and
the one gateway fault no resource expresses (no status listener), are hand-written
Envoy configs (docs/dataplane.md says why).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from meshconform.certs import CertPair, RunCertificates, TestCA
from meshconform.dataplane.gateway_config import GatewayFaults, VirtualServiceRedirect
from meshconform.dataplane.gateway_resources import (
    IstiodGatewayRun,
    ResourceFaults,
    istiod_gateway_scenario,
)
from meshconform.dataplane.scenarios import (
    CERT_HOSTS,
    GatewayRun,
    SidecarRun,
    gateway_scenario,
    sidecar_scenario,
)
from meshconform.dataplane.sidecar_config import OutboundPolicy
from meshconform.errors import ProvisioningError, UsageError
from meshconform.live.controlplane.gateway_check import DEFAULT_LAB_ISTIO
from meshconform.live.controlplane.gateway_lab import GatewayLab
from meshconform.options import parse_istio
from meshconform.versions import get_istio_release
from meshconform.wait import Timeouts

GatewayFactory = Callable[..., "IstiodGatewayRun | GatewayRun"]
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
def gateway_lab(pytestconfig: pytest.Config, timeouts: Timeouts) -> Iterator[GatewayLab]:
    """The gateway lab (control plane + istiod + gateway as processes), once per session.

    Istio: the newest ``--istio-version`` given, else 1.31 (the release the gateway as
    processes is proven on; 1.30's gateway has an open finding, issue 11). Without the
    controlplane binaries every check using it ends in an error with one line; it never
    passes. The lab's processes die with this process, even when it is killed.
    """
    given = pytestconfig.getoption("istio_version") or []
    release = parse_istio(given)[-1] if given else get_istio_release(DEFAULT_LAB_ISTIO)
    try:
        lab = GatewayLab.open(release, timeouts=timeouts)
    except (UsageError, ProvisioningError) as error:
        pytest.fail(f"the dataplane gateway needs the gateway lab: {error}", pytrace=False)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture(scope="session")
def envoy_gateway(
    gateway_lab: GatewayLab, run_certs: RunCertificates, timeouts: Timeouts
) -> Iterator[IstiodGatewayRun]:
    """A conforming ingress gateway: fixtures/gateway/ resources compiled by the real istiod
    (TLS SIMPLE by SNI, httpsRedirect, host routes to a stand-in backend, health)."""
    with istiod_gateway_scenario(gateway_lab, run_certs, timeouts=timeouts) as run:
        yield run


def _resource_faults(
    faults: GatewayFaults | ResourceFaults | None, vs_redirect: VirtualServiceRedirect | None
) -> ResourceFaults:
    """The hand-written config's fault switches as the resource mistakes that produce them."""
    if isinstance(faults, ResourceFaults):
        return faults if vs_redirect is None else replace(faults, vs_redirect=vs_redirect)
    old = faults or GatewayFaults()
    redirect = vs_redirect
    if old.redirect_scheme is not None:
        redirect = VirtualServiceRedirect(old.redirect_scheme, 80, 301)
    return ResourceFaults(
        no_https_redirect=old.no_redirect,
        any_host=old.sni_not_enforced or old.catch_all_route,
        catch_all_virtual_service=old.catch_all_route,
        vs_redirect=redirect,
    )


@pytest.fixture
def envoy_gateway_with(
    gateway_lab: GatewayLab,
    run_certs: RunCertificates,
    timeouts: Timeouts,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayFactory]:
    """``envoy_gateway_with(faults=ResourceFaults(...) | GatewayFaults(...), cert="expired" |
    run_certs.expired, vs_redirect=...)``: a variant, as resources compiled by istiod.

    ``GatewayFaults(no_health=True)`` is the one fault no Istio resource expresses (the
    status listener is pilot-agent's bootstrap): it runs on the hand-written config."""
    names = {
        run_certs.server: "server",
        run_certs.expired: "expired",
        run_certs.other_host: "other_host",
        run_certs.untrusted: "untrusted",
    }
    with contextlib.ExitStack() as stack:

        def start(
            faults: GatewayFaults | ResourceFaults | None = None,
            cert: CertPair | str | None = None,
            vs_redirect: VirtualServiceRedirect | None = None,
        ) -> IstiodGatewayRun | GatewayRun:
            if isinstance(faults, GatewayFaults) and faults.no_health:
                return stack.enter_context(
                    gateway_scenario(
                        run_certs,
                        faults=faults,
                        timeouts=timeouts,
                        workdir=tmp_path_factory.mktemp("envoy-gateway-handwritten"),
                    )
                )
            which = names.get(cert, "server") if isinstance(cert, CertPair) else cert
            return stack.enter_context(
                istiod_gateway_scenario(
                    gateway_lab,
                    run_certs,
                    faults=_resource_faults(faults, vs_redirect),
                    cert=which or "server",
                    timeouts=timeouts,
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
