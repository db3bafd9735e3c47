"""Two ways to send a :class:`~.request.Request`, behind one small protocol.

- :class:`HostTransport`: from this process (standard library sockets), for what is
  reachable from here: the dataplane tier's Envoy, a gateway through a port mapping.
- :class:`PodExecTransport`: curl inside a pod, through any exec function. The live
  tier passes the Kubernetes exec of its client pod; a controlplane "process pod"
  passes its own (a command run in the pod's network namespace). Nothing here knows
  which.

Both return the one :class:`~.result.TrafficResult`, so every evaluator and every
expectation works with either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from meshconform.traffic.curl import curl_command, parse_curl
from meshconform.traffic.request import Request, probe
from meshconform.traffic.result import TrafficResult


class Transport(Protocol):
    """Sends one request and classifies what happened; never raises for network errors."""

    @property
    def name(self) -> str:
        """Where requests leave from, for evidence ("host", "ns/client-abc")."""
        ...

    @property
    def interval(self) -> float:
        """Pause between attempts of a convergence loop, suited to the transport's cost."""
        ...

    def send(self, request: Request) -> TrafficResult: ...


class ExecResult(Protocol):
    """What an exec function returns: the command's exit code and output."""

    @property
    def rc(self) -> int: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...


@dataclass(frozen=True)
class ExecOutput:
    """A plain :class:`ExecResult`, for exec functions that have no type of their own."""

    rc: int
    stdout: str
    stderr: str


#: runs a command in the pod and returns its exit code and output
Exec = Callable[[list[str]], ExecResult]


@dataclass(frozen=True)
class HostTransport:
    """Requests from this machine (:func:`~.request.probe`)."""

    name: str = "host"
    #: local probes take milliseconds
    interval: float = 0.02

    def send(self, request: Request) -> TrafficResult:
        return probe(request)


@dataclass(frozen=True)
class PodExecTransport:
    """Requests made by curl inside a pod, through ``exec``.

    ``where`` names the pod in evidence. ``verbose`` adds ``curl -v`` so every result
    carries the addresses curl tried (DNS evidence); the body and status are
    unaffected. The request's own ``timeout`` becomes curl's ``--max-time``.
    """

    exec: Exec
    where: str
    verbose: bool = True
    #: every attempt is an exec through the API server; no need to hurry
    interval: float = 0.5

    @property
    def name(self) -> str:
        return self.where

    def send(self, request: Request) -> TrafficResult:
        command = curl_command(request, max_time=request.timeout, verbose=self.verbose)
        out = self.exec(command)
        return parse_curl(
            out.rc,
            out.stdout,
            out.stderr,
            target=f"{self.where}: {request.describe()}",
            tls=request.tls,
        )
