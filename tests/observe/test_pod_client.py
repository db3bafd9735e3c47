"""The live tier's wiring: a client pod's exec becomes the pod transport, and the egress
evaluators wait for the catalog's outcome while a Sidecar is still reaching the proxy.

The exec answers are scripted rows shaped like curl's real output; nothing here stands
in for Istio behaviour, it only drives the wiring.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshconform.claimcheck import ClaimCheck
from meshconform.claims import Outcome, get_catalog
from meshconform.traffic import egress
from meshconform.traffic.curl import MARK
from meshconform.traffic.observation import awaited
from meshconform.traffic.result import Kind
from meshconform.traffic.transport import ExecOutput
from meshconform.wait import Timeouts, WaitTimeout
from meshconform.wait.probes import PodClient

OK = ExecOutput(0, f'{{"url": "/get"}}\n{MARK} status=200 ip=172.18.0.9 location=\n', "")
BLOCKED = ExecOutput(0, f"\n{MARK} status=502 ip=172.18.0.9 location=\n", "")
TLS_BLACKHOLE = ExecOutput(35, f"\n{MARK} status=000 ip=172.18.0.9 location=\n",
                           "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection "
                           "to unregistered.meshconform.test:443 \n")
FAST = Timeouts(traffic_consistency=2.0, consecutive_successes=3, probe_request=4)


class ExecOnly:
    """The one KubeAPI method a PodClient's transport uses, answering from a script."""

    def __init__(self, answers: Iterator[ExecOutput]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, list[str], str | None]] = []

    def exec(self, namespace: str, pod: str, command: list[str], container: str | None = None,
             timeout: float = 30) -> ExecOutput:
        self.calls.append((namespace, pod, command, container))
        return next(self.answers)


def _target(kube: ExecOnly) -> egress.EgressTarget:
    client = PodClient(kube, "mc-ns", "client-abc", FAST)  # type: ignore[arg-type]
    return egress.EgressTarget(address="172.18.0.9", http_port=80, tls_port=443,
                               http_host="http.external.meshconform.test",
                               tls_host="tls.external.meshconform.test",
                               unknown_host="unregistered.meshconform.test",
                               ca=Path("/etc/meshconform/ca.pem"), path="/get", timeouts=FAST,
                               transport=dataclasses.replace(client.transport, interval=0.001))


def _script(*rows: ExecOutput) -> Iterator[ExecOutput]:
    yield from rows
    while True:
        yield rows[-1]


def test_the_client_pod_runs_the_evaluators_request_with_curl() -> None:
    kube = ExecOnly(_script(OK))
    seen = egress.service_entry_allows_tls(_target(kube))
    assert seen.outcome is Outcome.HOLDS, seen.text
    namespace, pod, command, container = kube.calls[0]
    assert (namespace, pod, container) == ("mc-ns", "client-abc", "client")
    assert command[:4] == ["curl", "-sS", "--max-time", "4"]
    assert command[-5:] == ["--connect-to", "tls.external.meshconform.test:443:172.18.0.9:443",
                            "--cacert", "/etc/meshconform/ca.pem",
                            "https://tls.external.meshconform.test/get"]
    assert seen.evidence[0].startswith(
        "ok: ok: mc-ns/client-abc: GET https://tls.external.meshconform.test/get via "
        "172.18.0.9:443")


def test_live_waits_for_registry_only_to_reach_the_proxy() -> None:
    """The Sidecar applies a moment after the client is up: the first answers still get
    through, then the block shows; waiting for ``holds`` sees it."""
    kube = ExecOnly(_script(OK, OK, BLOCKED, BLOCKED, BLOCKED, TLS_BLACKHOLE))
    seen = egress.registry_only_blocks(_target(kube), wait_for=Outcome.HOLDS)
    assert seen.outcome is Outcome.HOLDS, seen.text
    assert [r.kind for r in seen.results] == [Kind.HTTP_STATUS, Kind.TLS_HANDSHAKE_FAILED]
    # judged without waiting (the dataplane tier's rule), the same rows agree on "reached"
    early = ExecOnly(_script(OK))
    assert egress.registry_only_blocks(_target(early)).outcome is Outcome.BROKEN


def test_live_reports_the_documented_failure_when_it_is_stable() -> None:
    """Ambient ignores REGISTRY_ONLY (istio/istio#54281): waiting for the block ends with
    stable ``ok`` answers, judged as the documented failure with the expectation's name."""
    kube = ExecOnly(_script(OK))
    seen = egress.registry_only_blocks(_target(kube), wait_for=Outcome.HOLDS)
    assert seen.outcome is Outcome.BROKEN
    assert "expected blocked-by-registry, got HTTP 200 from mc-ns/client-abc: GET http://" \
        in seen.text
    assert "REGISTRY_ONLY is not enforced for HTTP" in seen.text


def test_answers_that_never_agree_are_an_error_not_a_verdict() -> None:
    kube = ExecOnly(itertools.cycle([OK, BLOCKED]))
    with pytest.raises(WaitTimeout, match="no 3 consecutive"):
        egress.service_entry_allows_http(_target(kube), wait_for=Outcome.HOLDS)


def test_awaited_follows_the_catalog_and_flips_for_incorrect_statements() -> None:
    catalog = get_catalog()
    assert awaited(ClaimCheck(catalog["egress-registry-only-blocks"], "sidecar", "live")) \
        is Outcome.HOLDS
    assert awaited(ClaimCheck(catalog["egress-registry-only-blocks"], "ambient", "live")) \
        is Outcome.BROKEN
    assert awaited(ClaimCheck(catalog["deploykf-permissive-bypasses-authz"],
                              "cni-native-sidecar", "live")) is Outcome.BROKEN
