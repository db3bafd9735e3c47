"""Run options, parsed and checked once, the same for the pytest plugin and the CLI.

Everything here is pure: no binary is run and no cluster is touched, so bad
input is reported in milliseconds, before anything is created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from meshconform.errors import UsageError
from meshconform.evidence import ClusterKind
from meshconform.modes import MODES, Mode, parse_modes
from meshconform.versions import (
    DEFAULT_ISTIO,
    DEFAULT_KUBERNETES,
    ISTIO_RELEASES,
    IstioRelease,
    get_istio_release,
    node_image,
)
from meshconform.wait.timeouts import Timeouts, parse_overrides

TIERS = ("static", "dataplane", "live")
DEFAULT_TIERS = ("static", "dataplane")
TOOLS = ("kind", "kubectl", "istioctl", "helm")


@dataclass(frozen=True)
class RunOptions:
    modes: tuple[Mode, ...]
    istio: tuple[IstioRelease, ...]
    tiers: tuple[str, ...]
    product: str | None = None
    kubernetes: str = DEFAULT_KUBERNETES
    kubeconfig: Path | None = None
    context: str | None = None
    keep_cluster: bool = False
    reuse_cluster: bool = False
    keep_namespaces: bool = False
    report_dir: Path = Path("meshconform-report")
    artifacts_dir: Path = Path("meshconform-report/artifacts")
    timeout_scale: float = 1.0
    #: --timeout-override NAME=SECONDS, checked: fields of Timeouts set after the scale
    timeout_overrides: tuple[tuple[str, float], ...] = ()
    #: explicit binary paths (--kind, --istioctl, ...); None = resolve (tools.py)
    binaries: dict[str, Path | None] = field(default_factory=dict)
    #: --cluster kind|controlplane; --kubeconfig makes it KUBECONFIG
    cluster: ClusterKind = ClusterKind.KIND
    #: --istio-config: the user's IstioOperator / Helm values files, layered on the overlay
    istio_config: tuple[Path, ...] = ()

    @property
    def live(self) -> bool:
        return "live" in self.tiers

    @property
    def existing_cluster(self) -> bool:
        return self.kubeconfig is not None

    @property
    def timeouts(self) -> Timeouts:
        """The run's wait bounds: the defaults times ``--timeout-scale``, then each
        ``--timeout-override`` as given (an explicit value is not scaled)."""
        return Timeouts().scaled(self.timeout_scale).overridden(dict(self.timeout_overrides))


def parse_tiers(values: Sequence[str]) -> tuple[str, ...]:
    names: list[str] = []
    for value in values:
        for raw in value.split(","):
            part = raw.strip()
            if part == "all":
                names.extend(TIERS)
            elif part in TIERS:
                names.append(part)
            elif part:
                raise UsageError(
                    f"unknown tier {part!r}", f"Use one of: {', '.join(TIERS)}, or 'all'"
                )
    return tuple(t for t in TIERS if t in names) or DEFAULT_TIERS


def parse_istio(values: Sequence[str]) -> tuple[IstioRelease, ...]:
    if not values:
        return (ISTIO_RELEASES[DEFAULT_ISTIO],)
    releases: list[IstioRelease] = []
    for value in values:
        for raw in value.split(","):
            part = raw.strip()
            if part == "all":
                releases.extend(ISTIO_RELEASES.values())
            elif part:
                releases.append(get_istio_release(part))
    order = list(ISTIO_RELEASES)
    return tuple(sorted(set(releases), key=lambda r: order.index(r.minor)))


def parse_options(
    *,
    mesh_modes: Sequence[str] = (),
    istio_versions: Sequence[str] = (),
    tiers: Sequence[str] = (),
    product: str | None = None,
    kubernetes: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    keep_cluster: bool = False,
    reuse_cluster: bool = False,
    keep_namespaces: bool = False,
    report_dir: str | None = None,
    artifacts_dir: str | None = None,
    timeout_scale: float = 1.0,
    timeout_overrides: Sequence[str] = (),
    binaries: dict[str, str | None] | None = None,
    known_products: Sequence[str] = (),
    cluster: str | None = None,
    istio_config: Sequence[str] = (),
) -> RunOptions:
    """Check every option; raise UsageError with the fix for the first bad one."""
    modes = tuple(parse_modes(mesh_modes or ["all"]))
    tier_list = parse_tiers(tiers)
    istio = parse_istio(istio_versions)
    if "live" in tier_list and len(istio) > 1:
        raise UsageError(
            "the live tier installs one Istio version per run, "
            f"got {', '.join(r.minor for r in istio)}",
            "Pass a single --istio-version (run several invocations for a version matrix)",
        )
    if product is not None and product not in known_products:
        listed = ", ".join(known_products) or "none are installed"
        raise UsageError(f"unknown product {product!r}", f"Use one of: {listed}")
    k8s = kubernetes or DEFAULT_KUBERNETES
    node_image(k8s)  # raises for an unpinned Kubernetes version
    kubeconfig_path = None
    if kubeconfig:
        kubeconfig_path = Path(kubeconfig).expanduser()
        if not kubeconfig_path.is_file():
            raise UsageError(
                f"kubeconfig {kubeconfig} does not exist",
                "Pass the path of a readable kubeconfig, or drop --kubeconfig to use kind",
            )
        if len(modes) > 1 and "live" in tier_list:
            raise UsageError(
                "--kubeconfig names one cluster, but several mesh modes were asked for "
                f"({', '.join(m.name for m in modes)})",
                "Pass the one --mesh-mode that cluster runs",
            )
    if context and not kubeconfig_path:
        raise UsageError("--context needs --kubeconfig", "Pass the kubeconfig the context is in")
    if timeout_scale <= 0:
        raise UsageError(
            f"--timeout-scale must be positive, got {timeout_scale}", "Use e.g. 2 on a slow machine"
        )
    overrides = _parse_timeout_overrides(timeout_overrides)
    cluster_kind, configs = _parse_live_inputs(
        cluster, kubeconfig_path, istio_config, keep_cluster=keep_cluster, tiers=tier_list
    )
    report = Path(report_dir or "meshconform-report")
    tools: dict[str, Path | None] = {}
    for name, value in (binaries or {}).items():
        if name not in TOOLS:
            raise UsageError(f"unknown tool {name!r}", f"Use one of {', '.join(TOOLS)}")
        tools[name] = Path(value).expanduser() if value else None
        if value and not Path(value).expanduser().is_file():
            raise UsageError(
                f"--{name} {value} is not a file",
                f"Pass the path of the {name} binary, or leave it out to resolve it",
            )
    return RunOptions(
        modes=modes,
        istio=istio,
        tiers=tier_list,
        product=product,
        kubernetes=k8s,
        kubeconfig=kubeconfig_path,
        context=context,
        keep_cluster=keep_cluster,
        reuse_cluster=reuse_cluster,
        keep_namespaces=keep_namespaces,
        report_dir=report,
        artifacts_dir=Path(artifacts_dir) if artifacts_dir else report / "artifacts",
        timeout_scale=timeout_scale,
        timeout_overrides=overrides,
        binaries=tools,
        cluster=cluster_kind,
        istio_config=configs,
    )


def _parse_timeout_overrides(values: Sequence[str]) -> tuple[tuple[str, float], ...]:
    try:
        return tuple(parse_overrides(values).items())
    except ValueError as error:
        raise UsageError(
            f"--timeout-override: {error}",
            "Pass NAME=SECONDS with a field of Timeouts, e.g. --timeout-override pod_ready=300 "
            "(docs/live-checks.md lists them)",
        ) from None


def _parse_live_inputs(
    cluster: str | None,
    kubeconfig_path: Path | None,
    istio_config: Sequence[str],
    *,
    keep_cluster: bool,
    tiers: tuple[str, ...],
) -> tuple[ClusterKind, tuple[Path, ...]]:
    """--cluster, --kubeconfig, --keep-cluster and --istio-config, checked together."""
    cluster_kind = _parse_cluster(cluster, kubeconfig_path)
    if keep_cluster and cluster_kind is ClusterKind.KUBECONFIG:
        raise UsageError(
            "--keep-cluster applies to the clusters meshconform creates only",
            "An existing cluster (--kubeconfig) is never deleted; drop the flag",
        )
    configs = tuple(Path(c).expanduser() for c in istio_config)
    for config_file in configs:
        if not config_file.is_file():
            raise UsageError(
                f"--istio-config {config_file} does not exist",
                "Pass an IstioOperator or Helm values YAML file",
            )
    if configs and cluster_kind is ClusterKind.KUBECONFIG and "live" in tiers:
        raise UsageError(
            "--istio-config changes how meshconform installs Istio, but --kubeconfig "
            "clusters bring their own Istio",
            "Drop --istio-config, or use --cluster kind or --cluster controlplane",
        )
    return cluster_kind, configs


def _parse_cluster(value: str | None, kubeconfig: Path | None) -> ClusterKind:
    if kubeconfig is not None:
        if value not in (None, "kubeconfig"):
            raise UsageError(
                f"--cluster {value} and --kubeconfig both name the cluster to use",
                "Pass one of them: --kubeconfig FILE for your cluster, or --cluster "
                "kind|controlplane for one meshconform creates",
            )
        return ClusterKind.KUBECONFIG
    if value is None:
        return ClusterKind.KIND
    if value not in (ClusterKind.KIND, ClusterKind.CONTROLPLANE):
        raise UsageError(
            f"unknown --cluster {value!r}",
            "Use kind (Docker) or controlplane (API server and istiod as processes); "
            "for your own cluster pass --kubeconfig",
        )
    return ClusterKind(value)


__all__ = ["MODES", "TIERS", "RunOptions", "parse_options", "parse_tiers"]
