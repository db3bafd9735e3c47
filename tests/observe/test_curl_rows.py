"""observe.curl and observe.dns field by field, with the words a report shows. Written
against the mutation run (docs/mutation.md)."""

from __future__ import annotations

from pathlib import Path

from meshconform.traffic.curl import (
    MARK,
    curl_command,
    curl_result,
    init_probe_result,
    logged_curl,
    parse_curl,
)
from meshconform.traffic.dns import allocated_addresses, auto_allocated, in_auto_allocate_pool
from meshconform.traffic.request import Request
from meshconform.traffic.result import Kind, TrafficResult, Via
from meshconform.wait import Done, Failed, Pending
from tests.observe import podjson as pj


def test_str_says_what_where_and_why() -> None:
    assert str(curl_result(0, 200)) == ": answered HTTP 200"
    reset = curl_result(56, None, error="curl: (56) Recv failure", target="ns/client: GET x")
    assert str(reset) == (
        "ns/client: GET x: curl exit 56, the peer reset or closed the connection before "
        "answering (curl: (56) Recv failure)")
    assert reset.short == "tcp-reset (curl 56)"
    assert (reset.via, reset.exit_code, reset.error) == (Via.POD, 56, "curl: (56) Recv failure")


def test_curl_command_defaults() -> None:
    command = curl_command(Request.for_url("http://x/"))
    assert command[:4] == ["curl", "-sS", "--max-time", "5"]
    assert "-v" not in command
    assert command[-1] == "http://x/"
    assert "--connect-to" not in command  # the pod resolves the name itself
    assert curl_command(Request.for_url("http://x/"), verbose=True, max_time=2.5)[:6] == [
        "curl", "-sS", "--max-time", "2.5", "-w", command[5]]
    assert "-v" in curl_command(Request.for_url("http://x/"), verbose=True)
    assert "-f" not in command


def test_curl_command_sends_the_request_where_the_request_says() -> None:
    """Address, Host and SNI chosen separately, as the host transport does."""
    via_ip = Request("10.244.0.5", 443, "h.test", "/get", tls=True, ca=Path("/ca.pem"))
    assert curl_command(via_ip)[6:] == [
        "--connect-to", "h.test:443:10.244.0.5:443", "--cacert", "/ca.pem", "https://h.test/get"]
    listener = Request("127.0.0.1", 15001, "h.test")
    assert curl_command(listener)[6:] == ["--connect-to", "h.test:80:127.0.0.1:15001",
                                          "http://h.test/"]
    other_sni = via_ip.with_(sni="s.test", verify_hostname=False)
    assert curl_command(other_sni)[6:] == [
        "--connect-to", "s.test:443:10.244.0.5:443", "-H", "Host: h.test", "--cacert",
        "/ca.pem", "-k", "https://s.test/get"]
    no_sni = via_ip.with_(send_sni=False, ca=None, address="fd00::5")
    assert curl_command(no_sni)[6:] == ["-H", "Host: h.test", "-k", "https://[fd00::5]:443/get"]
    assert curl_command(listener.with_(method="POST"))[6:8] == ["-X", "POST"]


def test_parse_curl_keeps_body_ip_location_and_target() -> None:
    out = f"hello\n\n{MARK} status=418 ip=10.0.0.9 location=\n"
    result = parse_curl(0, out, "", target="t")
    assert result == TrafficResult(Kind.HTTP_STATUS, "t", "answered HTTP 418", status=418,
                                   body="hello", via=Via.POD, exit_code=0, remote_ip="10.0.0.9")
    moved = parse_curl(0, f"\n{MARK} status=301 ip=1.2.3.4 location=https://h.test/\n", "",
                       tls=True)
    assert (moved.kind, moved.location, moved.tls) == (Kind.REDIRECT, "https://h.test/", True)
    old_marker = parse_curl(0, f"\n{MARK} status=200 ip=1.2.3.4\n", "")
    assert (old_marker.kind, old_marker.status, old_marker.location) == (
        Kind.HTTP_STATUS, 200, None)
    none = parse_curl(7, f"\n{MARK} status=000 ip= location=\n",
                      "*   Trying 10.0.0.1:80...\ncurl: (7) Failed to connect\n")
    assert (none.status, none.remote_ip, none.body, none.error, none.tried) == (
        None, "", "", "curl: (7) Failed to connect", ("10.0.0.1",))
    raw = parse_curl(6, "no marker", "")
    assert (raw.status, raw.remote_ip, raw.body) == (None, "", "no marker")
    assert parse_curl(0, f"  body  \n{MARK} status=200 ip=1.2.3.4\n", "").body == "  body  "


def test_init_probe_result_in_full() -> None:
    probe = {"name": "probe", "image": "x"}
    done = pj.pod(containers=[pj.APP], init=[probe],
                  init_statuses=[pj.terminated("probe", code=7)])
    result = init_probe_result(done, "curl: (7) Failed to connect\n", "probe")
    assert result is not None
    assert result.container == "probe"
    assert result.kind is Kind.TCP_REFUSED
    assert result.curl == curl_result(7, None, error="curl: (7) Failed to connect",
                                      target="init container probe")
    assert result.explanation.startswith(
        "init container probe: curl exit 7, connection refused: nothing listens there (or the "
        "proxy the traffic was redirected to is not listening yet) (curl: (7) Failed to "
        "connect); pod mc-ns/mc-job-abcde phase Running [")
    ok = pj.pod(containers=[pj.APP], init=[probe], init_statuses=[pj.terminated("probe")])
    got = init_probe_result(ok, "status=200\n", "probe")
    assert got is not None
    assert got.curl.status == 200
    silent = init_probe_result(ok, "", "probe")
    assert silent is not None
    assert silent.curl.status is None
    assert init_probe_result(pj.pod(containers=[pj.APP], init=[probe]), "", "probe") is None
    running = pj.pod(containers=[pj.APP], init=[probe],
                     init_statuses=[pj.running(name="probe")])
    assert init_probe_result(running, "", "probe") is None
    no_code = pj.terminated("probe")
    del no_code["state"]["terminated"]["exitCode"]
    assert init_probe_result(pj.pod(containers=[pj.APP], init=[probe],
                                    init_statuses=[no_code]), "", "probe") is None


def test_logged_curl_in_full() -> None:
    logs = "status=503\ncurl_rc=0\ncurl: (56) x\n"
    assert logged_curl(logs, target="app") == curl_result(0, 503, error="curl: (56) x",
                                                          target="app")
    assert logged_curl("status=000\ncurl_rc=7\n") == curl_result(7, None)


def test_dns_rows() -> None:
    entry = {"status": {"addresses": [
        {"host": "a.test", "value": "240.240.0.5"}, {"host": "b.test", "value": "240.240.0.6"},
        {"value": "240.240.0.7"}, {"host": "a.test"}]}}
    assert allocated_addresses(entry, "a.test") == ["240.240.0.5", "240.240.0.7"]
    assert not in_auto_allocate_pool("240.241.0.1")
    assert not in_auto_allocate_pool("not an ip")
    condition = auto_allocated("a.test")
    assert condition(None) == Pending("ServiceEntry does not exist yet")
    assert condition({"status": {}}) == Pending("status.addresses for a.test: none yet")
    outside = {"status": {"addresses": [{"host": "a.test", "value": "10.0.0.1"}]}}
    assert condition(outside) == Pending("status.addresses for a.test: ['10.0.0.1']")
    assert condition(entry) == Done("240.240.0.5",
                                    "status.addresses for a.test: ['240.240.0.5', '240.240.0.7']")
    fixed = {"spec": {"addresses": ["1.2.3.4"]}}
    assert condition(fixed) == Failed(
        "the ServiceEntry has spec.addresses ['1.2.3.4']: istiod allocates only for entries "
        "without addresses")
