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
    # environment-style credentials: SPEEDSCALE_API_KEY=..., GITHUB_TOKEN: ...
    (
        re.compile(
            r"(\b[A-Z][A-Z0-9_]*_(?:API_?KEY|APIKEY|TOKEN|SECRET|PASSWORD)[\"']?\s*[:=]\s*)"
            r"([\"']?)[^\s\"',}]{8,}\2"
        ),
        rf"\1\2{REDACTED}\2",
    ),
    # bearer tokens outside an Authorization header, and JWTs anywhere
    (re.compile(r"\b(bearer)\s+[A-Za-z0-9._~+/=-]{16,}", re.I), rf"\1 {REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), REDACTED),
)

#: what each pattern above finds, in the words of :func:`find_secrets`
_KINDS = (
    "a PEM private key",
    "a credential value (kubeconfig key/token, password or API key)",
    "an Authorization header",
    "a credential in an environment variable",
    "a bearer token",
    "a JWT",
)


def redact(text: str) -> str:
    """Return ``text`` with every secret-looking value replaced by ``<redacted>``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def find_secrets(text: str) -> list[tuple[str, int]]:
    """What :func:`redact` would remove from ``text``: (kind of secret, line number) pairs.

    Values that are already ``<redacted>`` are not secrets; the secret itself is
    never returned, so a caller can report where it is without repeating it.
    """
    found = {
        (kind, text.count("\n", 0, match.start()) + 1)
        for kind, (pattern, replacement) in zip(_KINDS, _PATTERNS, strict=True)
        for match in pattern.finditer(text)
        if match.expand(replacement) != match.group(0)
    }
    return sorted(found, key=lambda f: (f[1], f[0]))


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
