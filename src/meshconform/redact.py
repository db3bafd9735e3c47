"""Keep secrets out of reports, logs and artifacts.

Everything meshconform writes to disk passes through :func:`redact`: PEM private
keys, kubeconfig credentials, bearer tokens, API keys and Secret data.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "<redacted>"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys of any kind (RSA, EC, PKCS#8, encrypted)
    (
        re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S),
        f"-----BEGIN PRIVATE KEY----- {REDACTED} -----END PRIVATE KEY-----",
    ),
    # kubeconfig credentials and base64 key/cert material
    # (YAML `key: value`, `key=value`, and JSON `"key": "value"`)
    (
        re.compile(
            r"(\b(?:client-key-data|client-certificate-data|token|password|private[-_]?key|"
            r"tls\.key|key|api[-_]?key|apiKey|secret)[\"']?\s*[:=]\s*)([\"']?)"
            r"[^\s\"',}]{8,}\2",
            re.I,
        ),
        rf"\1\2{REDACTED}\2",
    ),
    # HTTP authorization headers
    (
        re.compile(r"(authorization\s*[:=]\s*)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+", re.I),
        rf"\1\2 {REDACTED}",
    ),
)


def redact(text: str) -> str:
    """Return ``text`` with every secret-looking value replaced by ``<redacted>``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_object(obj: Any) -> Any:
    """Redact a Kubernetes object for an artifact: a Secret keeps its keys, loses its values."""
    if isinstance(obj, dict):
        if obj.get("kind") == "Secret":
            clean = dict(obj)
            for field in ("data", "stringData"):
                if isinstance(clean.get(field), dict):
                    clean[field] = dict.fromkeys(clean[field], REDACTED)
            return clean
        return {k: redact_object(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_object(v) for v in obj]
    if isinstance(obj, str):
        return redact(obj)
    return obj
