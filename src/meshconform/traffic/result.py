"""What one request saw, from either transport, classified, with its raw evidence.

There is one result type for the whole suite: :class:`TrafficResult`. The host
transport (:mod:`.request`) fills it from the exception and the phase it happened
in; the pod transport (:mod:`.curl`) from curl's exit code, stderr and
``%{http_code}``. Both go through :mod:`.classify`, so a reset is a reset whoever
saw it, and the named expectations (:mod:`.expect`) judge both alike.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    """How a request ended."""

    HTTP_STATUS = "http-status"  # an HTTP response other than a redirect
    REDIRECT = "redirect"  # a 3xx response with a Location header
    TCP_REFUSED = "tcp-refused"  # nothing listens at the address (curl 7)
    TCP_RESET = "tcp-reset"  # reset or closed before answering (curl 56, 52)
    TLS_HANDSHAKE_FAILED = "tls-handshake-failed"  # reset/closed/alert in the handshake (curl 35)
    CERT_UNTRUSTED = "cert-untrusted"  # the chain does not verify against the CA (curl 60)
    CERT_EXPIRED = "cert-expired"
    HOSTNAME_MISMATCH = "hostname-mismatch"  # the certificate is for another name
    TIMEOUT = "timeout"  # curl 28
    DNS_FAILED = "dns-failed"  # the name did not resolve (curl 6, or a lookup that timed out)
    UNREACHABLE = "unreachable"  # no route, other socket errors, other curl exit codes

    @property
    def is_tls_rejection(self) -> bool:
        """The TLS layer refused: the handshake did not complete or did not verify."""
        return self in _TLS

    @property
    def answered(self) -> bool:
        """An HTTP answer came back (any status)."""
        return self in (Kind.HTTP_STATUS, Kind.REDIRECT)


_TLS = frozenset(
    {Kind.TLS_HANDSHAKE_FAILED, Kind.CERT_UNTRUSTED, Kind.CERT_EXPIRED, Kind.HOSTNAME_MISMATCH}
)

#: results that say nothing about a claim: the target itself could not be observed
UNOBSERVABLE = frozenset({Kind.TCP_REFUSED, Kind.TIMEOUT, Kind.UNREACHABLE, Kind.DNS_FAILED})


class Via(enum.StrEnum):
    """Which transport made the request."""

    HOST = "host"  # this process, standard library sockets
    POD = "pod"  # curl, exec'd in a pod


@dataclass(frozen=True)
class TrafficResult:
    """One request's outcome and the raw evidence behind the classification.

    ``target`` describes the request ("GET https://... via ADDR:PORT SNI ..."),
    ``explanation`` says what happened in words a user can act on. The raw evidence
    is kept as it came: curl's ``exit_code`` and ``error`` line for the pod
    transport, the exception text in ``error`` for the host transport.
    """

    kind: Kind
    target: str
    explanation: str
    status: int | None = None
    location: str | None = None
    body: str = ""
    elapsed_s: float = 0.0
    via: Via = Via.HOST
    #: the request was HTTPS (a 502 means the proxy answered only for plain HTTP)
    tls: bool = False
    #: curl's exit code (pod transport); None for the host transport
    exit_code: int | None = None
    #: curl's ``curl: (N) ...`` line, or ``Type: message`` of the host's exception
    error: str = ""
    #: the peer address (curl ``%{remote_ip}``, or the socket's peer)
    remote_ip: str = ""
    #: every address curl tried, in order (``curl -v`` "Trying ..."); DNS evidence
    tried: tuple[str, ...] = ()

    @property
    def signature(self) -> tuple[str, int | None, str | None]:
        """What must repeat for two results to count as 'the same' (convergence)."""
        return (self.kind.value, self.status, self.location)

    def is_status(self, status: int) -> bool:
        return self.status == status

    @property
    def ok(self) -> bool:
        """A 2xx answer: the request reached something that served it."""
        return (
            self.kind is Kind.HTTP_STATUS and self.status is not None and 200 <= self.status < 300
        )

    @property
    def short(self) -> str:
        if self.kind is Kind.REDIRECT:
            return f"{self.status} -> {self.location}"
        if self.kind is Kind.HTTP_STATUS:
            return f"HTTP {self.status}"
        if self.exit_code is not None:
            return f"{self.kind.value} (curl {self.exit_code})"
        return self.kind.value

    def __str__(self) -> str:
        return f"{self.target}: {self.explanation}"
