"""Honest flakiness: a traffic check whose observations disagreed before converging is `flaky`.

The server here is real (an HTTP server on loopback that flaps before it settles), so
is the probe and the convergence loop; the plugin test runs a check bound to a claim
through pytest and reads the report it writes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from meshconform.traffic import converge as convergence
from meshconform.traffic.converge import compress, converge, disagreed, relapsed
from meshconform.traffic.expect import Expect
from meshconform.traffic.request import Request, probe
from meshconform.wait import Timeouts

FAST = Timeouts(traffic_consistency=5.0, consecutive_successes=3)


class Flapping(ThreadingHTTPServer):
    """Answers the status codes of ``script`` in turn, then its last one forever."""

    def __init__(self, script: list[int]) -> None:
        self.script = list(script)
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def next_status(self) -> int:
        with self.lock:
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]


class _Handler(BaseHTTPRequestHandler):
    server: Flapping

    def do_GET(self) -> None:
        status = self.server.next_status()
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def flapping() -> Iterator[Flapping]:
    server = Flapping([200])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _request(server: Flapping) -> Request:
    return Request("127.0.0.1", server.server_address[1], "app.example.com", timeout=2.0)


def test_the_rules_are_pure_functions() -> None:
    assert not disagreed([("http-status", 200, None)] * 3)
    assert disagreed([("http-status", 503, None), ("http-status", 200, None)])
    assert not relapsed([False, False, True, True, True])  # waiting for a route: not flaky
    assert relapsed([False, True, False, True, True, True])  # accepted, then refused again
    assert compress(["HTTP 200", "HTTP 503", "HTTP 200", "HTTP 200"]) == (
        "HTTP 200, HTTP 503, HTTP 200 x2"
    )


def test_a_flapping_server_is_recorded_with_the_sequence_seen(flapping: Flapping) -> None:
    flapping.script = [200, 503, 200, 200]
    request = _request(flapping)
    with convergence.recording() as flaps:
        result = converge(request.describe(), lambda: probe(request), FAST, interval=0.001)
    assert result.status == 200
    assert len(flaps) == 1
    assert flaps[0].sequence == "HTTP 200, HTTP 503, HTTP 200 x4"
    assert "observations disagreed before converging" in str(flaps[0])


def test_a_steady_server_is_not_flaky(flapping: Flapping) -> None:
    request = _request(flapping)
    with convergence.recording() as flaps:
        converge(request.describe(), lambda: probe(request), FAST, interval=0.001)
        converge("route", lambda: probe(request), FAST, until=Expect.ok(200), interval=0.001)
    assert flaps == []


def test_until_waiting_for_a_route_is_not_flaky_but_a_relapse_is(flapping: Flapping) -> None:
    request = _request(flapping)
    accept = Expect.ok(200)
    flapping.script = [503, 503, 200]
    with convergence.recording() as flaps:
        converge("route", lambda: probe(request), FAST, until=accept, interval=0.001)
    assert flaps == []
    flapping.script = [503, 200, 503, 200]
    with convergence.recording() as flaps:
        converge("route", lambda: probe(request), FAST, until=accept, interval=0.001)
    assert [f.sequence for f in flaps] == ["HTTP 503, HTTP 200, HTTP 503, HTTP 200 x3"]


CHECK = '''
import pytest
from meshconform.traffic.converge import converge
from meshconform.traffic.request import Request, probe
from meshconform.wait import Timeouts


@pytest.mark.dataplane
@pytest.mark.claim("gateway-routes-by-host")
def test_routes(claim, mode):
    request = Request("127.0.0.1", PORT, "app.example.com", timeout=2.0)
    result = converge("GET app", lambda: probe(request), Timeouts(traffic_consistency=5.0),
                      interval=0.001)
    claim.conclude(result.status == 200, str(result))
'''


def test_the_report_says_flaky_never_pass(pytester: pytest.Pytester, flapping: Flapping) -> None:
    flapping.script = [200, 404, 200, 200]
    pytester.makepyfile(test_flaky_check=f"PORT = {flapping.server_address[1]}\n" + CHECK)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--report-dir", "rep", "--tier", "dataplane",
        "--mesh-mode", "native-sidecar",
    )
    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "rep" / "report.json").read_text())
    [row] = report["claims"]
    assert row["verdict"] == "flaky"
    assert "HTTP 200, HTTP 404, HTTP 200 x4" in row["evidence"]
    assert report["summary"]["flaky"] == 1
    assert report["summary"]["pass"] == 0
    markdown = (pytester.path / "rep" / "report.md").read_text()
    assert "**flaky** (dataplane 1.30)" in markdown
    assert "## Flaky checks" in markdown
