"""One control plane with Istio installed, for the tests that need a whole one.

The fixtures of test_process_pods.py, test_gateway_faults.py and test_gateway_routes.py
each start one (module scope) through :func:`istio_plane`: the provider the suite uses,
``install_istio`` as the live tier runs it (istiod, the gateway and, where the machine
allows, the process kubelet), stopped and removed at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from meshconform.evidence import ClusterKind
from meshconform.live.clusters import Cluster
from meshconform.live.controlplane import binaries as cp_binaries
from meshconform.live.controlplane import pods
from meshconform.live.controlplane.provider import ControlPlaneProvider, install_istio
from meshconform.live.kube import Kube
from meshconform.modes import get_mode
from meshconform.versions import get_istio_release
from meshconform.wait import Timeouts

from .conftest import TEST_ISTIO


def require_process_pods() -> None:
    """Fail (never skip) where process pods cannot run: CI runs as root."""
    reason = pods.unsupported()
    if reason is not None:
        pytest.fail(f"process pods cannot run on this machine: {reason}")


@contextlib.contextmanager
def istio_plane(mode_name: str = "sidecar") -> Iterator[tuple[Cluster, Timeouts]]:
    """A fresh control plane for ``mode_name`` with Istio installed; its cluster."""
    release = get_istio_release(TEST_ISTIO)
    binaries = cp_binaries.provision(release, build=False)
    timeouts = Timeouts()
    provider = ControlPlaneProvider(binaries, timeouts)
    mode = get_mode(mode_name)
    control, _ = provider.plane(mode)
    cluster = Cluster(
        name=control.name,
        mode=mode,
        kubeconfig=control.kubeconfig,
        context=control.name,
        created_by_us=True,
        kube=Kube(control.kubeconfig, control.name),
        kind=ClusterKind.CONTROLPLANE,
        plane=control,
    )
    try:
        install_istio(cluster, binaries, release, [], timeouts)
        yield cluster, timeouts
    finally:
        cluster.kube.close()
        provider.close()
