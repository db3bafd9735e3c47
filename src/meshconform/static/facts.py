"""Everything the static evaluators read for one (Istio version, mode): computed once,
lazily, with independent istioctl calls run in parallel."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from meshconform.claims import get_catalog
from meshconform.modes import Mode
from meshconform.static import evaluate as ev
from meshconform.static.inject import PodShape, admit_many, pod_shapes
from meshconform.static.install import StaticInstall, generate
from meshconform.static.istioctl import Istioctl
from meshconform.static.workloads import (
    REFERENCE,
    WORKLOAD_VARIABLES,
    product_workloads,
    workload_text,
)
from meshconform.versions import DEFAULT_KUBERNETES

HOLD_MESH_WIDE = "meshConfig.defaultConfig.holdApplicationUntilProxyStarts=true"
HOLD_ANNOTATION = "proxy.istio.io/config"


def without_hold_annotation(text: str) -> str:
    """hold-app.yaml minus its per-pod hold annotation, to test the mesh-wide setting."""
    docs = [d for d in yaml.safe_load_all(text) if d]
    for doc in docs:
        (doc.get("metadata") or {}).get("annotations", {}).pop(HOLD_ANNOTATION, None)
    return yaml.safe_dump_all(docs, sort_keys=False)


@dataclass
class StaticFacts:
    istioctl: Istioctl
    mode: Mode
    extra_config: tuple[Path, ...] = ()
    replace_overlay: bool = False
    kubernetes: str = DEFAULT_KUBERNETES
    _install: StaticInstall | None = None
    _hold_install: StaticInstall | None = None
    _shapes: dict[str, PodShape] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def install(self) -> StaticInstall:
        with self._lock:
            if self._install is None:
                self._install = generate(
                    self.istioctl,
                    self.mode,
                    self.extra_config,
                    replace_overlay=self.replace_overlay,
                )
            return self._install

    @property
    def hold_install(self) -> StaticInstall:
        with self._lock:
            if self._hold_install is None:
                self._hold_install = generate(
                    self.istioctl,
                    self.mode,
                    self.extra_config,
                    replace_overlay=self.replace_overlay,
                    sets=(HOLD_MESH_WIDE,),
                )
            return self._hold_install

    def shape(self, key: str) -> PodShape:
        """The admitted pod of reference workload ``key`` (REFERENCE), or 'hold-mesh-wide'."""
        with self._lock:
            cached = self._shapes.get(key)
        if cached is not None:
            return cached
        if key == "hold-mesh-wide":
            text = without_hold_annotation(workload_text(REFERENCE["hold-app"]))
            shape = pod_shapes(self.hold_install, key, text, self.kubernetes)[0]
        else:
            shape = pod_shapes(self.install, key, workload_text(REFERENCE[key]), self.kubernetes)[0]
        with self._lock:
            self._shapes[key] = shape
        return shape

    def product_shapes(self) -> list[PodShape]:
        """Every pod of the products' documented workload shapes (fixtures/products/)."""
        workloads = [(str(p), workload_text(p)) for p in product_workloads()]
        if not workloads:
            return []
        admitted = admit_many(self.install, workloads, self.kubernetes)
        return [shape for name, _ in workloads for shape in admitted[name]]

    def needed_shapes(self) -> list[str]:
        """The pod shapes that the claims applicable to this mode read."""
        return sorted(
            {
                k
                for cid, (keys, _) in STATIC_CLAIMS.items()
                if get_catalog()[cid].applies_to(self.mode.name)
                for k in keys
            }
        )

    def prepare(self, keys: Sequence[str], workers: int = 2) -> None:
        """Both installs in parallel, then every reference shape with one kube-inject each."""
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda f: f(), [lambda: self.install, lambda: self.hold_install]))
        plain = [(k, workload_text(REFERENCE[k])) for k in keys if k in REFERENCE]
        admitted = admit_many(self.install, plain, self.kubernetes) if plain else {}
        with self._lock:
            self._shapes.update({k: v[0] for k, v in admitted.items()})
        if "hold-mesh-wide" in keys:
            self.shape("hold-mesh-wide")


Evaluator = Callable[[StaticFacts], ev.Evaluation]

#: claim id -> (the pod shapes it reads, its evaluator). Claims not here are live-only.
STATIC_CLAIMS: dict[str, tuple[tuple[str, ...], Evaluator]] = {
    "job-completes": (("job",), lambda f: ev.job_completes(f.shape("job"))),
    "job-completes-without-injection": (
        ("job-no-inject", "job-no-inject-annotation"),
        lambda f: ev.job_completes_without_injection(
            f.shape("job-no-inject"), f.shape("job-no-inject-annotation")
        ),
    ),
    "job-completes-with-quitquitquit": (
        ("job-quitquitquit",),
        lambda f: ev.job_completes_with_quitquitquit(f.shape("job-quitquitquit")),
    ),
    "job-completes-with-envoy-quitquitquit": (
        ("job-envoy-quitquitquit",),
        lambda f: ev.job_completes_with_envoy_quitquitquit(f.shape("job-envoy-quitquitquit")),
    ),
    "proxy-ready-before-app": (
        ("hold-app", "hold-mesh-wide"),
        lambda f: ev.proxy_ready_before_app(f.shape("hold-app"), f.shape("hold-mesh-wide")),
    ),
    "init-container-network": (
        ("init-network",),
        lambda f: ev.init_container_network(f.shape("init-network"), f.install),
    ),
    "init-container-bypass-workaround": (
        ("init-network-uid1337", "init-network-exclude"),
        lambda f: ev.init_container_bypass(
            f.shape("init-network-uid1337"),
            f.shape("init-network-exclude"),
            WORKLOAD_VARIABLES["EXCLUDE_CIDR"],
            f.install,
        ),
    ),
    "init-container-bypass-hostname-uid1337": (
        ("init-network-host-uid1337",),
        lambda f: ev.init_container_hostname_reach(f.shape("init-network-host-uid1337"), f.install),
    ),
    "init-container-bypass-hostname-exclude-ranges": (
        ("init-network-host-exclude",),
        lambda f: ev.init_container_hostname_reach(f.shape("init-network-host-exclude"), f.install),
    ),
    "classic-sidecar-forced": (
        ("job",),
        lambda f: ev.classic_sidecar_forced(f.install, f.shape("job")),
    ),
    "native-sidecar-injected-as-init": (
        ("init-network",),
        lambda f: ev.native_sidecar_injected_as_init(f.shape("init-network")),
    ),
    "injection-not-by-default": ((), lambda f: ev.injection_not_by_default(f.install)),
    "egress-registry-only-blocks": (
        ("hold-app",),
        lambda f: ev.egress_registry_only_blocks(f.install, f.shape("hold-app")),
    ),
    "dns-proxy-resolves-service-entry": (
        ("hold-app",),
        lambda f: ev.dns_proxy_resolves_service_entry(f.install, f.shape("hold-app")),
    ),
    "dns-auto-allocate": ((), lambda f: ev.dns_auto_allocate(f.install)),
}
