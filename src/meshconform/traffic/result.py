"""What a probe saw, classified, and explained in words a user can act on."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    """How a request ended."""

    HTTP_STATUS = "http-status"  # an HTTP response other than a redirect
    REDIRECT = "redirect"  # a 3xx response with a Location header
    TCP_REFUSED = "tcp-refused"  # nothing listens at the address
    TCP_RESET = "tcp-reset"  # the peer reset or closed the connection before answering
    TLS_HANDSHAKE_FAILED = "tls-handshake-failed"  # peer reset/closed/alerted in the handshake
    CERT_UNTRUSTED = "cert-untrusted"  # the chain does not verify against the given CA
    CERT_EXPIRED = "cert-expired"
    HOSTNAME_MISMATCH = "hostname-mismatch"  # the certificate is for another name
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"  # DNS failure, no route, other socket errors

    @property
    def is_tls_rejection(self) -> bool:
        """The TLS layer refused: the handshake did not complete or did not verify."""
        return self in _TLS


_TLS = frozenset(
    {Kind.TLS_HANDSHAKE_FAILED, Kind.CERT_UNTRUSTED, Kind.CERT_EXPIRED, Kind.HOSTNAME_MISMATCH}
)


@dataclass(frozen=True)
class ProbeResult:
    """One probe's outcome. ``target`` describes the request ("GET https://... SNI ...")."""

    kind: Kind
    target: str
    explanation: str
    status: int | None = None
    location: str | None = None
    body: str = ""
    elapsed_s: float = 0.0

    @property
    def signature(self) -> tuple[str, int | None, str | None]:
        """What must repeat for two results to count as 'the same' (convergence)."""
        return (self.kind.value, self.status, self.location)

    def is_status(self, status: int) -> bool:
        return self.status == status

    @property
    def short(self) -> str:
        if self.kind is Kind.REDIRECT:
            return f"{self.status} -> {self.location}"
        if self.kind is Kind.HTTP_STATUS:
            return f"HTTP {self.status}"
        return self.kind.value

    def __str__(self) -> str:
        return f"{self.target}: {self.explanation}"
