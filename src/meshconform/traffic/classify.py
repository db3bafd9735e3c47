"""Pure classification: an exception raised in a known phase becomes a Kind + explanation.

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
