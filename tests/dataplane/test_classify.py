"""The pure parts of the probes: classification, redirect matching, observations."""

from __future__ import annotations

import http.client
import socket
import ssl

import pytest

from meshconform.claims import Outcome
from meshconform.traffic.classify import Phase, classify_error
from meshconform.traffic.expect import Expect, redirect_matches
from meshconform.traffic.observation import Probe, Seen, observe
from meshconform.traffic.request import Request
from meshconform.traffic.result import Kind, TrafficResult

ADDR = "127.0.0.1:8443"


def _verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"certificate verify failed: {message}")
    error.verify_code = code
    error.verify_message = message
    return error


@pytest.mark.parametrize(("error", "phase", "kind"), [
    (ConnectionRefusedError(111, "Connection refused"), Phase.CONNECT, Kind.TCP_REFUSED),
    (TimeoutError("timed out"), Phase.CONNECT, Kind.TIMEOUT),
    (TimeoutError("timed out"), Phase.HTTP, Kind.TIMEOUT),
    (OSError(113, "No route to host"), Phase.CONNECT, Kind.UNREACHABLE),
    (socket.gaierror(-2, "Name or service not known"), Phase.CONNECT, Kind.DNS_FAILED),
    (ConnectionResetError(104, "Connection reset by peer"), Phase.HANDSHAKE,
     Kind.TLS_HANDSHAKE_FAILED),
    (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), Phase.HANDSHAKE,
     Kind.TLS_HANDSHAKE_FAILED),
    (ssl.SSLError(1, "[SSL: TLSV1_ALERT_INTERNAL_ERROR] alert"), Phase.HANDSHAKE,
     Kind.TLS_HANDSHAKE_FAILED),
    (_verify_error(10, "certificate has expired"), Phase.HANDSHAKE, Kind.CERT_EXPIRED),
    (_verify_error(62, "Hostname mismatch"), Phase.HANDSHAKE, Kind.HOSTNAME_MISMATCH),
    (_verify_error(20, "unable to get local issuer certificate"), Phase.HANDSHAKE,
     Kind.CERT_UNTRUSTED),
    (ConnectionResetError(104, "reset"), Phase.HTTP, Kind.TCP_RESET),
    (http.client.RemoteDisconnected("Remote end closed connection"), Phase.HTTP,
     Kind.TCP_RESET),
])
def test_classify_error(error: BaseException, phase: Phase, kind: Kind) -> None:
    got, why = classify_error(error, phase, address=ADDR, sni="wrong.example.com")
    assert got is kind, why
    assert why


def test_handshake_reset_explains_the_sni() -> None:
    _, why = classify_error(ConnectionResetError(104, "reset"), Phase.HANDSHAKE, address=ADDR,
                            sni="wrong.example.com")
    assert "reset the TLS handshake for SNI 'wrong.example.com'" in why
    assert "no server matches that name" in why


def test_no_sni_is_said_in_words() -> None:
    _, why = classify_error(ConnectionResetError(104, "reset"), Phase.HANDSHAKE, address=ADDR)
    assert "for no SNI" in why


@pytest.mark.parametrize(("location", "ok"), [
    ("https://app.example.com/x?y=1", True),
    ("https://app.example.com:8443/x?y=1", True),
    ("http://app.example.com/x?y=1", False),
    ("https://other.example.com/x?y=1", False),
    ("https://app.example.com/", False),
    (None, False),
])
def test_redirect_matches(location: str | None, ok: bool) -> None:
    assert redirect_matches(location, "app.example.com", "/x?y=1")[0] is ok


def test_request_separates_address_host_and_sni() -> None:
    request = Request("10.0.0.1", 443, "app.example.com", tls=True, sni="other.example.com")
    assert request.server_name == "other.example.com"
    assert request.with_(send_sni=False).server_name is None
    assert Request("10.0.0.1", 443, "app.example.com", tls=True).server_name == "app.example.com"
    assert "via 10.0.0.1:443 SNI 'other.example.com'" in request.describe()


def _result(kind: Kind, status: int | None = None) -> TrafficResult:
    return TrafficResult(kind=kind, target="GET x", explanation="e", status=status)


_REQUEST = Request("127.0.0.1", 80, "x")


def test_observe_unreachable_is_neither_outcome() -> None:
    seen = observe("c", [Seen(Probe(_REQUEST, Expect.ok()), _result(Kind.TCP_REFUSED))])
    assert seen.outcome is None
    assert "could not observe" in seen.text
    assert "neither ok nor observed" in seen.text


def test_observe_can_count_refused_as_the_failure() -> None:
    probe = Probe(_REQUEST, Expect.ok(200), Expect.observed() | Expect.refused())
    seen = observe("c", [Seen(probe, _result(Kind.TCP_REFUSED))])
    assert seen.outcome is Outcome.BROKEN
    assert seen.text.startswith("expected ok(200), got tcp-refused from GET x (e)")


def test_observe_holds_only_if_every_probe_holds() -> None:
    ok = Seen(Probe(_REQUEST, Expect.ok()), _result(Kind.HTTP_STATUS, 200))
    missing = Seen(Probe(_REQUEST, Expect.status(404)), _result(Kind.HTTP_STATUS, 200))
    assert observe("c", [ok]).outcome is Outcome.HOLDS
    both = observe("c", [ok, missing])
    assert both.outcome is Outcome.BROKEN
    assert both.evidence == ("ok: ok: GET x: e",
                             "expected status(404), got HTTP 200 from GET x (e)")
    assert both.results == (ok.result, missing.result)


def test_signature_ignores_wording() -> None:
    a = TrafficResult(Kind.HTTP_STATUS, "t", "one", status=200, elapsed_s=1.0)
    b = TrafficResult(Kind.HTTP_STATUS, "t", "two", status=200, elapsed_s=2.0)
    assert a.signature == b.signature


def test_tls_rejections() -> None:
    assert Kind.CERT_EXPIRED.is_tls_rejection
    assert not Kind.HTTP_STATUS.is_tls_rejection


# -- the explanations, word for word where a user acts on them (mutation survivors) ----

def _explain(error: BaseException, phase: Phase, sni: str | None = "a.example") -> str:
    return classify_error(error, phase, address=ADDR, sni=sni)[1]


def test_explanations_name_the_address_the_phase_and_the_fix() -> None:
    assert _explain(TimeoutError("timed out"), Phase.HANDSHAKE) == (
        f"no answer from {ADDR} during tls-handshake: the address is filtered or the server "
        "hangs; check the address and firewall")
    assert _explain(ConnectionRefusedError(111, "Connection refused"), Phase.CONNECT) == (
        f"connection to {ADDR} refused: nothing listens there; check the address and port")
    assert _explain(OSError(113, "No route to host"), Phase.CONNECT) == (
        f"cannot connect to {ADDR}: OSError: [Errno 113] No route to host")
    assert _explain(ConnectionResetError(104, "reset"), Phase.HANDSHAKE, sni=None) == (
        f"the server at {ADDR} reset the TLS handshake for no SNI (ConnectionResetError: "
        "[Errno 104] reset): no server matches that name (no filter chain for it)")
    assert _explain(ConnectionResetError(104, "reset"), Phase.HTTP) == (
        f"{ADDR} closed or reset the connection before answering (ConnectionResetError: "
        "[Errno 104] reset): the proxy dropped the request, e.g. a blackholed destination")
    assert classify_error(ValueError("odd"), Phase.HANDSHAKE, address=ADDR) == (
        Kind.UNREACHABLE, f"TLS with {ADDR} failed: ValueError: odd")
    assert classify_error(ValueError(""), Phase.HTTP, address=ADDR) == (
        Kind.UNREACHABLE, f"the exchange with {ADDR} failed: ValueError")


def test_verification_explanations() -> None:
    expired = _explain(_verify_error(10, "certificate has expired"), Phase.HANDSHAKE)
    assert expired == ("the server's certificate has expired (certificate has expired); "
                       "renew the certificate in the gateway's Secret")
    mismatch = _explain(_verify_error(62, "Hostname mismatch"), Phase.HANDSHAKE)
    assert mismatch == (
        "the server's certificate is not for 'a.example' (Hostname mismatch); put a "
        "certificate for that host in the Secret the Gateway server's credentialName names")
    untrusted = _explain(_verify_error(19, "self-signed certificate in chain"), Phase.HANDSHAKE)
    assert untrusted.startswith("the server's certificate does not verify against the given "
                                "CA (self-signed certificate in chain); the Secret holds")
    other = classify_error(_verify_error(23, "certificate revoked"), Phase.HANDSHAKE,
                           address=ADDR)
    assert other == (Kind.CERT_UNTRUSTED,
                     "certificate verification failed (certificate revoked)")
    bare = _verify_error(23, "")
    assert _explain(bare, Phase.HANDSHAKE) == (
        "certificate verification failed (SSLCertVerificationError: certificate verify "
        "failed: )")
