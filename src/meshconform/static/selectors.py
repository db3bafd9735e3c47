"""Kubernetes label selectors, to read which pods the generated injection webhook mutates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics; an absent or empty selector matches everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    present = key in labels
    checks = {
        "In": present and labels.get(key) in values,
        "NotIn": not (present and labels.get(key) in values),
        "Exists": present,
        "DoesNotExist": not present,
    }
    if op not in checks:
        raise ValueError(f"unknown label selector operator {op!r}")
    return checks[op]


def injecting_webhooks(
    webhook_configs: list[dict[str, Any]],
    namespace_labels: Mapping[str, str],
    pod_labels: Mapping[str, str],
) -> list[str]:
    """Names of the sidecar-injector webhooks that would mutate this pod."""
    names: list[str] = []
    for config in webhook_configs:
        for hook in config.get("webhooks") or []:
            if "sidecar-injector" not in hook.get("name", ""):
                continue
            if selector_matches(
                hook.get("namespaceSelector"), namespace_labels
            ) and selector_matches(hook.get("objectSelector"), pod_labels):
                names.append(hook["name"])
    return names
