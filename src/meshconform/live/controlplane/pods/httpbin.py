"""The echo server of the suite's reference workloads, for process pods (stdlib only).

Stands in for go-httpbin (``fixtures/images.lock.yaml``) where no container can run: the
same flags (``-host``, ``-port``, ``-https-cert-file``, ``-https-key-file``) and the paths
the checks use: ``/`` and ``/get`` (200, JSON echo of the request), ``/status/<code>``
(that status). It runs with Debian's ``/usr/bin/python3`` inside the pod, so it imports
nothing from the suite.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    server_version = "meshconform-httpbin"

    def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/status/"):
            try:
                code = int(path.removeprefix("/status/").split(",")[0])
            except ValueError:
                self._answer(400, b"bad status\n", "text/plain")
                return
            self._answer(code, b"", "text/plain")
            return
        if path in {"/", "/get", "/headers"}:
            echo = {
                "url": self.path,
                "headers": {k: [v] for k, v in self.headers.items()},
                "origin": self.client_address[0],
                "method": self.command,
            }
            self._answer(200, json.dumps(echo).encode() + b"\n")
            return
        self._answer(404, b"not found\n", "text/plain")

    do_HEAD = do_GET  # noqa: N815 (http.server's naming)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        sys.stdout.write(f"{self.address_string()} {format % args}\n")
        sys.stdout.flush()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="httpbin", prefix_chars="-")
    parser.add_argument("-host", default="0.0.0.0")  # noqa: S104 (a pod's server)
    parser.add_argument("-port", type=int, default=8080)
    parser.add_argument("-https-cert-file", dest="cert", default="")
    parser.add_argument("-https-key-file", dest="key", default="")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"serving on {args.host}:{args.port}{' (TLS)' if args.cert else ''}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
