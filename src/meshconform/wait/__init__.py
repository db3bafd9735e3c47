"""How meshconform waits: one loop, one ``Timeouts``.

- :mod:`.loop`: the one wait loop (:func:`until` judges a stream of observations:
  Done, Failed at once, or a timeout naming the last state), and the two streams built
  on ticks: :func:`wait_until` (poll) and :func:`consecutive` (N in a row);
- :mod:`.timeouts`: :class:`Timeouts`, every wait bound, documented per field,
  scaled by ``--timeout-scale`` and overridden by ``--timeout-override NAME=SECONDS``;
- :mod:`.conditions`: what the waits wait for, pure functions over API-shaped objects
  (workloads ready, a pod Ready or unable to start, an init container or the app done);
- :mod:`.workloads`: the waits on pods and Jobs that the live checks call;
- :mod:`.probes`: the client pod as a traffic transport (:class:`PodClient`); repeating
  and judging the traffic is :mod:`meshconform.traffic`'s one convergence loop.

The watch stream itself is :meth:`meshconform.live.kube.Kube.observe` (list, watch,
re-list after 410 Gone); whether a pod can start and how it is described are decided in
:mod:`meshconform.observe.pods`. Import the names below from ``meshconform.wait``.
"""

from meshconform.wait.loop import (
    Decision,
    Done,
    Failed,
    Pending,
    WaitError,
    WaitFailed,
    WaitTimeout,
    consecutive,
    ticks,
    until,
    wait_until,
)
from meshconform.wait.timeouts import Timeouts, parse_overrides

__all__ = [
    "Decision",
    "Done",
    "Failed",
    "Pending",
    "Timeouts",
    "WaitError",
    "WaitFailed",
    "WaitTimeout",
    "consecutive",
    "parse_overrides",
    "ticks",
    "until",
    "wait_until",
]
