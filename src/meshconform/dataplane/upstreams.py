"""Real local servers behind Envoy: plain HTTP, and HTTPS with a test certificate.

Each answers 200 with a body naming itself, so evidence shows which backend
answered. They bind 127.0.0.1:0 and serve from a daemon thread; ``close()``
(or the context manager) shuts them down and closes the socket.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar

from meshconform.certs import CertPair


class _Handler(BaseHTTPRequestHandler):
    server_version = "meshconform-upstream"
    protocol_version = "HTTP/1.1"
    # headers and body are separate writes: without this, Nagle plus delayed ACK
    # add ~40 ms to every proxied request
    disable_nagle_algorithm = True
    name: ClassVar[str] = "upstream"

    def do_GET(self) -> None:
        body = f"{self.name} {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", self.name)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the probes' evidence says what happened."""


class Upstream:
    """An HTTP (or, with ``cert``, HTTPS) server on 127.0.0.1 in a background thread."""

    def __init__(self, name: str, cert: CertPair | None = None) -> None:
        handler = type(f"Handler_{name}", (_Handler,), {"name": name})
        self.name = name
        self.tls = cert is not None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert.cert_path, cert.key_path)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"upstream-{name}",
            daemon=True,
        )
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> Upstream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
