"""Every named expectation passes on the observation it names and fails on the wrong one.

Rows are shaped like what the transports really produce: curl's stdout with the
marker line and its ``curl: (N)`` stderr (the pod transport), and results built by
the host transport's own classification of the exception it caught.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable

import pytest

from meshconform.traffic.classify import Phase, classify_error
from meshconform.traffic.curl import MARK, parse_curl
from meshconform.traffic.expect import Expect, Expectation
from meshconform.traffic.result import Kind, TrafficResult

POD = "mc-ns/client-7d9f: GET http://httpbin.test/get"


def curl(rc: int, status: str, stderr: str = "", body: str = "", *, tls: bool = False,
         location: str = "", ip: str = "10.96.0.12") -> TrafficResult:
    stdout = f"{body}\n{MARK} status={status} ip={ip} location={location}\n"
    return parse_curl(rc, stdout, stderr, target=POD, tls=tls)


def host(error: BaseException, phase: Phase, *, tls: bool = False) -> TrafficResult:
    kind, why = classify_error(error, phase, address="127.0.0.1:15001", sni="x.test")
    return TrafficResult(kind, "GET http://x.test/ via 127.0.0.1:15001", why, tls=tls,
                         error=f"{type(error).__name__}: {error}")


def host_status(status: int, body: str = "", *, tls: bool = False) -> TrafficResult:
    return TrafficResult(Kind.HTTP_STATUS, "GET http://x.test/ via 127.0.0.1:15001",
                         f"answered HTTP {status}", status=status, body=body, tls=tls)


ROWS: dict[str, TrafficResult] = {
    "curl 200": curl(0, "200", body='{"url": "http://httpbin.test/get"}'),
    "curl 204": curl(0, "204"),
    "curl 502 (block_all)": curl(0, "502"),
    "curl 502 over TLS": curl(0, "502", tls=True),
    "curl 35": curl(35, "000", "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL in "
                    "connection to unregistered.meshconform.test:443 \n", tls=True),
    "curl 56": curl(56, "000", "curl: (56) Recv failure: Connection reset by peer\n"),
    "curl 52": curl(52, "000", "curl: (52) Empty reply from server\n"),
    "curl 403 RBAC": curl(0, "403", body="RBAC: access denied"),
    "curl 403 app": curl(0, "403", body="Forbidden"),
    "curl 404": curl(0, "404"),
    "curl 503 upstream reset": curl(0, "503", body="upstream connect error or disconnect/"
                                    "reset before headers. reset reason: connection termination"),
    "curl 301 https": curl(0, "301", location="https://httpbin.test/get"),
    "curl 301 http": curl(0, "301", location="http://httpbin.test/get"),
    "curl 7": curl(7, "000", "curl: (7) Failed to connect to httpbin.test port 80 after 1 ms: "
                   "Couldn't connect to server\n", ip=""),
    "curl 6": curl(6, "000", "curl: (6) Could not resolve host: httpbin.test\n", ip=""),
    "curl 28 resolving": curl(28, "000", "curl: (28) Resolving timed out after 5000 "
                              "milliseconds\n", ip=""),
    "curl 28": curl(28, "000", "curl: (28) Connection timed out after 5001 milliseconds\n"),
    "curl 60 expired": curl(60, "000", "curl: (60) SSL certificate problem: certificate has "
                            "expired\n", tls=True),
    "curl -v 198.51.100.7": curl(0, "200", "*   Trying 198.51.100.7:80...\n* Connected\n"),
    "host 200": host_status(200),
    "host 502": host_status(502),
    "host 403 RBAC": host_status(403, "RBAC: access denied"),
    "host reset after request": host(ConnectionResetError(104, "reset"), Phase.HTTP),
    "host closed after request": host(http.client.RemoteDisconnected("closed"), Phase.HTTP),
    "host TLS reset": host(ConnectionResetError(104, "reset"), Phase.HANDSHAKE, tls=True),
    "host refused": host(ConnectionRefusedError(111, "refused"), Phase.CONNECT),
    "host timeout": host(TimeoutError("timed out"), Phase.CONNECT),
}

#: expectation -> the rows it must accept; every other row it must refuse. Each is made
#: inside the test (a factory), so what is tested is the code in force when it runs (a
#: module-level ``Expect.ok(200)`` is built once, at import: mutation testing showed that
#: such rows could not notice a broken expectation).
CASES: list[tuple[Callable[[], Expectation], set[str]]] = [
    (Expect.ok, {"curl 200", "curl 204", "curl -v 198.51.100.7", "host 200"}),
    (lambda: Expect.ok(200), {"curl 200", "curl -v 198.51.100.7", "host 200"}),
    (lambda: Expect.status(404), {"curl 404"}),
    (Expect.blocked_by_registry, {
        "curl 502 (block_all)", "curl 35", "curl 56", "curl 52", "host 502",
        "host reset after request", "host closed after request", "host TLS reset"}),
    (Expect.rejected_plaintext, {
        "curl 56", "curl 52", "host reset after request", "host closed after request"}),
    (Expect.denied_by_policy, {"curl 403 RBAC", "host 403 RBAC"}),
    (Expect.denied_by_policy_l4, {
        "curl 56", "curl 52", "host reset after request", "host closed after request"}),
    (Expect.tls_refused, {
        "curl 35", "curl 56", "curl 52", "host reset after request",
        "host closed after request", "host TLS reset"}),
    (Expect.refused, {"curl 7", "host refused"}),
    (Expect.dns_failed, {"curl 6", "curl 28 resolving"}),
    (lambda: Expect.resolved_to("198.51.100.7"), {"curl -v 198.51.100.7"}),
    (lambda: Expect.redirect_to_https(301, "httpbin.test", "/get"), {"curl 301 https"}),
    (lambda: Expect.upstream_reset_text("upstream connect error"), {"curl 503 upstream reset"}),
]


def _case_id(case: tuple[Callable[[], Expectation], set[str]]) -> str:
    return case[0]().name


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_expectation_accepts_exactly_its_rows(
    case: tuple[Callable[[], Expectation], set[str]],
) -> None:
    make, accepted = case
    expectation = make()
    assert accepted <= set(ROWS)
    for name, row in ROWS.items():
        assert expectation.met(row) is (name in accepted), (expectation.name, name, str(row))
        verdict = expectation.judge(row)
        if name in accepted:
            assert verdict == f"ok: {expectation.name}"
        else:
            wanted = f"expected {expectation.name}, got {row.short} from "
            assert verdict.startswith(wanted), verdict


def test_the_rows_are_classified_as_the_fact_sheet_says() -> None:
    """shared/research/istio-behaviours.md 3.3, 3.4, 3.6: which exit code is which."""
    kinds = {name: row.kind for name, row in ROWS.items() if name.startswith("curl ")}
    assert kinds["curl 35"] is Kind.TLS_HANDSHAKE_FAILED
    assert kinds["curl 56"] is kinds["curl 52"] is Kind.TCP_RESET
    assert kinds["curl 7"] is Kind.TCP_REFUSED
    assert kinds["curl 6"] is kinds["curl 28 resolving"] is Kind.DNS_FAILED
    assert kinds["curl 28"] is Kind.TIMEOUT
    assert kinds["curl 60 expired"] is Kind.CERT_EXPIRED
    assert kinds["curl 301 https"] is Kind.REDIRECT
    # the same failure seen by either transport is the same Kind
    assert ROWS["host reset after request"].kind is ROWS["curl 56"].kind
    assert ROWS["host TLS reset"].kind is ROWS["curl 35"].kind
    assert ROWS["host refused"].kind is ROWS["curl 7"].kind


def test_evidence_names_the_expectation_and_what_came_instead() -> None:
    assert Expect.blocked_by_registry().judge(ROWS["curl 200"]) == (
        f"expected blocked-by-registry, got HTTP 200 from {POD}")
    assert Expect.rejected_plaintext().judge(ROWS["curl 200"]).startswith(
        "expected rejected-plaintext, got HTTP 200 from ")
    assert Expect.denied_by_policy().judge(ROWS["curl 403 app"]) == (
        f"expected denied-by-policy, got HTTP 403 from {POD}: no 'RBAC: access denied' body")
    assert Expect.redirect_to_https(301, "httpbin.test", "/get").judge(
        ROWS["curl 301 http"]).endswith(": Location scheme is 'http', not 'https'")
    assert Expect.redirect_to_https(307, "httpbin.test", "/get").judge(
        ROWS["curl 301 https"]) == (
        f"expected redirect-to-https(307), got 301 -> https://httpbin.test/get from {POD}")
    assert Expect.resolved_to("240.240.0.3").judge(ROWS["curl 6"]).endswith(
        ": tried nothing")
    assert Expect.ok().judge(ROWS["curl 56"]) == (
        f"expected ok, got tcp-reset (curl 56) from {POD}")


def test_a_502_over_tls_is_not_a_registry_block() -> None:
    """Over TLS the proxy cannot answer 502 for an unregistered host: a 502 came from a
    server the request reached."""
    assert not Expect.blocked_by_registry().met(ROWS["curl 502 over TLS"])
    assert Expect.blocked_by_registry().met(ROWS["curl 502 (block_all)"])


def test_either_of_two_expectations() -> None:
    either = Expect.denied_by_policy() | Expect.rejected_plaintext()
    assert either.name == "denied-by-policy or rejected-plaintext"
    assert either.met(ROWS["curl 403 RBAC"])
    assert either.met(ROWS["curl 56"])
    assert not either.met(ROWS["curl 200"])
    assert str(either) == either.name


def test_observed_excludes_what_says_nothing_about_the_target() -> None:
    observed = Expect.observed()
    assert observed.met(ROWS["curl 403 app"])
    assert observed.met(ROWS["curl 60 expired"])
    for blind in ("curl 7", "curl 6", "curl 28", "host refused", "host timeout"):
        assert not observed.met(ROWS[blind]), blind
