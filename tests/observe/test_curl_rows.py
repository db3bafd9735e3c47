"""observe.curl and observe.dns field by field, with the words a report shows. Written
against the mutation run (docs/mutation.md)."""

from __future__ import annotations

from meshconform.traffic.curl import (
    MARK,
    CurlKind,
    CurlResult,
    curl_command,
    init_probe_result,
    logged_curl,
    parse_curl,
)
from meshconform.traffic.dns import allocated_addresses, auto_allocated, in_auto_allocate_pool
from meshconform.wait import Done, Failed, Pending
from tests.observe import podjson as pj


def test_describe_says_what_where_and_why() -> None:
    assert CurlResult(0, 200).describe() == "curl exit 0 (http-2xx), HTTP 200"
    assert CurlResult(56, None, error="curl: (56) Recv failure", target="ns/client: GET x") \
        .describe() == ("ns/client: GET x: curl exit 56 (reset), no HTTP answer; "
                        "curl: (56) Recv failure")


def test_curl_command_defaults() -> None:
    command = curl_command("http://x/")
    assert command[:4] == ["curl", "-sS", "--max-time", "5"]
    assert "-v" not in command
    assert command[-1] == "http://x/"
    assert curl_command("http://x/", verbose=True, max_time=2.5)[:6] == [
        "curl", "-sS", "--max-time", "2.5", "-w", command[5]]
    assert "-v" in curl_command("http://x/", verbose=True)


def test_parse_curl_keeps_body_ip_and_target() -> None:
    out = f"hello\n\n{MARK} status=418 ip=10.0.0.9\n"
    result = parse_curl(0, out, "", target="t")
    assert result == CurlResult(0, 418, remote_ip="10.0.0.9", body="hello", error="", target="t")
    none = parse_curl(7, f"\n{MARK} status=000 ip=\n", "curl: (7) Failed to connect\n")
    assert (none.status, none.remote_ip, none.body, none.error) == (
        None, "", "", "curl: (7) Failed to connect")
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
    assert result.kind is CurlKind.REFUSED
    assert result.curl == CurlResult(7, None, error="curl: (7) Failed to connect",
                                     target="init container probe")
    assert result.explanation.startswith(
        "init container probe: curl exit 7 (refused), no HTTP answer; curl: (7) Failed to "
        "connect; pod mc-ns/mc-job-abcde phase Running [")
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
    assert logged_curl(logs, target="app") == CurlResult(0, 503, error="curl: (56) x",
                                                         target="app")
    assert logged_curl("status=000\ncurl_rc=7\n") == CurlResult(7, None)


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
