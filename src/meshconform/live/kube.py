"""A thin typed wrapper over the official ``kubernetes`` client, one per cluster.

Objects go in and come out as plain dicts shaped exactly like the API's JSON
(camelCase). Every call goes through the DynamicClient, so Istio's CRDs need
nothing special. Rules (shared/research/ecosystem.md section 2):

- one ``ApiClient`` per cluster from ``new_client_from_config`` (never the global
  loader, which would make several clusters in one process share credentials);
- server-side apply only (field manager ``meshconform``, conflicts forced);
- a separate, short-lived ``ApiClient`` for every exec: ``kubernetes.stream``
  swaps ``call_api`` on the client it is given, so sharing one is not thread-safe;
- waits are watches: :meth:`Kube.observe` streams an object (list, then watch from
  the list's resourceVersion, re-list on 410 Gone and at every resync) and the one
  wait loop in :mod:`meshconform.wait.loop` judges it, so nothing sleeps.
"""

from __future__ import annotations

import builtins
import copy
import json
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client
from kubernetes import config as _config
from kubernetes import dynamic as _dynamic
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import NotFoundError
from kubernetes.stream import stream

from meshconform.errors import UsageError
from meshconform.wait.conditions import gone
from meshconform.wait.loop import Decision, WaitTimeout, until
from meshconform.wait.timeouts import Timeouts

T = TypeVar("T")

FIELD_MANAGER = "meshconform"
#: a watch round lasts at most this long before the object is re-listed, so a
#: condition that also reads other objects (pods of a deployment) is re-checked
RESYNC_SECONDS = 10.0
_STDOUT, _STDERR, _ERROR = 1, 2, 3
_GONE = 410

# kubernetes.config and .dynamic carry no annotations; treat them as untyped on purpose.
config: Any = _config
dynamic: Any = _dynamic
Objects = list[dict[str, Any]]


@dataclass(frozen=True)
class ExecResult:
    rc: int
    stdout: str
    stderr: str


#: (namespace, pod, command, container, timeout) -> the result, or None to use the API
ExecHook = Callable[[str, str, "builtins.list[str]", str | None, float], ExecResult | None]


def parse_exec_status(text: str) -> tuple[int, str]:
    """The exit code and message from the exec error channel (a ``v1.Status`` as JSON).

    ``Success`` is 0; ``NonZeroExitCode`` carries the code in ``details.causes``;
    any other failure (e.g. the executable does not exist) is -1 with the message.
    """
    if not text.strip():
        return -1, "the exec stream closed without a status"
    status = json.loads(text)
    if status.get("status") == "Success":
        return 0, ""
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", "-1")), status.get("message", "")
    return -1, status.get("message", "exec failed")


def _to_dict(instance: Any) -> dict[str, Any]:
    result: dict[str, Any] = instance.to_dict()
    return result


class Kube:
    """One cluster. Cheap to construct: nothing is contacted until the first call."""

    def __init__(self, kubeconfig: Path, context: str | None = None) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.context = context
        try:
            # persist_config=False: never write refreshed tokens into the user's file
            self._api = config.new_client_from_config(
                config_file=str(self.kubeconfig), context=context, persist_config=False
            )
        except config.ConfigException as error:
            raise UsageError(
                f"cannot use kubeconfig {self.kubeconfig}"
                f"{' context ' + context if context else ''}: {error}",
                "Pass a kubeconfig (and --context) that names a reachable cluster",
            ) from None
        self._configuration = self._api.configuration
        self._dyn: Any = None
        #: the controlplane cluster's process pods run commands without a kubelet: it sets
        #: this to a function answering for its own pods (None: not one of them)
        self.exec_hook: ExecHook | None = None
        #: closed by its pool once the run is done with its cluster (which may be gone)
        self.closed = False

    # -- plumbing ---------------------------------------------------------------

    @property
    def dynamic(self) -> Any:
        """The DynamicClient (untyped), for calls this wrapper does not cover."""
        if self._dyn is None:
            # a private discovery cache: the default one is keyed by host:port, which
            # kind reuses across clusters with different CRDs installed
            folder = tempfile.mkdtemp(prefix="meshconform-discovery-")
            weakref.finalize(self, shutil.rmtree, folder, True)
            self._dyn = dynamic.DynamicClient(
                self._api, cache_file=str(Path(folder) / "discovery.json")
            )
        return self._dyn

    def _resource(self, api_version: str, kind: str) -> Any:
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def close(self) -> None:
        self.closed = True
        self._api.close()

    # -- the API ----------------------------------------------------------------

    def server_version(self, timeout: float = 5.0, retries: bool = True) -> str:
        """``major.minor`` of the API server; ``retries=False`` for a fast reachability probe."""
        if retries:
            info = client.VersionApi(self._api).get_code(_request_timeout=timeout)
        else:
            configuration = copy.deepcopy(self._configuration)
            configuration.retries = 0  # urllib3 would otherwise retry a dead address 3 times
            api: Any = client.ApiClient(configuration=configuration)
            try:
                info = client.VersionApi(api).get_code(_request_timeout=timeout)
            finally:
                api.close()
        return f"{info.major}.{str(info.minor).rstrip('+')}"

    def apply(
        self, obj: dict[str, Any], namespace: str | None = None, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Server-side apply ``obj``; a namespaced object lands in ``namespace``.

        ``dry_run``: the whole admission chain (webhooks included) runs, nothing is stored.
        """
        body = copy.deepcopy(obj)
        resource = self._resource(body["apiVersion"], body["kind"])
        meta = body.setdefault("metadata", {})
        ns: str | None = None
        if resource.namespaced:
            ns = namespace or meta.get("namespace")
            if namespace and meta.get("namespace") not in (None, namespace):
                raise UsageError(
                    f"{body['kind']} {meta.get('name')} names namespace {meta['namespace']!r} "
                    f"but is applied to {namespace!r}",
                    "Drop metadata.namespace from the manifest; the fixture sets it",
                )
            if not ns:
                raise UsageError(
                    f"{body['kind']} {meta.get('name')} needs a namespace",
                    "Pass namespace= to apply()",
                )
            meta["namespace"] = ns
        extra = {"dry_run": "All"} if dry_run else {}
        applied = self.dynamic.server_side_apply(
            resource,
            body=body,
            namespace=ns,
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
            **extra,
        )
        return _to_dict(applied)

    def apply_all(self, objs: Iterable[dict[str, Any]], namespace: str | None = None) -> Objects:
        return [self.apply(obj, namespace) for obj in objs]

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        try:
            return _to_dict(
                self.dynamic.get(self._resource(api_version, kind), name=name, namespace=namespace)
            )
        except NotFoundError:
            return None

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> Objects:
        listing = self._list(api_version, kind, namespace, label_selector=label_selector)
        items: Objects = listing.get("items") or []
        return items

    def _list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> dict[str, Any]:
        return _to_dict(
            self.dynamic.get(
                self._resource(api_version, kind),
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
            )
        )

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        """Delete (background propagation); an object that is already gone is fine."""
        try:
            self.dynamic.delete(
                self._resource(api_version, kind),
                name=name,
                namespace=namespace,
                propagation_policy="Background",
            )
        except NotFoundError:
            return

    def create_namespace(self, name: str, labels: Mapping[str, str]) -> dict[str, Any]:
        return self.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": dict(labels)},
            }
        )

    def delete_namespace(
        self, name: str, wait: bool = False, timeout: float = Timeouts.namespace_delete
    ) -> None:
        self.delete("v1", "Namespace", name)
        if wait:
            self.watch_until(
                f"namespace {name} deleted", "v1", "Namespace", name, None, gone, timeout
            )

    def observe(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        timeout: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> Iterator[dict[str, Any] | None]:
        """Stream one object as it changes: the object as listed (``None`` while it does
        not exist), then once per watch event, for ``timeout`` seconds.

        Lists, then watches from the list's resourceVersion; re-lists after 410 Gone
        (the version expired) and whenever a watch round of ``RESYNC_SECONDS`` ends, so a
        condition that also reads other objects (a deployment's pods) is re-judged.
        Bookmarks and watch errors are not observations; a deletion is ``None``. This
        only streams: :func:`meshconform.wait.loop.until` judges.
        """
        resource = self._resource(api_version, kind)
        selector = f"metadata.name={name}"
        deadline = clock() + timeout
        while True:
            listing = _to_dict(
                self.dynamic.get(resource, namespace=namespace, field_selector=selector)
            )
            items = listing.get("items") or []
            yield items[0] if items else None
            version = (listing.get("metadata") or {}).get("resourceVersion")
            remaining = deadline - clock()
            if remaining <= 0:
                return
            try:
                for event in self.dynamic.watch(
                    resource,
                    namespace=namespace,
                    name=name,
                    resource_version=version,
                    timeout=max(1, int(min(remaining, RESYNC_SECONDS))),
                ):
                    if event["type"] in ("BOOKMARK", "ERROR"):
                        continue
                    yield None if event["type"] == "DELETED" else event["raw_object"]
            except ApiException as error:
                if error.status != _GONE:
                    raise
                # resourceVersion too old: re-list and watch again

    def watch_until(  # noqa: PLR0917  (the signature is the checks' contract)
        self,
        what: str,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        condition: Callable[[dict[str, Any] | None], Decision[T]],
        timeout: float,
    ) -> T:
        """The wait loop (:func:`meshconform.wait.loop.until`) over :meth:`observe`:
        ``condition``'s value once Done, WaitFailed at once on Failed, WaitTimeout with
        the last state after ``timeout`` seconds."""
        return until(
            what, self.observe(api_version, kind, name, namespace, timeout), condition, timeout
        )

    def exec(
        self,
        namespace: str,
        pod: str,
        command: builtins.list[str],
        container: str | None = None,
        timeout: float = Timeouts.exec_command,
    ) -> ExecResult:
        """Run ``command`` in a container; the exit code comes from the API's status channel."""
        if self.exec_hook is not None:
            local = self.exec_hook(namespace, pod, command, container, timeout)
            if local is not None:
                return local
        api: Any = client.ApiClient(configuration=self._configuration)
        try:
            extra = {"container": container} if container else {}
            ws = stream(
                client.CoreV1Api(api).connect_get_namespaced_pod_exec,
                pod,
                namespace,
                command=command,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _preload_content=False,
                **extra,
            )
            try:
                ws.run_forever(timeout=timeout)
                if ws.is_open():
                    partial = ws.read_channel(_STDOUT)
                    raise WaitTimeout(
                        f"exec {command!r} in {namespace}/{pod}"
                        f"{'/' + container if container else ''} did not finish within "
                        f"{timeout:.0f}s; output so far: {partial[-500:]!r}"
                    )
                stdout = ws.read_channel(_STDOUT)
                stderr = ws.read_channel(_STDERR)
                rc, message = parse_exec_status(ws.read_channel(_ERROR))
            finally:
                ws.close()
        finally:
            api.close()
        if rc < 0 and message:
            stderr = f"{stderr}{message}\n"
        return ExecResult(rc=rc, stdout=stdout, stderr=stderr)

    def logs(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        tail: int | None = None,
        previous: bool = False,
    ) -> str:
        extra: dict[str, Any] = {}
        if container:
            extra["container"] = container
        if tail is not None:
            extra["tail_lines"] = tail
        response: Any = client.CoreV1Api(self._api).read_namespaced_pod_log(
            pod, namespace, previous=previous, _preload_content=False, **extra
        )
        data: bytes = response.data
        return data.decode("utf-8", "replace")

    def events(self, namespace: str, involved_name: str | None = None) -> Objects:
        """core/v1 Events of the namespace (or of one object), oldest first."""
        selector = f"involvedObject.name={involved_name}" if involved_name else None
        items: Objects = (
            self._list("v1", "Event", namespace, field_selector=selector).get("items") or []
        )
        return sorted(items, key=event_time)


def event_time(event: Mapping[str, Any]) -> str:
    """The most recent timestamp an Event carries (RFC 3339 strings sort correctly)."""
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )
