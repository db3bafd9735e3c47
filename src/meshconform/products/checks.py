"""The products' static checks: one registry, used by the pytest suite and ``meshconform static``.

A product's static check is a pure evaluator ``(ProductFacts) -> Evaluation`` keyed by its
claim id. :class:`ProductFacts` holds what the real istioctl produced for one (Istio
version, mode, recipe): the mode's install with the recipe's ``mesh_requirements`` overlaid
(``istioctl manifest generate``), the recipe's workload shapes admitted into it (webhook
selectors, then ``istioctl kube-inject``) and ``istioctl analyze`` of its Istio resources.
The built-in products' evaluators are below; a recipe from an entry point brings its own
(:mod:`meshconform.products`). ``suites/products/`` binds each to its claim with a marker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshconform.claims import Outcome
from meshconform.manifests import load_manifests
from meshconform.modes import Mode
from meshconform.products.recipes import ProductRecipe, WorkloadShape, template_meta
from meshconform.products.static import product_install
from meshconform.static import evaluate as ev
from meshconform.static.analyze import AnalyzeResult, analyze, resources_of
from meshconform.static.evaluate import Evaluation
from meshconform.static.inject import PodShape, admit_objects
from meshconform.static.install import StaticInstall
from meshconform.static.istioctl import Istioctl
from meshconform.versions import DEFAULT_KUBERNETES

Obj = dict[str, Any]


@dataclass
class ProductFacts:
    """What the real istioctl says about one product in one mode, computed lazily, once."""

    istioctl: Istioctl
    mode: Mode
    recipe: ProductRecipe
    kubernetes: str = DEFAULT_KUBERNETES
    #: a team's own IstioOperator/values files, layered on the mode's overlay
    extra_config: tuple[Path, ...] = ()
    replace_overlay: bool = False
    #: overlay the recipe's mesh_requirements (off when judging a team's own configuration)
    with_requirements: bool = True
    _install: StaticInstall | None = None
    _analysis: AnalyzeResult | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def install(self) -> StaticInstall:
        """The mode's install with the recipe's ``mesh_requirements`` as one more overlay."""
        with self._lock:
            if self._install is None:
                self._install = product_install(
                    self.istioctl,
                    self.mode,
                    self.recipe,
                    self.extra_config,
                    replace_overlay=self.replace_overlay,
                    with_requirements=self.with_requirements,
                )
            return self._install

    @property
    def analysis(self) -> AnalyzeResult:
        """``istioctl analyze --use-kube=false --all-namespaces`` of the recipe's resources."""
        install = self.install
        with self._lock:
            if self._analysis is None:
                self._analysis = analyze(
                    self.istioctl, install.workdir, resources_of(self.recipe.istio_resources)
                )
            return self._analysis

    def shape(self, file_name: str) -> WorkloadShape:
        for shape in self.recipe.workloads:
            if shape.path.name == file_name:
                return shape
        raise LookupError(f"product {self.recipe.name} has no workload {file_name}")

    def admitted(self, shape: WorkloadShape, values_mode: str | None = None) -> list[PodShape]:
        """The shape's pods rendered with a mode's values (default: this mode's), admitted
        into an enrolled namespace of this mode's mesh."""
        objects = self.recipe.render_workload(shape, values_mode or self.mode.name)
        return admit_objects(self.install, shape.path.name, objects, self.kubernetes)

    def resources(self, kind: str) -> list[Obj]:
        return [
            o for p in self.recipe.istio_resources for o in load_manifests(p) if o["kind"] == kind
        ]


ProductCheck = Callable[[ProductFacts], Evaluation]


def _verdict(ok: bool, evidence: Iterable[str]) -> Evaluation:
    return Evaluation(Outcome.HOLDS if ok else Outcome.BROKEN, "\n".join(evidence))


def analyze_clean(facts: ProductFacts) -> Evaluation:
    """Error-level analyzer messages fail; warnings are kept as evidence."""
    result = facts.analysis
    return _verdict(not result.problems, [result.output or "istioctl analyze: no issues"])


# ---------------------------------------------------------------- testkube


def testkube_pods_uninjected(facts: ProductFacts) -> Evaluation:
    lines, ok = [], True
    for shape in facts.recipe.workloads:
        for pod in facts.admitted(shape):
            layout = ev.proxy_layout(pod)
            lines.append(f"{shape.path.name}: istio-proxy {layout} ({pod.how})")
            ok = ok and layout == "none"
    return _verdict(ok, lines)


def testkube_execution_job_completes(facts: ProductFacts) -> Evaluation:
    (job,) = facts.admitted(facts.shape("execution-job.yaml"))
    return ev.job_completes(job)


# ---------------------------------------------------------------- kubeflow-istio


def kubeflow_global_deny_all(facts: ProductFacts) -> Evaluation:
    """An allow-nothing policy in the mesh rootNamespace; the only ALLOW selects pods."""
    root = facts.install.mesh.get("rootNamespace", "istio-system")
    policies = facts.resources("AuthorizationPolicy")
    deny_all = [p for p in policies if not p.get("spec") and p["metadata"].get("namespace") == root]
    wide = [
        p["metadata"]["name"]
        for p in policies
        if p.get("spec") and not (p["spec"].get("selector") or {}).get("matchLabels")
    ]
    analysis = facts.analysis
    return _verdict(
        bool(deny_all) and not wide and not analysis.problems,
        [
            f"rootNamespace {root}; allow-nothing policies: "
            f"{[p['metadata']['name'] for p in deny_all]}; unselective ALLOWs: {wide}",
            analysis.output,
        ],
    )


def _host_covers(host: str, namespace: str, own_namespace: str) -> bool:
    ns, _, _name = host.partition("/")
    return ns in ("*", namespace) or (ns == "." and namespace == own_namespace)


#: a meshed destination in a namespace Kubeflow's Sidecar does not list
UNLISTED_NAMESPACE = "team-analytics"


def sidecar_egress_pruning(
    facts: ProductFacts, client_namespace: str = "kubeflow-user"
) -> Evaluation:
    """Traffic to an unlisted namespace: passthrough (no mTLS) under ALLOW_ANY, the documented
    failure; under REGISTRY_ONLY a 502 from block_all, which hides it."""
    root = facts.install.mesh.get("rootNamespace", "istio-system")
    sidecars = [
        s
        for s in facts.resources("Sidecar")
        if s["metadata"].get("namespace") == root and not s["spec"].get("workloadSelector")
    ]
    if not sidecars:
        return _verdict(False, [f"no mesh-wide Sidecar in rootNamespace {root}"])
    spec = sidecars[0]["spec"]
    hosts = [h for e in spec.get("egress") or [] for h in e.get("hosts") or []]
    visible = any(_host_covers(h, UNLISTED_NAMESPACE, client_namespace) for h in hosts)
    policy = (
        spec.get("outboundTrafficPolicy") or facts.install.mesh.get("outboundTrafficPolicy") or {}
    ).get("mode", "ALLOW_ANY")
    evidence = [
        f"Sidecar {root}/{sidecars[0]['metadata']['name']} egress hosts {hosts}",
        f"a service in namespace {UNLISTED_NAMESPACE} is "
        f"{'VISIBLE' if visible else 'not visible'} to pods in {client_namespace}",
        f"outboundTrafficPolicy in effect: {policy} "
        f"({'the Sidecar' if spec.get('outboundTrafficPolicy') else 'the mesh config'})",
    ]
    if visible:
        evidence.append("the destination keeps its outbound cluster: mTLS, no documented failure")
        return _verdict(False, evidence)
    if policy == "REGISTRY_ONLY":
        evidence.append(
            "unknown to the sidecar under REGISTRY_ONLY: block_all answers 502, which hides "
            "the documented plaintext failure"
        )
        return _verdict(False, evidence)
    evidence.append(
        "unknown to the sidecar under ALLOW_ANY: PassthroughCluster, no mTLS; the destination "
        'answers "RBAC: access denied" to a policy requiring principals, or resets under STRICT'
    )
    return _verdict(True, evidence)


# ---------------------------------------------------------------- speedscale

#: speedscale/docs docs/setup/install/istio.md (commit eb3cf20b): the example, in order
SPEEDSCALE_EXAMPLE_HOSTS = (
    "app.speedscale.com",
    "downloads.speedscale.com",
    "firehose.us-east-1.amazonaws.com",
    "sqs.us-east-1.amazonaws.com",
    "sns.us-east-1.amazonaws.com",
    "s3.us-east-1.amazonaws.com",
    "*.s3.us-east-1.amazonaws.com",
    "sts.amazonaws.com",
    "sts.us-east-1.amazonaws.com",
)
#: speedscale/docs docs/reference/_external-services.mdx: the table's remaining hosts
SPEEDSCALE_TABLE_HOSTS = (
    "monitoring.us-east-1.amazonaws.com",
    "gcr.io",
    "speedscale.github.io",
)
SPEEDSCALE_CNI_ANNOTATION = "sidecar.speedscale.com/istio-cni"


def service_entry_problems(entry: Mapping[str, Any]) -> list[str]:
    """What makes one ServiceEntry differ from Speedscale's documented pattern."""
    spec = entry.get("spec", {})
    problems = []
    if spec.get("location") != "MESH_EXTERNAL":
        problems.append(f"location {spec.get('location')}")
    if spec.get("resolution") != "NONE":
        problems.append(f"resolution {spec.get('resolution')}")
    ports = [(p.get("number"), p.get("protocol")) for p in spec.get("ports", [])]
    if ports != [(443, "TLS")]:
        problems.append(f"ports {ports}")
    return problems


def speedscale_service_entries(facts: ProductFacts) -> Evaluation:
    entries = facts.resources("ServiceEntry")
    hosts = {h for e in entries for h in e["spec"].get("hosts", [])}
    problems = [f"{e['metadata']['name']}: {p}" for e in entries for p in service_entry_problems(e)]
    example = next(
        (e for e in entries if e["metadata"]["name"] == "speedscale-external-svc-https"), None
    )
    verbatim = example is not None and tuple(example["spec"].get("hosts", [])) == (
        SPEEDSCALE_EXAMPLE_HOSTS
    )
    missing = sorted(set(SPEEDSCALE_EXAMPLE_HOSTS + SPEEDSCALE_TABLE_HOSTS) - hosts)
    analysis = facts.analysis
    return _verdict(
        not problems and not missing and verbatim and not analysis.problems,
        [
            f"problems: {problems or 'none'}; undeclared documented hosts: {missing or 'none'}",
            "speedscale-external-svc-https is the doc's example verbatim: "
            f"{verbatim} (hosts {list(example['spec'].get('hosts', [])) if example else 'absent'})",
            analysis.output,
        ],
    )


def speedscale_pre_install_job(facts: ProductFacts) -> Evaluation:
    """The chart's hook Job ends its own proxy through Envoy's admin port (classic), or the
    kubelet ends a native one."""
    (job,) = facts.admitted(facts.shape("pre-install-job.yaml"))
    if ev.proxy_layout(job) == "classic":
        return ev.job_completes_with_envoy_quitquitquit(job)
    return ev.job_completes(job)


def speedscale_cni_annotation(facts: ProductFacts) -> Evaluation:
    """With istio-cni in the mesh, the user's workload carries the annotation; the chart's own
    pods (the operator side) do not need it."""
    cni = "istio-cni-node" in facts.install.daemonsets
    lines = [f"Istio CNI agent in the install: {cni} (DaemonSets {facts.install.daemonsets})"]
    ok = True
    for shape in facts.recipe.workloads:
        objects = facts.recipe.render_workload(shape, facts.mode.name)
        for obj in objects:
            annotations = template_meta(obj).get("annotations") or {}
            user = annotations.get("sidecar.speedscale.com/inject") == "true"
            has = annotations.get(SPEEDSCALE_CNI_ANNOTATION) == "true"
            role = "user workload (Speedscale sidecar)" if user else "chart workload"
            lines.append(f"{shape.path.name} ({role}): {SPEEDSCALE_CNI_ANNOTATION}={has}")
            if user:
                ok = ok and has == cni
    return _verdict(ok, lines)


# ---------------------------------------------------------------- deploykf


def deploykf_requirement_gaps(install: StaticInstall, pod: PodShape) -> list[str]:
    """What deployKF requires that this mesh and admitted pod do not provide."""
    gaps = []
    default = install.mesh.get("defaultConfig", {})
    if default.get("holdApplicationUntilProxyStarts") is not True:
        gaps.append("mesh config lacks holdApplicationUntilProxyStarts")
    metadata = default.get("proxyMetadata", {})
    gaps.extend(
        f"proxyMetadata {key} is {metadata.get(key)!r}"
        for key in ("ISTIO_META_DNS_CAPTURE", "ISTIO_META_DNS_AUTO_ALLOCATE")
        if metadata.get(key) != "true"
    )
    layout = ev.proxy_layout(pod)
    proxy = pod.container(ev.PROXY) or pod.init(ev.PROXY)
    if proxy is None:
        gaps.append("no istio-proxy injected")
    else:
        env = {e["name"]: e.get("value") for e in proxy.get("env", [])}
        if env.get("ISTIO_META_DNS_CAPTURE") != "true":
            gaps.append("istio-proxy env lacks ISTIO_META_DNS_CAPTURE=true")
        if layout == "classic":
            hook = proxy.get("lifecycle", {}).get("postStart", {}).get("exec", {}).get("command")
            if pod.container_names()[:1] != [ev.PROXY] or hook != ["pilot-agent", "wait"]:
                gaps.append("classic istio-proxy is not first with postStart pilot-agent wait")
        elif layout != "native" or not proxy.get("startupProbe"):
            gaps.append("native istio-proxy lacks restartPolicy Always + startupProbe")
    by_default = ev.injection_not_by_default(install)
    if by_default.outcome is not Outcome.HOLDS:
        gaps.append(f"injection by default: {by_default.evidence}".replace("\n", "; "))
    return gaps


def deploykf_mesh_requirements(facts: ProductFacts) -> Evaluation:
    (pod,) = facts.admitted(facts.shape("dashboard-pod.yaml"))
    gaps = deploykf_requirement_gaps(facts.install, pod)
    return _verdict(not gaps, [pod.describe(), "; ".join(gaps) or "all requirements met"])


def gateway_service_entry_problems(entry: Mapping[str, Any]) -> list[str]:
    """How a ServiceEntry differs from deployKF's gateway entry (pure; for fault tests)."""
    spec = entry.get("spec") or {}
    problems = []
    if spec.get("location") != "MESH_INTERNAL":
        problems.append(f"location {spec.get('location')}")
    if spec.get("resolution") != "STATIC":
        problems.append(f"resolution {spec.get('resolution')}")
    if not (spec.get("workloadSelector") or {}).get("labels"):
        problems.append("no workloadSelector")
    if spec.get("addresses"):
        problems.append(f"addresses {spec['addresses']} (deployKF relies on auto-allocation)")
    return problems


def deploykf_gateway_service_entry(facts: ProductFacts) -> Evaluation:
    """The entry's shape, plus the two mesh features meshed pods need to reach it by name."""
    entries = [
        e
        for e in facts.resources("ServiceEntry")
        if e["metadata"]["name"] == "deploykf-istio-gateway"
    ]
    if not entries:
        return _verdict(False, ["no ServiceEntry deploykf-istio-gateway among the resources"])
    problems = gateway_service_entry_problems(entries[0])
    (pod,) = facts.admitted(facts.shape("dashboard-pod.yaml"))
    dns = ev.dns_proxy_resolves_service_entry(facts.install, pod)
    allocate = ev.dns_auto_allocate(facts.install)
    analysis = facts.analysis
    return _verdict(
        not problems
        and dns.outcome is Outcome.HOLDS
        and allocate.outcome is Outcome.HOLDS
        and not analysis.problems,
        [
            f"ServiceEntry deploykf-istio-gateway hosts {entries[0]['spec'].get('hosts')}: "
            f"{'; '.join(problems) or 'MESH_INTERNAL, STATIC, workloadSelector, no addresses'}",
            f"DNS capture: {dns.outcome}: {dns.evidence}",
            f"address auto-allocation: {allocate.outcome}: {allocate.evidence}",
            analysis.output,
        ],
    )


def https_redirect_problems(virtual_services: list[Obj], gateways: list[Obj]) -> list[str]:
    """How the resources differ from deployKF's 307 redirect (pure; for fault tests)."""
    problems: list[str] = []
    vs = next((v for v in virtual_services if v["metadata"]["name"] == "https-redirect"), None)
    if vs is None:
        return ["no VirtualService https-redirect"]
    redirects = [r.get("redirect") or {} for r in vs["spec"].get("http") or []]
    if not any(
        r.get("scheme") == "https" and r.get("port") == 443 and r.get("redirectCode") == 307
        for r in redirects
    ):
        problems.append(f"no redirect to https:443 with code 307: {redirects}")
    bound = {g.rpartition("/")[2] for g in vs["spec"].get("gateways") or []}
    for gateway in gateways:
        if gateway["metadata"]["name"] not in bound:
            continue
        problems.extend(
            f"Gateway {gateway['metadata']['name']} sets tls.httpsRedirect (a 301 that keeps "
            "the port) on the server the VirtualService redirects"
            for server in gateway["spec"].get("servers") or []
            if (server.get("tls") or {}).get("httpsRedirect")
        )
    if not any(g["metadata"]["name"] in bound for g in gateways):
        problems.append(
            f"the VirtualService's gateways {sorted(bound)} are not among the resources"
        )
    return problems


def deploykf_https_redirect(facts: ProductFacts) -> Evaluation:
    problems = https_redirect_problems(
        facts.resources("VirtualService"), facts.resources("Gateway")
    )
    analysis = facts.analysis
    return _verdict(
        not problems and not analysis.problems,
        [
            "; ".join(problems)
            or "VirtualService https-redirect: 307 to https:443; Gateway "
            "server keeps tls.httpsRedirect false",
            analysis.output,
        ],
    )


#: the built-in products' static checks: product -> claim id -> evaluator
BUILTIN_CHECKS: dict[str, dict[str, ProductCheck]] = {
    "testkube": {
        "testkube-execution-pods-uninjected": testkube_pods_uninjected,
        "testkube-execution-job-completes": testkube_execution_job_completes,
    },
    "kubeflow-istio": {
        "kubeflow-istio-resources-valid": analyze_clean,
        "kubeflow-global-deny-all-blocks": kubeflow_global_deny_all,
        "kubeflow-sidecar-egress-pruning": sidecar_egress_pruning,
    },
    "speedscale": {
        "speedscale-egress-service-entries": speedscale_service_entries,
        "speedscale-pre-install-job-completes": speedscale_pre_install_job,
        "speedscale-istio-cni-annotation": speedscale_cni_annotation,
    },
    "deploykf": {
        "deploykf-mesh-requirements": deploykf_mesh_requirements,
        "deploykf-gateway-resources-valid": analyze_clean,
        "deploykf-gateway-service-entry": deploykf_gateway_service_entry,
        "deploykf-https-redirect-307": deploykf_https_redirect,
    },
}
