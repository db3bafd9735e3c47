"""Setups shared by many checks, tried once: a failure is remembered with its cause;
and the interrupt that lets a cancelled run clean them up.

A cluster per mode, Istio on it, a shared app per mode: when one of them cannot be
set up, every check that depends on it must end ``error`` at once with the original
cause, instead of trying again (a ztunnel stuck Pending costs its full readiness
timeout per attempt, which per check runs past any CI job limit).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from meshconform.errors import ProvisioningError


class SetupFailed(ProvisioningError):
    """A setup failed earlier in this run and is not tried again; names the first cause.

    Not an AssertionError: a check that cannot be set up ends ``error`` (the suite
    could not decide), never ``fail``.
    """


def first_failure(what: str, error: BaseException) -> str:
    """The remembered cause, one paragraph: what could not be set up and why."""
    text = str(error).strip() or "(no message)"
    return f"{what} could not be set up: {type(error).__name__}: {text}"


@dataclass
class Remembered:
    """key -> the value of its first successful setup, or the first failure's cause.

    ``get`` runs ``create`` at most until it fails once; afterwards the same key raises
    :class:`SetupFailed` at once with that first cause (an interrupt is not remembered:
    it is not a property of the setup).
    """

    made: dict[Hashable, Any] = field(default_factory=dict)
    failed: dict[Hashable, str] = field(default_factory=dict)

    def get(self, key: Hashable, what: str, create: Callable[[], Any]) -> Any:
        if key in self.made:
            return self.made[key]
        self.raise_if_failed(key)
        try:
            value = create()
        except Exception as error:
            self.fail(key, first_failure(what, error))
            raise
        self.made[key] = value
        return value

    def fail(self, key: Hashable, cause: str) -> None:
        self.failed.setdefault(key, cause)

    def raise_if_failed(self, key: Hashable) -> None:
        cause = self.failed.get(key)
        if cause is not None:
            raise SetupFailed(f"{cause} [first failure in this run; not retried]")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def install_sigterm_interrupt() -> Callable[[], None]:
    """Turn SIGTERM into KeyboardInterrupt until the returned ``restore`` is called.

    A cancelled CI job sends SIGTERM; by default that kills the process on the spot,
    skipping every clean-up. As a KeyboardInterrupt it ends the run the way Ctrl-C
    does: pytest tears the session fixtures down (the shared namespaces) and the
    session hooks delete the clusters this run created, during the Istio install
    (``istioctl`` is killed with it) as during the checks. Main thread only; elsewhere
    a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, _interrupt)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is _interrupt:
            signal.signal(signal.SIGTERM, previous)

    return restore
