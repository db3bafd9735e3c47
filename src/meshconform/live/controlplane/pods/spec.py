"""What a process pod takes from the pod's own (injected) spec: pure functions.

A kubelet resolves a container's environment (``value``, ``fieldRef``,
``resourceFieldRef``, ``$(VAR)`` references) and runs its command and args. The process
kubelet does the same for the containers it can run: ``istio-init`` (Istio's rules,
applied with ``pilot-agent istio-iptables`` and the container's own arguments),
``istio-proxy`` (pilot-agent + Envoy) and the suite's reference workloads.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PROXY = "istio-proxy"
INIT = "istio-init"
#: UID/GID of istio-proxy when its securityContext says nothing (Istio's default)
PROXY_UID = 1337

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


@dataclass(frozen=True)
class PodAddress:
    ip: str
    host_ip: str
    node: str


def containers(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Init containers then containers, as declared."""
    spec = pod.get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def find_container(pod: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    return next((c for c in containers(pod) if c.get("name") == name), None)


def is_native_sidecar(pod: Mapping[str, Any], name: str) -> bool:
    spec = pod.get("spec") or {}
    return any(
        c.get("name") == name and c.get("restartPolicy") == "Always"
        for c in spec.get("initContainers") or []
    )


def _field(pod: Mapping[str, Any], path: str, address: PodAddress) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
        "spec.nodeName": address.node,
        "status.podIP": address.ip,
        "status.podIPs": address.ip,
        "status.hostIP": address.host_ip,
        "status.hostIPs": address.host_ip,
    }
    if path in simple:
        return str(simple[path])
    match = _LABEL_REF.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in {"metadata.labels", "metadata.annotations"}:
        items = sorted((meta.get(path.split(".")[1]) or {}).items())
        # the downward API's format: Go-quoted values (json.dumps quotes ASCII the same way)
        return "\n".join(f"{k}={json.dumps(str(v))}" for k, v in items)
    raise ValueError(f"field reference {path!r} is not supported by the process kubelet")


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip


def quantity(text: str) -> float:
    match = _QUANTITY.match(str(text).strip())
    if not match or match.group(2) not in _SUFFIX:
        raise ValueError(f"not a quantity: {text!r}")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def _resource(container: Mapping[str, Any], ref: Mapping[str, Any]) -> str:
    """``resourceFieldRef`` as a kubelet resolves it: the limit (or the node's capacity)."""
    kind, _, name = str(ref.get("resource", "")).partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None:  # no limit: the kubelet gives the node's allocatable
        value = str(os.cpu_count() or 1) if name == "cpu" else str(8 * 2**30)
    divisor = quantity(str(ref.get("divisor") or "1"))
    return str(math.ceil(quantity(str(value)) / divisor))


def expand(text: str, env: Mapping[str, str]) -> str:
    """``$(VAR)`` as the kubelet expands it in env values, command and args."""
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def resolve_env(
    pod: Mapping[str, Any], container: Mapping[str, Any], address: PodAddress
) -> dict[str, str]:
    """The container's environment with every reference resolved, in declaration order."""
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        name = str(item["name"])
        source = item.get("valueFrom")
        if source is None:
            env[name] = expand(str(item.get("value", "")), env)
        elif "fieldRef" in source:
            env[name] = _field(pod, str(source["fieldRef"]["fieldPath"]), address)
        elif "resourceFieldRef" in source:
            env[name] = _resource(container, source["resourceFieldRef"])
        else:
            raise ValueError(
                f"env {name} of container {container.get('name')} comes from "
                f"{sorted(source)}: not supported by the process kubelet"
            )
    return env


def command_line(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """``command`` + ``args`` with ``$(VAR)`` expanded (the image's entrypoint not known)."""
    return [
        expand(str(a), env)
        for a in [*(container.get("command") or []), *(container.get("args") or [])]
    ]


def run_as(pod: Mapping[str, Any], container: Mapping[str, Any], default: int) -> tuple[int, int]:
    """UID and GID the container runs as (its securityContext, then the pod's)."""
    pod_ctx = (pod.get("spec") or {}).get("securityContext") or {}
    ctx = container.get("securityContext") or {}
    uid = ctx.get("runAsUser", pod_ctx.get("runAsUser", default))
    gid = ctx.get("runAsGroup", pod_ctx.get("runAsGroup", uid))
    return int(uid), int(gid)


def iptables_args(pod: Mapping[str, Any]) -> list[str] | None:
    """``pilot-agent`` arguments that write the pod's rules, from its ``istio-init``.

    None when the pod has no ``istio-init`` (cni mode, or not injected).
    """
    init = find_container(pod, INIT)
    if init is None:
        return None
    args = [str(a) for a in init.get("args") or []]
    if not args or args[0] != "istio-iptables":
        raise ValueError(f"istio-init's args do not start with istio-iptables: {args[:3]}")
    return args


#: the istio-cni plugin's defaults (cni/pkg/plugin/sidecar_redirect.go)
_CNI_ANNOTATIONS = {
    # flag: (annotation, default)
    "-m": ("sidecar.istio.io/interceptionMode", "REDIRECT"),
    "-i": ("traffic.sidecar.istio.io/includeOutboundIPRanges", "*"),
    "-x": ("traffic.sidecar.istio.io/excludeOutboundIPRanges", ""),
    "-b": ("traffic.sidecar.istio.io/includeInboundPorts", "*"),
    "-d": ("traffic.sidecar.istio.io/excludeInboundPorts", "15020"),
    "-q": ("traffic.sidecar.istio.io/includeOutboundPorts", ""),
    "-o": ("traffic.sidecar.istio.io/excludeOutboundPorts", "15020"),
    "-c": ("traffic.sidecar.istio.io/excludeInterfaces", ""),
}


def cni_iptables_args(pod: Mapping[str, Any], proxy_env: Mapping[str, str]) -> list[str]:
    """The ``pilot-agent istio-iptables`` arguments for the rules the istio-cni plugin
    writes for an injected pod (cni/pkg/plugin/sidecar_redirect.go, NewRedirect and
    sidecar_iptables_linux.go Program): its annotations, the proxy's UID/GID, 15020,
    15021 and 15090 always excluded inbound, DNS redirected (and all DNS captured) when
    the proxy's ISTIO_META_DNS_CAPTURE says so."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    proxy = find_container(pod, PROXY) or {}
    uid, gid = run_as(pod, proxy, PROXY_UID)
    args = ["istio-iptables", "-p", "15001", "-z", "15006", "-u", str(uid), "-g", str(gid)]
    for flag, (key, default) in _CNI_ANNOTATIONS.items():
        value = str(annotations.get(key, default)).strip()
        if flag == "-d":
            ports = [p for p in f"{value},15020,15021,15090".split(",") if p.strip()]
            value = ",".join(dict.fromkeys(p.strip() for p in ports))
        args += [flag, value]
    if proxy_env.get("ISTIO_META_DNS_CAPTURE", "").lower() == "true":
        args += ["--redirect-dns", "--capture-all-dns"]
    return args
