"""The mesh modes, as data.

A mode is: a kind cluster config (``clusters/<mode>.yaml``), an Istio install
overlay (``fixtures/istio/<mode>.yaml``), how a namespace is enrolled, and the
capabilities that checks ask about. Facts: shared/research/istio-behaviours.md
sections 2 and 3.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshconform import paths
from meshconform.errors import UsageError


class Capability(enum.StrEnum):
    """What a mode's dataplane has; checks declare the ones they need."""

    SIDECAR = "has_sidecar"  # an istio-proxy container (classic or native) in each pod
    CLASSIC_SIDECAR = "classic_sidecar"  # istio-proxy is a regular container
    NATIVE_SIDECAR = "native_sidecar"  # istio-proxy is an init container, restartPolicy Always
    ISTIO_INIT = "istio_init"  # the privileged istio-init container writes iptables
    CNI = "uses_cni"  # the istio-cni node agent sets up redirection
    ZTUNNEL = "ztunnel"  # ambient: node-level ztunnel, no sidecar


@dataclass(frozen=True)
class Mode:
    name: str
    summary: str
    capabilities: frozenset[Capability]
    #: labels that enroll a namespace in the mesh
    namespace_labels: Mapping[str, str]
    #: Istio components whose readiness the install waits on, besides istiod
    daemonsets: tuple[str, ...] = field(default=())

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def missing(self, required: Iterable[Capability]) -> list[Capability]:
        return [c for c in required if c not in self.capabilities]

    @property
    def kind_config(self) -> Path:
        return paths.clusters_dir() / f"{self.name}.yaml"

    @property
    def istio_overlay(self) -> Path:
        return paths.fixtures_dir() / "istio" / f"{self.name}.yaml"

    @property
    def cluster_name(self) -> str:
        return f"meshconform-{self.name}"


_INJECT = {"istio-injection": "enabled"}

MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode(
            name="sidecar",
            summary="classic sidecar, istio-init writes iptables (NET_ADMIN)",
            capabilities=frozenset(
                {Capability.SIDECAR, Capability.CLASSIC_SIDECAR, Capability.ISTIO_INIT}
            ),
            namespace_labels=_INJECT,
        ),
        Mode(
            name="cni",
            summary="classic sidecar, the istio-cni node agent writes iptables",
            capabilities=frozenset(
                {Capability.SIDECAR, Capability.CLASSIC_SIDECAR, Capability.CNI}
            ),
            namespace_labels=_INJECT,
            daemonsets=("istio-cni-node",),
        ),
        Mode(
            name="native-sidecar",
            summary="proxy injected as an init container with restartPolicy: Always",
            capabilities=frozenset(
                {Capability.SIDECAR, Capability.NATIVE_SIDECAR, Capability.ISTIO_INIT}
            ),
            namespace_labels=_INJECT,
        ),
        Mode(
            # Kubeflow's default install (kubeflow/manifests common/istio istio-install: CNI
            # with ENABLE_NATIVE_SIDECARS=true), and what ENABLE_NATIVE_SIDECARS=auto gives
            # with istio-cni on Istio >= 1.27 and nodes >= 1.33.
            name="cni-native-sidecar",
            summary="istio-cni writes iptables; proxy injected as an init container "
            "with restartPolicy: Always",
            capabilities=frozenset({Capability.SIDECAR, Capability.NATIVE_SIDECAR, Capability.CNI}),
            namespace_labels=_INJECT,
            daemonsets=("istio-cni-node",),
        ),
        Mode(
            name="ambient",
            summary="ztunnel per node plus istio-cni, no sidecar",
            capabilities=frozenset({Capability.CNI, Capability.ZTUNNEL}),
            namespace_labels={"istio.io/dataplane-mode": "ambient"},
            daemonsets=("istio-cni-node", "ztunnel"),
        ),
    )
}


def get_mode(name: str) -> Mode:
    try:
        return MODES[name]
    except KeyError:
        raise UsageError(
            f"unknown mesh mode {name!r}",
            f"Use one of: {', '.join(MODES)}, or 'all'",
        ) from None


def parse_modes(values: Iterable[str]) -> list[Mode]:
    """Parse ``--mesh-mode`` values (repeatable, comma separated, ``all``) in catalog order."""
    names: list[str] = []
    for value in values:
        for raw in value.split(","):
            part = raw.strip()
            if not part:
                continue
            if part == "all":
                names.extend(MODES)
            else:
                names.append(get_mode(part).name)
    if not names:
        raise UsageError(
            "no mesh mode given", f"Pass --mesh-mode with one of {', '.join(MODES)}, or 'all'"
        )
    return [MODES[n] for n in MODES if n in set(names)]
