"""The cluster client interface the suite's modules depend on.

:class:`meshconform.live.kube.Kube` provides it. Modules that talk to a cluster
(wait.workloads, artifacts, product_recipes) type their argument with this
Protocol, so their logic is testable with a recording object and never imports
the Kubernetes client itself.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

from meshconform.wait.loop import Decision
from meshconform.wait.timeouts import Timeouts

T = TypeVar("T")
Obj = dict[str, Any]


class ExecOutput(Protocol):
    """A finished command (read-only: kube.ExecResult is frozen)."""

    @property
    def rc(self) -> int: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...


class KubeAPI(Protocol):
    """What the checks, the artifacts and the product installs use of a cluster."""

    kubeconfig: Path
    context: str | None
    #: the run is done with this cluster (released: removed, or kept as it is)
    closed: bool

    def apply(self, obj: Obj, namespace: str | None = None, *, dry_run: bool = False) -> Obj: ...

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj | None: ...

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> builtins.list[Obj]: ...

    def delete(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> None: ...

    def observe(
        self, api_version: str, kind: str, name: str, namespace: str | None, timeout: float
    ) -> Iterator[Obj | None]: ...

    def watch_until(  # noqa: PLR0917 - the checks' contract (kube.Kube.watch_until)
        self,
        what: str,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        condition: Callable[[Obj | None], Decision[T]],
        timeout: float,
    ) -> T: ...

    def exec(
        self,
        namespace: str,
        pod: str,
        command: builtins.list[str],
        container: str | None = None,
        timeout: float = Timeouts.exec_command,
    ) -> ExecOutput: ...

    def logs(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        tail: int | None = None,
        previous: bool = False,
    ) -> str: ...

    def events(self, namespace: str, involved_name: str | None = None) -> builtins.list[Obj]: ...
