"""curl inside a pod: the command for a :class:`~.request.Request`, and its result.

The pod transport (:class:`~.transport.PodExecTransport`) execs :func:`curl_command`
in a client pod; init containers and apps that ran curl themselves are read from
their termination state and log. Every path ends in the one
:class:`~.result.TrafficResult`, classified by :func:`~.classify.classify_curl`
(exit codes: curl(1) "EXIT CODES"; which one each Istio failure produces:
shared/research/istio-behaviours.md 3.3, 3.4, 3.6).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meshconform.observe.pods import container_state, describe_states
from meshconform.traffic.classify import classify_curl
from meshconform.traffic.request import Request
from meshconform.traffic.result import Kind, TrafficResult, Via

Obj = Mapping[str, Any]

#: the line curl's ``-w`` appends after the body; parsed by :func:`parse_curl`
MARK = "meshconform-curl"
#: curl expands ``\\n`` in ``-w`` itself, so the argument needs no shell
_WRITE_OUT = f"\\n{MARK} status=%{{http_code}} ip=%{{remote_ip}} location=%{{redirect_url}}\\n"
_MARK_LINE = re.compile(
    rf"^{MARK} status=(\d{{3}}) ip=(\S*)(?: location=(\S*))?[ \t]*$", re.MULTILINE
)
_STATUS_LOG = re.compile(r"^status=(\d{3})\s*$", re.MULTILINE)
_TRYING = re.compile(r"Trying (?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):\d+")


def curl_result(
    exit_code: int,
    status: int | None,
    *,
    error: str = "",
    target: str = "",
    body: str = "",
    remote_ip: str = "",
    location: str | None = None,
    tls: bool = False,
    tried: tuple[str, ...] = (),
) -> TrafficResult:
    """A :class:`TrafficResult` from what one curl run reported, classified."""
    kind, explanation = classify_curl(exit_code, status, error, location)
    return TrafficResult(
        kind=kind,
        target=target,
        explanation=explanation,
        status=status,
        location=location if kind is Kind.REDIRECT else None,
        body=body,
        via=Via.POD,
        tls=tls,
        exit_code=exit_code,
        error=error,
        remote_ip=remote_ip,
        tried=tried,
    )


def curl_command(request: Request, *, max_time: float = 5.0, verbose: bool = False) -> list[str]:
    """``curl`` making ``request``: body, then a marker line with status, peer and Location.

    The URL carries the name curl should send (SNI and Host); ``--connect-to`` sends
    the connection to ``request.address``:``request.port`` when that is elsewhere, so
    the Host header never gets a port the host transport would not send. No ``-f``:
    an HTTP error is an answer to classify. curl cannot verify a chain without the
    name, so ``verify_hostname=False`` (or no SNI) means ``-k`` here, where the host
    transport still checks the chain.
    """
    command = ["curl", "-sS", "--max-time", f"{max_time:g}", "-w", _WRITE_OUT]
    if verbose:
        command.append("-v")
    if request.method != "GET":
        command += ["-X", request.method]
    name = request.server_name if request.tls else request.host
    if name is None:  # TLS without SNI: an IP literal in the URL sends none
        address = f"[{request.address}]" if ":" in request.address else request.address
        url = f"{request.scheme}://{address}:{request.port}{request.path}"
    else:
        url = f"{request.scheme}://{name}{request.path}"
        if (request.address, request.port) != (name, request.default_port):
            address = f"[{request.address}]" if ":" in request.address else request.address
            command += ["--connect-to", f"{name}:{request.default_port}:{address}:{request.port}"]
    if name != request.host:
        command += ["-H", f"Host: {request.host}"]
    if request.tls:
        if request.ca is not None:
            command += ["--cacert", str(request.ca)]
        if not request.verify_hostname or name is None:
            command.append("-k")
    return [*command, url]


def _error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip().startswith("curl: (")]
    return lines[-1] if lines else ""


def parse_curl(
    rc: int, stdout: str, stderr: str, target: str = "", *, tls: bool = False
) -> TrafficResult:
    """The result of one :func:`curl_command` exec: exit code, status, body, error."""
    matches = list(_MARK_LINE.finditer(stdout))
    status: int | None = None
    ip = ""
    location: str | None = None
    body = stdout
    if matches:
        last = matches[-1]
        code = int(last.group(1))
        status = code or None
        ip = last.group(2)
        location = last.group(3) or None
        body = stdout[: last.start()].rstrip("\n")
    return curl_result(
        rc,
        status,
        error=_error_line(stderr),
        target=target,
        body=body,
        remote_ip=ip,
        location=location,
        tls=tls,
        tried=tuple(resolved_addresses(stderr)),
    )


def resolved_addresses(verbose_stderr: str) -> list[str]:
    """The addresses ``curl -v`` tried (``*   Trying 198.51.100.1:80...``), in order."""
    return [m.group(1) or m.group(2) for m in _TRYING.finditer(verbose_stderr)]


# ---------------------------------------------------------------- init containers


@dataclass(frozen=True)
class InitProbeResult:
    """What an init container that ran curl (fixtures/workloads/init-network*.yaml) saw."""

    container: str
    curl: TrafficResult
    explanation: str

    @property
    def kind(self) -> Kind:
        return self.curl.kind


def init_probe_result(pod: Obj, logs: str, container: str = "probe") -> InitProbeResult | None:
    """The init container's verdict once it terminated, else None.

    Its exit code is curl's (the manifest ends ``exit $rc``) and its log holds
    ``status=<http_code>``; the termination state is the authority for the exit code.
    """
    state = container_state(pod, container)
    if state is None or not state.terminated or state.exit_code is None:
        return None
    found = _STATUS_LOG.findall(logs)
    code = int(found[-1]) if found else 0
    curl = curl_result(
        state.exit_code, code or None, error=_error_line(logs), target=f"init container {container}"
    )
    return InitProbeResult(container, curl, f"{curl}; {describe_states(pod)}")


INIT_FAILURE_MEANING: dict[Kind, str] = {
    Kind.TCP_RESET: "reset: the request left plaintext and the STRICT server refused it",
    Kind.TCP_REFUSED: "refused: redirected to a proxy that was not listening yet",
    Kind.DNS_FAILED: "DNS failed: the lookup was captured before the proxy ran",
}


_RC_LOG = re.compile(r"^curl_rc=(\d+)\s*$", re.MULTILINE)


def logged_curl(logs: str, target: str = "") -> TrafficResult | None:
    """The curl a container ran and logged as ``status=<code>`` / ``curl_rc=<rc>``
    (fixtures/workloads/hold-app.yaml); None until both lines are in the log."""
    rcs = _RC_LOG.findall(logs)
    codes = _STATUS_LOG.findall(logs)
    if not rcs or not codes:
        return None
    code = int(codes[-1])
    return curl_result(int(rcs[-1]), code or None, error=_error_line(logs), target=target)
