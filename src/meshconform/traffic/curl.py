"""curl inside a pod: the command, its result, and what the result means for a claim.

A check execs :func:`curl_command` in a client pod (or reads an init container that
ran the same curl) and classifies the exit code and ``%{http_code}``. Exit codes
(curl(1) "EXIT CODES"): 6 could not resolve host, 7 failed to connect (refused),
28 timeout, 35 TLS connect error, 52 empty reply, 56 receive failure (reset),
60 certificate not verified. Facts on which one each Istio failure produces:
shared/research/istio-behaviours.md 3.3, 3.4, 3.6.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshconform.observe.pods import container_state, describe_states

Obj = Mapping[str, Any]

#: the line curl's ``-w`` appends after the body; parsed by :func:`parse_curl`
MARK = "meshconform-curl"
#: curl expands ``\\n`` in ``-w`` itself, so the argument needs no shell
_WRITE_OUT = f"\\n{MARK} status=%{{http_code}} ip=%{{remote_ip}}\\n"
_MARK_LINE = re.compile(rf"^{MARK} status=(\d{{3}}) ip=(\S*)\s*$", re.MULTILINE)
_STATUS_LOG = re.compile(r"^status=(\d{3})\s*$", re.MULTILINE)
_TRYING = re.compile(r"Trying (?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):\d+")


class CurlKind(enum.StrEnum):
    OK = "http-2xx"
    HTTP_STATUS = "http-status"  # an HTTP answer other than 2xx (403, 404, 502, ...)
    REFUSED = "refused"  # exit 7
    RESET = "reset"  # exit 56 or 52: the peer reset or closed without answering
    TIMEOUT = "timeout"  # exit 28
    TLS_FAILED = "tls-failed"  # exit 35: the handshake did not complete
    CERT_FAILED = "cert-failed"  # exit 60: the certificate did not verify
    DNS_FAILED = "dns-failed"  # exit 6
    OTHER = "other"


#: curl's message when name resolution, not the connection, ran out of time (exit 28)
_RESOLVE_TIMEOUT = "Resolving timed out"
_BY_EXIT = {
    7: CurlKind.REFUSED,
    56: CurlKind.RESET,
    52: CurlKind.RESET,
    28: CurlKind.TIMEOUT,
    35: CurlKind.TLS_FAILED,
    60: CurlKind.CERT_FAILED,
    6: CurlKind.DNS_FAILED,
}


@dataclass(frozen=True)
class CurlResult:
    exit_code: int
    status: int | None  # None when curl got no HTTP answer (http_code 000)
    remote_ip: str = ""
    body: str = ""
    error: str = ""  # curl's own error line ("curl: (56) Recv failure: ...")
    target: str = ""

    @property
    def kind(self) -> CurlKind:
        if self.exit_code == 0 and self.status is not None:
            return CurlKind.OK if 200 <= self.status < 300 else CurlKind.HTTP_STATUS
        if self.exit_code == 28 and _RESOLVE_TIMEOUT in self.error:
            # the lookup itself timed out: DNS redirected to a port nobody answers (the
            # proxy's :15053 before the proxy runs); musl (Alpine curl) ignores the ICMP
            # "port unreachable" on its unconnected UDP socket, so no exit 6 comes
            return CurlKind.DNS_FAILED
        return _BY_EXIT.get(self.exit_code, CurlKind.OTHER)

    def describe(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "no HTTP answer"
        detail = f"; {self.error}" if self.error else ""
        where = f"{self.target}: " if self.target else ""
        return f"{where}curl exit {self.exit_code} ({self.kind.value}), {what}{detail}"


def curl_command(
    url: str,
    *,
    max_time: float = 5.0,
    resolve: str | None = None,
    cacert: str | None = None,
    verbose: bool = False,
    extra: Sequence[str] = (),
) -> list[str]:
    """``curl`` printing the body, then a marker line with the status and the peer address.

    No ``-f``: an HTTP error is an answer to classify, not a failure of the probe.
    """
    command = ["curl", "-sS", "--max-time", f"{max_time:g}", "-w", _WRITE_OUT]
    if verbose:
        command.append("-v")
    if resolve:
        command += ["--resolve", resolve]
    if cacert:
        command += ["--cacert", cacert]
    return [*command, *extra, url]


def _error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip().startswith("curl: (")]
    return lines[-1] if lines else ""


def parse_curl(rc: int, stdout: str, stderr: str, target: str = "") -> CurlResult:
    """The result of one :func:`curl_command` exec: exit code, status, body, error."""
    matches = list(_MARK_LINE.finditer(stdout))
    status: int | None = None
    ip = ""
    body = stdout
    if matches:
        last = matches[-1]
        code = int(last.group(1))
        status = code or None
        ip = last.group(2)
        body = stdout[: last.start()].rstrip("\n")
    return CurlResult(
        exit_code=rc,
        status=status,
        remote_ip=ip,
        body=body,
        error=_error_line(stderr),
        target=target,
    )


def resolved_addresses(verbose_stderr: str) -> list[str]:
    """The addresses ``curl -v`` tried (``*   Trying 198.51.100.1:80...``), in order."""
    return [m.group(1) or m.group(2) for m in _TRYING.finditer(verbose_stderr)]


# ---------------------------------------------------------------- verdicts


def reached(result: CurlResult) -> bool:
    return result.kind is CurlKind.OK


def rejected_plaintext(result: CurlResult) -> bool:
    """STRICT mTLS against a plaintext client: reset or empty reply, never an HTTP answer."""
    return result.kind is CurlKind.RESET


def registry_blocked_http(result: CurlResult) -> bool:
    """REGISTRY_ONLY for HTTP: 502 from the ``block_all`` virtual host (or a reset where the
    port has no HTTP listener)."""
    return result.status == 502 or result.kind is CurlKind.RESET


def registry_blocked_tls(result: CurlResult) -> bool:
    """REGISTRY_ONLY for TLS: BlackHoleCluster closes the connection (curl 35, or a reset)."""
    return result.kind in (CurlKind.TLS_FAILED, CurlKind.RESET)


def rbac_denied_l7(result: CurlResult) -> bool:
    """An L7 AuthorizationPolicy DENY: 403 with Envoy's body ``RBAC: access denied``."""
    return result.status == 403 and "RBAC: access denied" in result.body


def rbac_denied_l4(result: CurlResult) -> bool:
    """An L4 (ztunnel) DENY: the connection is reset or closed without an answer."""
    return result.kind is CurlKind.RESET


# ---------------------------------------------------------------- init containers


@dataclass(frozen=True)
class InitProbeResult:
    """What an init container that ran curl (fixtures/workloads/init-network*.yaml) saw."""

    container: str
    curl: CurlResult
    explanation: str

    @property
    def kind(self) -> CurlKind:
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
    curl = CurlResult(
        exit_code=state.exit_code,
        status=code or None,
        error=_error_line(logs),
        target=f"init container {container}",
    )
    return InitProbeResult(container, curl, f"{curl.describe()}; {describe_states(pod)}")


INIT_FAILURE_MEANING: dict[CurlKind, str] = {
    CurlKind.RESET: "reset: the request left plaintext and the STRICT server refused it",
    CurlKind.REFUSED: "refused: redirected to a proxy that was not listening yet",
    CurlKind.DNS_FAILED: "DNS failed: the lookup was captured before the proxy ran",
}


_RC_LOG = re.compile(r"^curl_rc=(\d+)\s*$", re.MULTILINE)


def logged_curl(logs: str, target: str = "") -> CurlResult | None:
    """The curl a container ran and logged as ``status=<code>`` / ``curl_rc=<rc>``
    (fixtures/workloads/hold-app.yaml); None until both lines are in the log."""
    rcs = _RC_LOG.findall(logs)
    codes = _STATUS_LOG.findall(logs)
    if not rcs or not codes:
        return None
    code = int(codes[-1])
    return CurlResult(
        exit_code=int(rcs[-1]), status=code or None, error=_error_line(logs), target=target
    )
