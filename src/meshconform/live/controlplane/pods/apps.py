"""Which app containers a process pod can run: the suite's reference workloads only.

``fixtures/images.lock.yaml`` pins the images of the suite's own workloads. Two of them
have a local equivalent:

- ``curl`` (curlimages/curl): its command (``sh -c ...``) runs with the machine's ``sh``;
  ``kubectl exec`` of ``curl`` runs Debian's curl (another build of the same program; exit
  codes and ``-w`` output are curl's own). The image's user is ``curl_user`` (UID 100);
- ``go-httpbin``: :mod:`meshconform.live.controlplane.pods.httpbin`, the same flags and
  the paths the checks use, run with Debian's python3. The image's user is ``nonroot``
  (UID 65532).

Any other image cannot run here: the pod reports the container ``waiting`` with reason
``NotRunnableHere`` and says why, never ``running``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meshconform import manifests
from meshconform.live.controlplane.pods import netns

PYTHON = "/usr/bin/python3"
#: where the echo server's source is put in the pod's tmpfs
HTTPBIN = netns.POD_ROOT / "apps/httpbin.py"
#: mounts of secrets and config maps whose path does not exist on the machine are put
#: under this folder of the pod's tmpfs (the app's arguments are rewritten to match)
VOLUMES = netns.POD_ROOT / "volumes"


@dataclass(frozen=True)
class Reference:
    name: str
    #: the image's default user (its USER), used when no securityContext says otherwise
    uid: int


def reference_images() -> dict[str, Reference]:
    """image reference (as pinned) -> what it is."""
    pinned = manifests.image_variables()
    users = {"curl": 100, "go-httpbin": 65532}
    return {
        pinned[f"IMAGE_{name.upper().replace('-', '_')}"]: Reference(name, uid)
        for name, uid in users.items()
    }


def reference_for(image: str) -> Reference | None:
    return reference_images().get(image)


@dataclass(frozen=True)
class AppPlan:
    argv: list[str]
    uid: int
    gid: int


def plan_app(
    container: Mapping[str, Any], argv: list[str], uid: int, gid: int, remap: Mapping[str, str]
) -> AppPlan | str:
    """How to run ``container`` here (argv already expanded), or why it cannot run."""
    image = str(container.get("image", ""))
    ref = reference_for(image)
    if ref is None:
        return f"image {image} is not one of the suite's reference workloads; it cannot run here"

    def remapped(arg: str) -> str:
        for source, target in remap.items():
            if arg == source or arg.startswith(source.rstrip("/") + "/"):
                return target + arg[len(source.rstrip("/")) :]
        return arg

    if ref.name == "curl":
        if not argv:
            return "the curl image's own entrypoint (curl) is not a long-running app"
        return AppPlan([remapped(a) for a in argv], uid, gid)
    # go-httpbin: ENTRYPOINT ["/usr/bin/go-httpbin"]; the manifest passes flags as args
    flags = [remapped(str(a)) for a in container.get("args") or []]
    return AppPlan([PYTHON, str(HTTPBIN), *flags], uid, gid)
