"""One HTTP(S) request with the TCP address, Host header and SNI chosen separately,
and the host transport's way of making it (:func:`probe`).

The same :class:`Request` is what the pod transport turns into a curl command
(:func:`meshconform.traffic.curl.curl_command`).

This is ``curl --resolve host:port:addr --cacert ca.pem https://host/path``
(istio.io ops/common-problems/network-issues) without curl. It uses the
standard library (socket, ssl, http.client) rather than requests/urllib3 because
classification needs the phase a failure happened in (see :mod:`.classify`);
requests with an SNI adapter works too (shared/research/ecosystem.md 3a) but
reports a reset in the handshake and a reset after it as the same
``ConnectionError``. Certificates are always verified against the given CA
(or the system store); redirects are never followed.
"""

from __future__ import annotations

import functools
import http.client
import socket
import ssl
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from meshconform.traffic.classify import Phase, classify_error
from meshconform.traffic.result import Kind, TrafficResult

_BODY_LIMIT = 2048


@dataclass(frozen=True)
class Request:
    """Where to connect (``address``:``port``) and what to say there.

    ``host`` is the Host header. For TLS, ``sni`` defaults to ``host``;
    ``send_sni=False`` sends none (what ``curl https://IP -H Host:...`` does).
    ``verify_hostname=False`` still verifies the chain against ``ca`` but accepts
    a certificate for any name: for probes that ask whether the server completes
    a handshake at all.
    """

    address: str
    port: int
    host: str
    path: str = "/"
    tls: bool = False
    sni: str | None = None
    send_sni: bool = True
    ca: Path | None = None
    verify_hostname: bool = True
    method: str = "GET"
    timeout: float = 5.0

    @property
    def server_name(self) -> str | None:
        if not self.tls or not self.send_sni:
            return None
        return self.sni or self.host

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def default_port(self) -> int:
        return 443 if self.tls else 80

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.path}"

    @classmethod
    def for_url(cls, url: str, **changes: object) -> Request:
        """A request to ``url`` as a client would make it: connect where the name resolves."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        tls = parts.scheme == "https"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        base = cls(parts.hostname, parts.port or (443 if tls else 80), parts.hostname, path, tls)
        return base.with_(**changes) if changes else base

    def describe(self) -> str:
        words = f"{self.method} {self.url} via {self.address}:{self.port}"
        if self.tls:
            words += f" SNI {self.server_name!r}" if self.server_name else " no SNI"
        return words

    def with_(self, **changes: object) -> Request:
        return replace(self, **changes)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=32)
def _context(ca: Path | None, check_hostname: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def probe(request: Request) -> TrafficResult:
    """Make ``request`` once and classify what happened. Never raises for network errors."""
    start = time.perf_counter()
    address = f"{request.address}:{request.port}"
    phase = Phase.CONNECT
    conn: http.client.HTTPConnection | None = None
    raw: socket.socket | None = None
    peer = ""
    try:
        raw = socket.create_connection((request.address, request.port), timeout=request.timeout)
        # as curl and urllib3 do: without it the request waits ~40 ms behind the
        # unacknowledged TLS Finished (Nagle plus delayed ACK)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = str(raw.getpeername()[0])
        sock: socket.socket = raw
        if request.tls:
            phase = Phase.HANDSHAKE
            name = request.server_name
            context = _context(request.ca, request.verify_hostname and name is not None)
            sock = context.wrap_socket(raw, server_hostname=name)
        phase = Phase.HTTP
        conn = http.client.HTTPConnection(request.address, request.port, timeout=request.timeout)
        conn.sock = sock
        conn.request(
            request.method,
            request.path,
            headers={
                "Host": request.host,
                "User-Agent": "meshconform-probe",
                "Connection": "close",
            },
        )
        response = conn.getresponse()
        body = response.read(_BODY_LIMIT).decode("utf-8", "replace")
        response.close()
    except (OSError, http.client.HTTPException) as error:
        kind, why = classify_error(error, phase, address=address, sni=request.server_name)
        return TrafficResult(
            kind=kind,
            target=request.describe(),
            explanation=why,
            elapsed_s=time.perf_counter() - start,
            tls=request.tls,
            error=f"{type(error).__name__}: {error}",
            remote_ip=peer,
        )
    finally:
        if conn is not None:
            conn.close()
        if raw is not None:
            raw.close()
    elapsed = time.perf_counter() - start
    location = response.getheader("location")
    if 300 <= response.status < 400 and location:
        return TrafficResult(
            kind=Kind.REDIRECT,
            target=request.describe(),
            status=response.status,
            location=location,
            body=body,
            elapsed_s=elapsed,
            explanation=f"answered {response.status} redirect to {location}",
            tls=request.tls,
            remote_ip=peer,
        )
    return TrafficResult(
        kind=Kind.HTTP_STATUS,
        target=request.describe(),
        status=response.status,
        body=body,
        elapsed_s=elapsed,
        explanation=f"answered HTTP {response.status} {response.reason}",
        tls=request.tls,
        remote_ip=peer,
    )
