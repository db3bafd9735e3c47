"""Injection shape, start order, curl results, init probes and DNS."""

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
    init_probe_result,
    logged_curl,
    parse_curl,
    resolved_addresses,
)
from meshconform.traffic.dns import allocated_addresses, auto_allocated, in_auto_allocate_pool
from meshconform.traffic.result import Kind
from meshconform.wait import Done, Failed, Pending
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
    (0, "{}\nmeshconform-curl status=200 ip=10.96.0.12 location=\n", Kind.HTTP_STATUS, 200),
    (0, "RBAC: access denied\nmeshconform-curl status=403 ip=10.96.0.12 location=\n",
     Kind.HTTP_STATUS, 403),
    (7, "\nmeshconform-curl status=000 ip= location=\n", Kind.TCP_REFUSED, None),
    (56, "\nmeshconform-curl status=000 ip=10.96.0.12 location=\n", Kind.TCP_RESET, None),
    (52, "\nmeshconform-curl status=000 ip=10.96.0.12 location=\n", Kind.TCP_RESET, None),
    (28, "\nmeshconform-curl status=000 ip= location=\n", Kind.TIMEOUT, None),
    (35, "\nmeshconform-curl status=000 ip=10.244.1.9 location=\n", Kind.TLS_HANDSHAKE_FAILED,
     None),
    (60, "\nmeshconform-curl status=000 ip=10.244.1.9 location=\n", Kind.CERT_UNTRUSTED, None),
    (6, "\nmeshconform-curl status=000 ip= location=\n", Kind.DNS_FAILED, None),
    (47, "\nmeshconform-curl status=000 ip= location=\n", Kind.UNREACHABLE, None),
])
def test_parse_curl(rc: int, stdout: str, kind: Kind, status: int | None) -> None:
    result = parse_curl(rc, stdout, "curl: (56) Recv failure: Connection reset by peer\n")
    assert (result.kind, result.status) == (kind, status)


def test_init_probe_result_from_termination_and_log() -> None:
    failed = pj.pod(containers=[pj.APP], init=[{"name": "probe", "image": "x"}],
                    phase="Failed", init_statuses=[pj.terminated("probe", code=7)])
    result = init_probe_result(failed, "curl: (7) Failed to connect\nstatus=000\ncurl_rc=7\n")
    assert result is not None
    assert result.kind is Kind.TCP_REFUSED
    ok = pj.pod(containers=[pj.APP], init=[{"name": "probe", "image": "x"}],
                init_statuses=[pj.terminated("probe", code=0)])
    good = init_probe_result(ok, "status=200\ncurl_rc=0\n")
    assert good is not None
    assert good.kind is Kind.HTTP_STATUS
    assert good.curl.ok
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
    assert result.kind is Kind.DNS_FAILED
    # a timeout after the name resolved is still a timeout
    slow = parse_curl(28, "", "curl: (28) Connection timed out after 5001 milliseconds\n")
    assert slow.kind is Kind.TIMEOUT


def test_logged_curl() -> None:
    assert logged_curl("status=200\n") is None
    seen = logged_curl("status=000\ncurl: (7) Failed to connect\ncurl_rc=7\n")
    assert seen is not None
    assert seen.kind is Kind.TCP_REFUSED


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
