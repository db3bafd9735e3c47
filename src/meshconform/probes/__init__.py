"""Host-side traffic probes and the claim evaluators built on them.

A probe makes one request (or one TLS handshake) and returns a
:class:`~meshconform.probes.result.ProbeResult`: what happened, classified, in
words a user can act on. Evaluators (:mod:`.gateway`, :mod:`.egress`) run probes
and turn them into a claim outcome plus evidence.
"""

from meshconform.probes.request import Request, probe
from meshconform.probes.result import Kind, ProbeResult

__all__ = ["Kind", "ProbeResult", "Request", "probe"]
