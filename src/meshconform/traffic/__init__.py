"""Traffic: probes and the claim evaluators built on them.

From the host (:mod:`.request`) or from inside a pod (:mod:`.curl` reads curl's exit
code and status; :mod:`.dns` reads resolved addresses).

A probe makes one request (or one TLS handshake) and returns a
:class:`~meshconform.traffic.result.ProbeResult`: what happened, classified, in
words a user can act on. Evaluators (:mod:`.gateway`, :mod:`.egress`) run probes
and turn them into a claim outcome plus evidence.
"""

from meshconform.traffic.request import Request, probe
from meshconform.traffic.result import Kind, ProbeResult

__all__ = ["Kind", "ProbeResult", "Request", "probe"]
