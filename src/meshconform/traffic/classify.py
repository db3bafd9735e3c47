"""Pure classification, one for both transports: what happened becomes a Kind + explanation.

From the host transport, an exception raised in a known phase
(:func:`classify_error`); from the pod transport, curl's exit code, error line and
status (:func:`classify_curl`). Both land on the same :class:`Kind`, so a reset
seen by Python and a curl exit 56 are the same observation.

The phase matters: a reset while connecting, during the TLS handshake, or while
waiting for the HTTP response means different things (no listener, no filter
chain for the SNI, a proxy that dropped the request). urllib3 flattens these
into ``ProtocolError``; the probe tracks the phase itself and asks here.
"""

from __future__ import annotations

import enum
import http.client
import socket
import ssl

from meshconform.traffic.result import Kind

# OpenSSL X509_V_ERR_* codes (include/openssl/x509_vfy.h)
_EXPIRED = 10
_HOSTNAME_MISMATCH = 62
_UNTRUSTED = frozenset({2, 18, 19, 20, 21, 27})


class Phase(enum.StrEnum):
    CONNECT = "tcp-connect"
    HANDSHAKE = "tls-handshake"
    HTTP = "http-exchange"


def classify_error(  # noqa: PLR0911 - one return per failure kind
    error: BaseException,
    phase: Phase,
    *,
    address: str,
    sni: str | None = None,
) -> tuple[Kind, str]:
    """Map ``error`` seen in ``phase`` to a Kind and an actionable explanation."""
    sni_words = f"SNI {sni!r}" if sni else "no SNI"
    if isinstance(error, TimeoutError | socket.timeout):
        return Kind.TIMEOUT, (
            f"no answer from {address} during {phase.value}: the address "
            "is filtered or the server hangs; check the address and firewall"
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        return _classify_verification(error, sni)
    if phase is Phase.CONNECT:
        if isinstance(error, socket.gaierror):
            return Kind.DNS_FAILED, f"cannot resolve {address}: {_reason(error)}"
        if isinstance(error, ConnectionRefusedError):
            return Kind.TCP_REFUSED, (
                f"connection to {address} refused: nothing listens "
                "there; check the address and port"
            )
        return Kind.UNREACHABLE, f"cannot connect to {address}: {_reason(error)}"
    if phase is Phase.HANDSHAKE:
        if isinstance(error, ssl.SSLError | ConnectionError | OSError):
            return Kind.TLS_HANDSHAKE_FAILED, (
                f"the server at {address} reset the TLS handshake for {sni_words} "
                f"({_reason(error)}): no server matches that name (no filter chain for it)"
            )
        return Kind.UNREACHABLE, f"TLS with {address} failed: {_reason(error)}"
    if isinstance(
        error,
        ConnectionError | http.client.RemoteDisconnected | http.client.BadStatusLine | ssl.SSLError,
    ):
        return Kind.TCP_RESET, (
            f"{address} closed or reset the connection before answering "
            f"({_reason(error)}): the proxy dropped the request, e.g. a "
            "blackholed destination"
        )
    return Kind.UNREACHABLE, f"the exchange with {address} failed: {_reason(error)}"


def _classify_verification(
    error: ssl.SSLCertVerificationError, sni: str | None
) -> tuple[Kind, str]:
    code = error.verify_code
    message = error.verify_message or _reason(error)
    if code == _EXPIRED:
        return Kind.CERT_EXPIRED, (
            f"the server's certificate has expired ({message}); "
            "renew the certificate in the gateway's Secret"
        )
    if code == _HOSTNAME_MISMATCH:
        return Kind.HOSTNAME_MISMATCH, (
            f"the server's certificate is not for {sni!r} ({message}); put a certificate "
            "for that host in the Secret the Gateway server's credentialName names"
        )
    if code in _UNTRUSTED:
        return Kind.CERT_UNTRUSTED, (
            f"the server's certificate does not verify against the given CA ({message}); "
            "the Secret holds a certificate from another CA, or the wrong CA file was given"
        )
    return Kind.CERT_UNTRUSTED, f"certificate verification failed ({message})"


def _reason(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if type(error).__name__ not in text else text


# ---------------------------------------------------------------- curl (pod transport)

#: curl's message when name resolution, not the connection, ran out of time (exit 28)
_RESOLVE_TIMEOUT = "Resolving timed out"
_EXPIRED_TEXT = "certificate has expired"
_MISMATCH_TEXTS = ("no alternative certificate subject name", "does not match target host")

#: curl(1) "EXIT CODES", and what each means behind an Istio proxy
#: (shared/research/istio-behaviours.md 3.3, 3.4, 3.6)
_BY_EXIT: dict[int, tuple[Kind, str]] = {
    6: (Kind.DNS_FAILED, "could not resolve the host name"),
    7: (
        Kind.TCP_REFUSED,
        "connection refused: nothing listens there (or the proxy the "
        "traffic was redirected to is not listening yet)",
    ),
    28: (Kind.TIMEOUT, "no answer in time: the address is filtered or the server hangs"),
    35: (
        Kind.TLS_HANDSHAKE_FAILED,
        "the TLS handshake did not complete: no server for this "
        "SNI, or the proxy closed the connection (a blackholed destination)",
    ),
    52: (Kind.TCP_RESET, "empty reply: the peer closed the connection without answering"),
    56: (Kind.TCP_RESET, "the peer reset or closed the connection before answering"),
    60: (Kind.CERT_UNTRUSTED, "the server's certificate did not verify against the CA"),
}


def classify_curl(  # noqa: PLR0911 - one return per failure kind
    exit_code: int, status: int | None, error: str = "", location: str | None = None
) -> tuple[Kind, str]:
    """Map one curl run (exit code, ``%{http_code}`` or None for 000, its ``curl: (N)``
    line, ``%{redirect_url}``) to a Kind and an explanation."""
    if exit_code == 0 and status is not None:
        if 300 <= status < 400 and location:
            return Kind.REDIRECT, f"answered {status} redirect to {location}"
        return Kind.HTTP_STATUS, f"answered HTTP {status}"
    detail = f" ({error})" if error else ""
    if exit_code == 28 and _RESOLVE_TIMEOUT in error:
        # the lookup itself timed out: DNS redirected to a port nobody answers (the
        # proxy's :15053 before the proxy runs); musl (Alpine curl) ignores the ICMP
        # "port unreachable" on its unconnected UDP socket, so no exit 6 comes
        return Kind.DNS_FAILED, f"curl exit 28, the name lookup timed out{detail}"
    if exit_code == 60:
        lowered = error.lower()
        if _EXPIRED_TEXT in lowered:
            return Kind.CERT_EXPIRED, f"curl exit 60, the server's certificate has expired{detail}"
        if any(text in lowered for text in _MISMATCH_TEXTS):
            return Kind.HOSTNAME_MISMATCH, (
                f"curl exit 60, the server's certificate is not for this host{detail}"
            )
    if exit_code in _BY_EXIT:
        kind, meaning = _BY_EXIT[exit_code]
        return kind, f"curl exit {exit_code}, {meaning}{detail}"
    return Kind.UNREACHABLE, f"curl exit {exit_code}, no HTTP answer{detail}"
