"""Traffic: one result model, named expectations, one convergence loop, two transports.

A :class:`~.request.Request` says where to connect and what to say there. A
transport sends it: :class:`~.transport.HostTransport` from this process, or
:class:`~.transport.PodExecTransport` with curl in a pod through any exec
function. Either returns the one :class:`~.result.TrafficResult`, classified by
:mod:`.classify`. Named expectations (:class:`~.expect.Expect`) judge results;
:func:`~.converge.converge` repeats a request until results agree or meet an
expectation. Evaluators (:mod:`.gateway`, :mod:`.egress`) put these together into
a claim outcome plus evidence (:mod:`.observation`), the same in every tier.
"""

from meshconform.traffic.expect import Expect, Expectation
from meshconform.traffic.request import Request, probe
from meshconform.traffic.result import Kind, TrafficResult
from meshconform.traffic.transport import HostTransport, PodExecTransport, Transport

__all__ = [
    "Expect",
    "Expectation",
    "HostTransport",
    "Kind",
    "PodExecTransport",
    "Request",
    "TrafficResult",
    "Transport",
    "probe",
]
