"""Traffic from a pod, for the live checks: the client pod as a transport of
:mod:`meshconform.traffic` (its evaluators, expectations and convergence loop are the ones
every tier uses)."""

from __future__ import annotations

from dataclasses import dataclass

from meshconform.live.kubeapi import ExecOutput, KubeAPI
from meshconform.traffic.request import Request
from meshconform.traffic.transport import PodExecTransport
from meshconform.wait.timeouts import Timeouts

Command = list[str]  # aliased: inside KubeAPI, ``list`` is the method


@dataclass(frozen=True)
class PodClient:
    """A pod to send traffic from (the suite's ``client`` workload, or any pod with curl).

    Its :attr:`transport` is the pod transport of :mod:`meshconform.traffic`: the
    evaluators, expectations and convergence loop are the ones every tier uses.
    """

    kube: KubeAPI
    namespace: str
    pod: str
    timeouts: Timeouts
    container: str = "client"

    def exec(self, command: Command) -> ExecOutput:
        return self.kube.exec(
            self.namespace,
            self.pod,
            command,
            container=self.container,
            timeout=self.timeouts.exec_command,
        )

    @property
    def transport(self) -> PodExecTransport:
        return PodExecTransport(self.exec, f"{self.namespace}/{self.pod}")

    def request(self, url: str, **changes: object) -> Request:
        """A request to ``url`` as the pod would make it, bounded by ``probe_request``."""
        return Request.for_url(url, timeout=self.timeouts.probe_request, **changes)
