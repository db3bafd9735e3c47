"""Probe overhead against a bare ``requests`` call on the same local Envoy gateway.

Run: ``python benchmarks/bench_probes.py [N]``. Prints the median per request for
the probe and for requests (a new connection each, as a probe makes), their
ratio (target: the probe adds <= 20%), and the time of a full
``meshconform probe gateway`` evaluation (target < 1 s against local Envoy).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from meshconform.certs import RunCertificates
from meshconform.dataplane.scenarios import CERT_HOSTS, gateway_scenario
from meshconform.traffic.cli import evaluate_gateway
from meshconform.traffic.request import probe


class SNIAdapter(HTTPAdapter):
    """shared/research/ecosystem.md 3a: SNI (and the verified name) for requests."""

    def __init__(self, server_hostname: str, **kwargs: Any) -> None:
        self._sni = server_hostname
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._sni
        super().init_poolmanager(*args, **kwargs)


def _median_ms(fn: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main(n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        certs = RunCertificates.create(Path(tmp), CERT_HOSTS)
        with gateway_scenario(certs) as run:
            t = run.target
            base = f"127.0.0.1:{t.https_port}"

            def bare_https() -> None:
                with requests.Session() as session:
                    session.mount(f"https://{base}", SNIAdapter(t.host))
                    reply = session.get(
                        f"https://{base}/", headers={"Host": t.host}, verify=str(t.ca), timeout=5
                    )
                    assert reply.status_code == 200

            def bare_http() -> None:
                with requests.Session() as session:
                    reply = session.get(
                        f"http://127.0.0.1:{t.http_port}/",
                        headers={"Host": t.host},
                        allow_redirects=False,
                        timeout=5,
                    )
                    assert reply.status_code == 301

            def probe_https() -> None:
                assert probe(t.https()).status == 200

            def probe_http() -> None:
                assert probe(t.http(t.http_port)).status == 301

            for fn in (bare_https, probe_https, bare_http, probe_http):  # warm up
                _median_ms(fn, 5)
            rows = [
                ("HTTPS (SNI, CA)", bare_https, probe_https),
                ("HTTP (301)", bare_http, probe_http),
            ]
            for label, bare, mine in rows:
                b, p = _median_ms(bare, n), _median_ms(mine, n)
                verdict = "ok" if p <= 1.2 * b else "OVER TARGET"
                print(
                    f"{label:16} requests {b:6.2f} ms  probe {p:6.2f} ms  "
                    f"ratio {p / b:4.2f} (target <= 1.20: {verdict})"
                )
            runs = []
            for _ in range(5):
                start = time.perf_counter()
                results = evaluate_gateway(t, "native-sidecar")
                runs.append(time.perf_counter() - start)
                assert all(r.verdict.value == "pass" for r in results)
            best, median = min(runs), statistics.median(runs)
            print(
                f"probe gateway (5 claims, 3 consecutive attempts per probe): median "
                f"{median:.3f} s, best {best:.3f} s (target < 1 s: "
                f"{'ok' if median < 1 else 'OVER TARGET'})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
