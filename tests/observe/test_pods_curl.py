"""Injection shape, start order, curl results, init probes, DNS, and settle()."""

from __future__ import annotations

import pytest

from meshconform.observe.pods import (
    ProxyShape,
    classic_sidecar_conforms,
    injection_shape,
    native_sidecar_conforms,
    start_order,
)
from meshconform.traffic.curl import (
    CurlKind,
    curl_command,
    init_probe_result,
    logged_curl,
    parse_curl,
    rbac_denied_l7,
    registry_blocked_http,
    registry_blocked_tls,
    resolved_addresses,
)
from meshconform.traffic.dns import allocated_addresses, auto_allocated, in_auto_allocate_pool
from meshconform.wait import Done, Failed, Pending, Timeouts
from meshconform.wait.probes import settle
from tests.clock import FakeClock
from tests.observe import podjson as pj


def test_shapes() -> None:
    native = injection_shape(pj.pod(containers=[pj.APP],
                                    init=[pj.ISTIO_INIT, pj.NATIVE_PROXY, pj.APP_INIT]))
    assert native.shape is ProxyShape.NATIVE
    assert native_sidecar_conforms(native)[0]
    assert not classic_sidecar_conforms(native)[0]
    late = injection_shape(pj.pod(containers=[pj.APP],
                                  init=[pj.ISTIO_INIT, pj.APP_INIT, pj.NATIVE_PROXY]))
    assert not native_sidecar_conforms(late)[0]
    dropped = {k: v for k, v in pj.NATIVE_PROXY.items() if k != "restartPolicy"}
    gated_off = injection_shape(pj.pod(containers=[pj.APP], init=[dropped]))
    assert gated_off.shape is ProxyShape.INIT_NOT_RESTARTABLE
    ok, why = native_sidecar_conforms(gated_off)
    assert not ok
    assert "not a native sidecar" in why
    classic = injection_shape(pj.pod(containers=[pj.APP, pj.PROXY_CONTAINER],
                                     init=[pj.ISTIO_INIT]))
    assert classic.shape is ProxyShape.CLASSIC
    assert classic_sidecar_conforms(classic)[0]
    assert not native_sidecar_conforms(classic)[0]
    none = injection_shape(pj.pod(containers=[pj.APP], injected=False))
    assert none.shape is ProxyShape.ABSENT
    assert not none.status_annotation


def test_start_order_classic_hold() -> None:
    held = pj.pod(containers=[pj.HOLD_PROXY, pj.APP], statuses=[
        pj.running(name="istio-proxy", started="2026-03-01T10:00:00Z"),
        pj.running(name="app", started="2026-03-01T10:00:02Z")])
    assert start_order(held).proxy_first
    no_hook = pj.pod(containers=[pj.PROXY_CONTAINER, pj.APP], statuses=[
        pj.running(name="istio-proxy"), pj.running(name="app")])
    order = start_order(no_hook)
    assert not order.proxy_first
    assert "pilot-agent wait" in order.explanation
    reversed_ = pj.pod(containers=[pj.HOLD_PROXY, pj.APP], statuses=[
        pj.running(name="istio-proxy", started="2026-03-01T10:00:05Z"),
        pj.running(name="app", started="2026-03-01T10:00:02Z")])
    assert "before istio-proxy" in start_order(reversed_).explanation


def test_start_order_native() -> None:
    native = pj.pod(containers=[pj.APP], init=[pj.ISTIO_INIT, pj.NATIVE_PROXY],
                    init_statuses=[pj.terminated("istio-init"),
                                   pj.running(name="istio-proxy", started_flag=True)],
                    statuses=[pj.running(name="app", started="2026-03-01T10:00:01Z")])
    assert start_order(native).proxy_first
    not_started = pj.pod(containers=[pj.APP], init=[pj.NATIVE_PROXY],
                         init_statuses=[pj.running(name="istio-proxy", started_flag=False)],
                         statuses=[pj.running(name="app")])
    assert not start_order(not_started).proxy_first


@pytest.mark.parametrize(("rc", "stdout", "kind", "status"), [
    (0, "{}\nmeshconform-curl status=200 ip=10.96.0.12\n", CurlKind.OK, 200),
    (0, "RBAC: access denied\nmeshconform-curl status=403 ip=10.96.0.12\n",
     CurlKind.HTTP_STATUS, 403),
    (7, "\nmeshconform-curl status=000 ip=\n", CurlKind.REFUSED, None),
    (56, "\nmeshconform-curl status=000 ip=10.96.0.12\n", CurlKind.RESET, None),
    (52, "\nmeshconform-curl status=000 ip=10.96.0.12\n", CurlKind.RESET, None),
    (28, "\nmeshconform-curl status=000 ip=\n", CurlKind.TIMEOUT, None),
    (35, "\nmeshconform-curl status=000 ip=10.244.1.9\n", CurlKind.TLS_FAILED, None),
    (6, "\nmeshconform-curl status=000 ip=\n", CurlKind.DNS_FAILED, None),
])
def test_parse_curl(rc: int, stdout: str, kind: CurlKind, status: int | None) -> None:
    result = parse_curl(rc, stdout, "curl: (56) Recv failure: Connection reset by peer\n")
    assert (result.kind, result.status) == (kind, status)


def test_verdict_helpers() -> None:
    denied = parse_curl(0, "RBAC: access denied\nmeshconform-curl status=403 ip=1.2.3.4\n", "")
    assert rbac_denied_l7(denied)
    other_403 = parse_curl(0, "forbidden\nmeshconform-curl status=403 ip=1.2.3.4\n", "")
    assert not rbac_denied_l7(other_403)
    assert registry_blocked_http(parse_curl(0, "\nmeshconform-curl status=502 ip=1.2.3.4\n", ""))
    assert not registry_blocked_http(parse_curl(0, "\nmeshconform-curl status=200 ip=1\n", ""))
    assert registry_blocked_tls(parse_curl(35, "\nmeshconform-curl status=000 ip=\n", ""))
    command = curl_command("https://h/get", resolve="h:443:10.244.0.5", cacert="/ca.pem")
    assert command[0] == "curl"
    assert command[-1] == "https://h/get"
    assert "--resolve" in command
    assert "--cacert" in command
    assert "-f" not in command


def test_init_probe_result_from_termination_and_log() -> None:
    failed = pj.pod(containers=[pj.APP], init=[{"name": "probe", "image": "x"}],
                    phase="Failed", init_statuses=[pj.terminated("probe", code=7)])
    result = init_probe_result(failed, "curl: (7) Failed to connect\nstatus=000\ncurl_rc=7\n")
    assert result is not None
    assert result.kind is CurlKind.REFUSED
    ok = pj.pod(containers=[pj.APP], init=[{"name": "probe", "image": "x"}],
                init_statuses=[pj.terminated("probe", code=0)])
    good = init_probe_result(ok, "status=200\ncurl_rc=0\n")
    assert good is not None
    assert good.kind is CurlKind.OK
    still = pj.pod(containers=[pj.APP], init=[{"name": "probe", "image": "x"}],
                   phase="Pending", init_statuses=[pj.running(name="probe")])
    assert init_probe_result(still, "") is None


def test_a_dns_lookup_that_times_out_is_a_dns_failure() -> None:
    """CNI with DNS capture: the init container's lookup goes to :15053 before the proxy
    listens; Alpine's musl resolver ignores the ICMP answer, so curl reports exit 28."""
    failed = pj.pod(containers=[pj.APP], init=[{"name": "probe", "image": "x"}],
                    phase="Failed", init_statuses=[pj.terminated("probe", code=28)])
    log = "curl: (28) Resolving timed out after 5002 milliseconds\nstatus=000\ncurl_rc=28\n"
    result = init_probe_result(failed, log)
    assert result is not None
    assert result.kind is CurlKind.DNS_FAILED
    # a timeout after the name resolved is still a timeout
    slow = parse_curl(28, "", "curl: (28) Connection timed out after 5001 milliseconds\n")
    assert slow.kind is CurlKind.TIMEOUT


def test_logged_curl() -> None:
    assert logged_curl("status=200\n") is None
    seen = logged_curl("status=000\ncurl: (7) Failed to connect\ncurl_rc=7\n")
    assert seen is not None
    assert seen.kind is CurlKind.REFUSED


def test_dns_helpers() -> None:
    stderr = "* Host dns.x:80 was resolved.\n*   Trying 198.51.100.7:80...\n* Connected\n"
    assert resolved_addresses(stderr) == ["198.51.100.7"]
    assert resolved_addresses("*   Trying [2001:db8::1]:80...") == ["2001:db8::1"]
    se = {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
          "metadata": {"name": "dns-auto", "namespace": "mc-ns"},
          "spec": {"hosts": ["auto.test"], "resolution": "DNS"},
          "status": {"addresses": [{"host": "auto.test", "value": "240.240.0.3"},
                                   {"host": "auto.test", "value": "2001:2::f0f0:3"}]}}
    assert allocated_addresses(se, "auto.test") == ["240.240.0.3", "2001:2::f0f0:3"]
    assert in_auto_allocate_pool("240.240.0.3")
    assert not in_auto_allocate_pool("10.0.0.1")
    assert auto_allocated("auto.test")(se) == Done("240.240.0.3",
                                                   "status.addresses for auto.test: "
                                                   "['240.240.0.3', '2001:2::f0f0:3']")
    assert isinstance(auto_allocated("auto.test")({**se, "status": {}}), Pending)
    pinned = {**se, "spec": {**se["spec"], "addresses": ["198.51.100.1"]}}
    assert isinstance(auto_allocated("auto.test")(pinned), Failed)


def test_settle_waits_for_the_expected_outcome_then_reports_the_other() -> None:
    clock = FakeClock()
    seq = iter([False, True, True, True])
    got = settle("deny", lambda: next(seq), lambda r: r, expect=True, timeouts=Timeouts(),
                 pause=clock.pause, clock=clock)
    assert got.observed is True
    clock = FakeClock()
    never = settle("deny", lambda: False, lambda r: r, expect=True,
                   timeouts=Timeouts(traffic_consistency=2), pause=clock.pause, clock=clock)
    assert never.observed is False  # the documented failure, consistently
    clock = FakeClock()
    flapping = iter([None, False] * 20)
    mixed = settle("x", lambda: next(flapping), lambda r: r, expect=True,
                   timeouts=Timeouts(traffic_consistency=2), pause=clock.pause, clock=clock)
    assert mixed.observed is None
