"""The former path of the wait loop and ``Timeouts``; import from :mod:`meshconform.wait`.

Kept while traffic/, dataplane/ and plugin/ (being rewritten on other branches) still
import ``meshconform.wait.waiters``; it adds nothing. Delete once they import
``meshconform.wait``.
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
    wait_until,
)
from meshconform.wait.timeouts import Timeouts

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
    "wait_until",
]
