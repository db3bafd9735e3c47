"""Pure evaluators: what istioctl produced -> (holds | broken, evidence), one per claim.

They read the generated install and the admitted pod shapes; they never run
anything and never know which outcome the catalog expects in a mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshconform.claims import Outcome
from meshconform.static.inject import PodShape
from meshconform.static.install import StaticInstall
from meshconform.static.selectors import injecting_webhooks

PROXY = "istio-proxy"
REDIRECT_INITS = ("istio-init", "istio-validation")


@dataclass(frozen=True)
class Evaluation:
    outcome: Outcome
    evidence: str


def _verdict(ok: bool, evidence: list[str]) -> Evaluation:
    return Evaluation(Outcome.HOLDS if ok else Outcome.BROKEN, "\n".join(evidence))


def proxy_layout(pod: PodShape) -> str:
    """'native' (init container, restartPolicy Always), 'classic' (container) or 'none'."""
    init = pod.init(PROXY)
    if init is not None and init.get("restartPolicy") == "Always":
        return "native"
    if pod.container(PROXY) is not None:
        return "classic"
    return "none"


def user_inits(pod: PodShape) -> list[str]:
    return [n for n in pod.init_names() if n != PROXY and n not in REDIRECT_INITS]


def redirect_args(pod: PodShape) -> list[str]:
    for name in REDIRECT_INITS:
        container = pod.init(name)
        if container is not None:
            return [str(a) for a in container.get("args") or []]
    return []


def _flag(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args[:-1] else None


def job_completes(job: PodShape) -> Evaluation:
    """A Job completes when nothing long-running outlives its app container."""
    layout = proxy_layout(job)
    evidence = [job.describe()]
    if layout == "classic":
        evidence.append(
            "istio-proxy is a regular container: it keeps running after the app "
            "exits, so the pod never reaches Succeeded"
        )
    elif layout == "native":
        init = job.init(PROXY) or {}
        evidence.append(
            f"istio-proxy is an init container with restartPolicy Always "
            f"(startupProbe {'present' if init.get('startupProbe') else 'absent'}): "
            "the kubelet stops it when the app exits"
        )
    else:
        evidence.append("no istio-proxy in the pod: only the app runs")
    return _verdict(layout != "classic", evidence)


def _opted_out(pod: PodShape, form: str) -> tuple[bool, str]:
    layout = proxy_layout(pod)
    if layout != "none":
        return False, (
            f'{form}: istio-proxy injected ({layout}) despite sidecar.istio.io/inject "false"; '
            f"{pod.describe()}"
        )
    path = (
        "istiod declined: the webhook selected the pod and injection found the opt-out"
        if pod.injected
        else "the webhook's objectSelector skipped the pod"
    )
    return True, f"{form}: no istio-proxy ({path}); {pod.describe()}"


def job_completes_without_injection(
    job_no_inject: PodShape, annotated: PodShape | None = None
) -> Evaluation:
    """No istio-proxy with the opt-out as a label and, when given, as an annotation.

    Istio handles the two on different paths: the label is in the injection webhook's
    objectSelector, the annotation only in istiod's injection policy (injectRequired).
    """
    results = [_opted_out(job_no_inject, "label")]
    if annotated is not None:
        results.append(_opted_out(annotated, "annotation"))
    return _verdict(all(ok for ok, _ in results), [line for _, line in results])


def job_completes_with_quitquitquit(job_quit: PodShape) -> Evaluation:
    """The app's POST to localhost:15020 reaches pilot-agent, and its exit ends the pod."""
    layout = proxy_layout(job_quit)
    excluded = (_flag(redirect_args(job_quit), "-d") or "").split(",")
    ok = layout == "classic" and "15020" in excluded
    return _verdict(
        ok,
        [
            job_quit.describe(),
            f"istio-proxy layout: {layout} (a regular container ends with pilot-agent's exit)",
            f"inbound ports excluded from capture (-d): {','.join(excluded) or 'none'}; the "
            "agent's status server (POST /quitquitquit) is on 15020",
        ],
    )


#: Envoy's admin endpoint that ends Envoy (and with it pilot-agent)
ENVOY_QUIT = ("127.0.0.1:15000/quitquitquit", "localhost:15000/quitquitquit")


def _command_text(container: dict[str, Any]) -> str:
    return " ".join(
        str(a) for a in [*(container.get("command") or []), *(container.get("args") or [])]
    )


def job_completes_with_envoy_quitquitquit(job_quit: PodShape) -> Evaluation:
    """The app POSTs Envoy's own quitquitquit; pilot-agent exits when Envoy exits, so a
    classic istio-proxy container ends and the pod can reach Succeeded."""
    layout = proxy_layout(job_quit)
    apps = [c for c in job_quit.spec.get("containers") or [] if c["name"] != PROXY]
    posts = [c["name"] for c in apps if any(u in _command_text(c) for u in ENVOY_QUIT)]
    return _verdict(
        layout == "classic" and bool(posts),
        [
            job_quit.describe(),
            f"istio-proxy layout: {layout} (a regular container ends when pilot-agent exits, "
            "and pilot-agent exits when Envoy exits: pkg/istio-agent/agent.go)",
            f"containers POSTing Envoy's :15000/quitquitquit: {posts or 'none'} (loopback is "
            "never redirected, so the request reaches Envoy's admin listener)",
        ],
    )


def init_container_hostname_reach(  # noqa: PLR0911 - one return per documented case
    pod: PodShape, install: StaticInstall
) -> Evaluation:
    """Can the app's init container resolve a hostname and reach it, before a classic proxy runs?

    istio-iptables (tools/istio-iptables/pkg/capture/run.go Run) orders ISTIO_OUTPUT as: the
    proxy UID's RETURN, then the jump to ISTIO_OUTPUT_DNS (port 53 -> the agent's 15053), then
    the excludeOutboundIPRanges RETURNs. The istio-cni plugin turns DNS redirection on from the
    proxy's ISTIO_META_DNS_CAPTURE (cni/pkg/plugin/sidecar_redirect.go).
    """
    layout = proxy_layout(pod)
    evidence = [pod.describe()]
    proxy = pod.container(PROXY) or pod.init(PROXY) or {}
    env = {e["name"]: e.get("value") for e in proxy.get("env") or []}
    dns = env.get("ISTIO_META_DNS_CAPTURE") == "true"
    if layout == "native":
        evidence.append(
            "istio-proxy (native) and its DNS proxy run before the app's init containers"
        )
        return _verdict(True, evidence)
    if layout == "none":
        ok, line = _ambient_captures(install, pod)
        evidence.append(f"no sidecar; ambient capture: {ok} ({line})")
        return _verdict(ok, evidence)
    by_cni = "istio-cni-node" in install.daemonsets and pod.init("istio-validation") is not None
    if not by_cni:
        evidence.append(
            "no istio-cni redirection (istio-init runs after the app's init containers): "
            "nothing to bypass, the claim's premise does not hold"
        )
        return _verdict(False, evidence)
    args = redirect_args(pod)
    users = [c for c in pod.spec.get("initContainers") or [] if c["name"] in user_inits(pod)]
    runs_as = {(c.get("securityContext") or {}).get("runAsUser") for c in users}
    uid = _flag(args, "-u")
    excluded = (_flag(args, "-x") or "").split(",")
    uid_bypass = runs_as == {1337} and uid == "1337"
    range_bypass = "0.0.0.0/0" in excluded
    evidence.append(
        f"istio-cni redirection with DNS capture {'ON' if dns else 'off'} "
        f"(istio-proxy env ISTIO_META_DNS_CAPTURE={env.get('ISTIO_META_DNS_CAPTURE')!r})"
    )
    evidence.append(
        f"app init containers run as {sorted(map(str, runs_as))}; capture excludes uid (-u) "
        f"{uid}; excluded ranges (-x) {','.join(x for x in excluded if x) or 'none'}"
    )
    if uid_bypass:
        evidence.append("UID 1337 returns before DNS redirection: DNS and TCP both bypass")
        return _verdict(True, evidence)
    if range_bypass and not dns:
        evidence.append("DNS is not redirected and every range is excluded: both bypass")
        return _verdict(True, evidence)
    if range_bypass:
        evidence.append(
            "the range exclusions come AFTER the jump to ISTIO_OUTPUT_DNS: port 53 goes to the "
            "agent's 15053, which starts with istio-proxy after the init containers, so the "
            "hostname does not resolve"
        )
        return _verdict(False, evidence)
    evidence.append("no bypass: the init container's traffic is redirected to a proxy not running")
    return _verdict(False, evidence)


def holds_app(pod: PodShape) -> tuple[bool, str]:
    layout = proxy_layout(pod)
    if layout == "classic":
        first = pod.container_names()[:1] == [PROXY]
        hook = ((pod.container(PROXY) or {}).get("lifecycle") or {}).get("postStart") or {}
        command = (hook.get("exec") or {}).get("command") or []
        waits = command[:2] == ["pilot-agent", "wait"]
        return first and waits, (
            f"{pod.describe()}; istio-proxy first: {first}; postStart {' '.join(command) or 'none'}"
        )
    if layout == "native":
        init = pod.init(PROXY) or {}
        probe = init.get("startupProbe") or {}
        # the app (a regular container) starts only after every init container has
        # started; a restartPolicy=Always one counts as started once its startupProbe passes
        return bool(probe), (
            f"{pod.describe()}; the kubelet starts the app only after "
            f"istio-proxy's startupProbe {probe.get('httpGet') or 'ABSENT'} "
            "passes"
        )
    return False, f"{pod.describe()}; no istio-proxy to wait for"


def proxy_ready_before_app(per_pod: PodShape, mesh_wide: PodShape) -> Evaluation:
    """Both ways of asking: the proxy.istio.io/config annotation, and mesh-wide config."""
    ok_pod, pod_line = holds_app(per_pod)
    ok_mesh, mesh_line = holds_app(mesh_wide)
    return _verdict(
        ok_pod and ok_mesh,
        [
            f"per-pod annotation: {'holds' if ok_pod else 'BROKEN'}: {pod_line}",
            f"mesh-wide holdApplicationUntilProxyStarts: {'holds' if ok_mesh else 'BROKEN'}: "
            f"{mesh_line}",
        ],
    )


def _ambient_captures(install: StaticInstall, pod: PodShape) -> tuple[bool, str]:
    cni = install.cni_config
    labels = install.mode.namespace_labels
    ok = (
        "ztunnel" in install.daemonsets
        and cni.get("AMBIENT_ENABLED") == "true"
        and labels.get("istio.io/dataplane-mode") == "ambient"
    )
    return ok, (
        f"install DaemonSets {install.daemonsets}; istio-cni AMBIENT_ENABLED="
        f"{cni.get('AMBIENT_ENABLED')}; namespace labels {dict(labels)}"
    )


def init_container_order(init_pod: PodShape) -> Evaluation:
    """With a sidecar: app init containers are in the mesh only if a running proxy precedes them."""
    layout = proxy_layout(init_pod)
    inits = init_pod.init_names()
    users = user_inits(init_pod)
    evidence = [init_pod.describe()]
    if layout == "native":
        first_user = min(inits.index(u) for u in users) if users else len(inits)
        ok = inits.index(PROXY) < first_user
        evidence.append(
            f"istio-proxy (native) at init position {inits.index(PROXY)}, first "
            f"app init container at {first_user}"
        )
        return _verdict(ok, evidence)
    if "istio-init" in inits:
        evidence.append(
            f"istio-init runs at position {inits.index('istio-init')} after "
            f"the app's init containers {users}: their traffic bypasses the "
            "proxy (plaintext)"
        )
    elif "istio-validation" in inits:
        evidence.append(
            "istio-cni redirects from sandbox creation, but istio-proxy is a "
            "regular container that starts after all init containers: "
            "redirected traffic is refused"
        )
    elif layout == "none":
        evidence.append("no istio-proxy in the pod")
    return _verdict(False, evidence)


def init_container_network(init_pod: PodShape, install: StaticInstall) -> Evaluation:
    """App init containers are in the mesh only if a running proxy precedes them."""
    if proxy_layout(init_pod) != "none":
        return init_container_order(init_pod)
    ok, line = _ambient_captures(install, init_pod)
    return _verdict(
        ok,
        [
            init_pod.describe(),
            f"no sidecar; ambient redirection at sandbox creation: {ok} ({line})",
        ],
    )


def init_container_bypass(
    uid_pod: PodShape, exclude_pod: PodShape, cidr: str, install: StaticInstall
) -> Evaluation:
    """Both documented bypasses are honoured by the CNI redirection config."""
    by_cni = "istio-cni-node" in install.daemonsets and uid_pod.init("istio-validation") is not None
    uid_args = redirect_args(uid_pod)
    probe: dict[str, Any] = next(
        (c for c in uid_pod.spec.get("initContainers") or [] if c["name"] in user_inits(uid_pod)),
        {},
    )
    runs_as = (probe.get("securityContext") or {}).get("runAsUser")
    uid_ok = runs_as == 1337 and _flag(uid_args, "-u") == "1337"
    ex_args = redirect_args(exclude_pod)
    excluded = (_flag(ex_args, "-x") or "").split(",")
    annotation = exclude_pod.annotations.get("traffic.sidecar.istio.io/excludeOutboundIPRanges")
    ex_ok = cidr in excluded and annotation == cidr
    return _verdict(
        by_cni and uid_ok and ex_ok,
        [
            f"redirection by istio-cni: {by_cni} (DaemonSets {install.daemonsets}, init containers "
            f"{uid_pod.init_names()})",
            f"UID bypass: app init container runAsUser {runs_as}; capture excludes uid "
            f"(-u) {_flag(uid_args, '-u')}",
            f"range bypass: annotation excludeOutboundIPRanges={annotation}; redirection "
            f"excludes (-x) {','.join(excluded) or 'nothing'}",
        ],
    )


def classic_sidecar_forced(install: StaticInstall, job: PodShape) -> Evaluation:
    env = install.istiod_env.get("ENABLE_NATIVE_SIDECARS")
    layout = proxy_layout(job)
    return _verdict(
        env == "false" and layout == "classic",
        [
            f"istiod env ENABLE_NATIVE_SIDECARS={env!r} (unset means 'auto')",
            job.describe(),
            f"istio-proxy layout: {layout}",
        ],
    )


def native_sidecar_injected_as_init(init_pod: PodShape) -> Evaluation:
    inits = init_pod.init_names()
    proxy = init_pod.init(PROXY) or {}
    users = user_inits(init_pod)
    ok = (
        PROXY in inits
        and proxy.get("restartPolicy") == "Always"
        and bool(proxy.get("startupProbe"))
        and all(inits.index(PROXY) < inits.index(u) for u in users)
    )
    return _verdict(
        ok,
        [
            init_pod.describe(),
            f"istio-proxy restartPolicy={proxy.get('restartPolicy')}, startupProbe="
            f"{(proxy.get('startupProbe') or {}).get('httpGet', 'absent')}",
        ],
    )


def injection_not_by_default(install: StaticInstall) -> Evaluation:
    hooks = injecting_webhooks(install.find("MutatingWebhookConfiguration"), {}, {})
    by_default = (install.values.get("sidecarInjectorWebhook") or {}).get(
        "enableNamespacesByDefault"
    )
    return _verdict(
        not hooks and by_default is not True,
        [
            f"webhooks selecting a pod with no labels in a namespace with no labels: "
            f"{hooks or 'none'}",
            f"values sidecarInjectorWebhook.enableNamespacesByDefault={by_default}",
        ],
    )


def egress_registry_only_blocks(install: StaticInstall, client: PodShape) -> Evaluation:
    """REGISTRY_ONLY is enforced by the sidecar; without one nothing in the pod applies it."""
    policy = (install.mesh.get("outboundTrafficPolicy") or {}).get("mode", "ALLOW_ANY (default)")
    layout = proxy_layout(client)
    evidence = [f"mesh config outboundTrafficPolicy.mode={policy}", client.describe()]
    if layout == "none":
        evidence.append(
            "no sidecar applies outboundTrafficPolicy to this pod; ztunnel ignores "
            "it (istio/istio#54281), so the static tier cannot see a block"
        )
    return _verdict(policy == "REGISTRY_ONLY" and layout != "none", evidence)


def dns_proxy_resolves_service_entry(install: StaticInstall, client: PodShape) -> Evaluation:
    proxy = client.container(PROXY) or client.init(PROXY)
    if proxy is not None:
        env = {e["name"]: e.get("value") for e in proxy.get("env") or []}
        capture = env.get("ISTIO_META_DNS_CAPTURE")
        return _verdict(
            capture == "true",
            [
                client.describe(),
                f"istio-proxy env ISTIO_META_DNS_CAPTURE={capture!r} "
                "(from meshConfig.defaultConfig.proxyMetadata; default off)",
            ],
        )
    ambient, line = _ambient_captures(install, client)
    dns = install.cni_config.get("AMBIENT_DNS_CAPTURE")
    return _verdict(
        ambient and dns == "true",
        [client.describe(), f"istio-cni AMBIENT_DNS_CAPTURE={dns!r}; {line}"],
    )


#: the first Istio minor whose istiod allocates ServiceEntry addresses itself
IP_AUTOALLOCATE_SINCE = (1, 25)


def dns_auto_allocate(install: StaticInstall, minor: str | None = None) -> Evaluation:
    """The mechanism in force for the Istio version decides: from 1.25 istiod's controller
    (PILOT_ENABLE_IP_AUTOALLOCATE, default true), before it the proxy's legacy
    ISTIO_META_DNS_AUTO_ALLOCATE (deprecated since; it changes nothing from 1.25)."""
    version = minor or install.istioctl.release.minor
    major_minor = tuple(int(p) for p in version.split(".")[:2])
    env = install.istiod_env.get("PILOT_ENABLE_IP_AUTOALLOCATE")
    legacy = ((install.mesh.get("defaultConfig") or {}).get("proxyMetadata") or {}).get(
        "ISTIO_META_DNS_AUTO_ALLOCATE"
    )
    deprecated = [w for w in install.warnings if "DNS_AUTO_ALLOCATE" in w]
    if major_minor >= IP_AUTOALLOCATE_SINCE:
        ok = env is None or env.lower() != "false"
        mechanism = (
            f"Istio {version}: istiod's IP auto-allocation controller, env "
            f"PILOT_ENABLE_IP_AUTOALLOCATE={env!r} (unset = true: istiod writes "
            "ServiceEntry.status.addresses)"
        )
        legacy_line = (
            f"legacy proxyMetadata ISTIO_META_DNS_AUTO_ALLOCATE={legacy!r} "
            "(deprecated; not needed from 1.25)"
        )
    else:
        ok = str(legacy).lower() == "true"
        mechanism = f"Istio {version}: the proxy allocates (before 1.25, no istiod controller)"
        legacy_line = f'proxyMetadata ISTIO_META_DNS_AUTO_ALLOCATE={legacy!r} (must be "true")'
    return _verdict(
        ok,
        [mechanism, legacy_line, *(f"istioctl warns: {w}" for w in deprecated)],
    )


def install_shape(install: StaticInstall) -> str:
    """The data-plane components of the generated install, for evidence and tests."""
    kinds = sorted(
        {
            f"{o['kind']}/{o['metadata']['name']}"
            for o in install.objects
            if o["kind"] in ("DaemonSet", "Deployment")
        }
    )
    return "install components: " + ", ".join(kinds)
