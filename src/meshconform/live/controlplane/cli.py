"""``meshconform controlplane status|stop``: the control planes ``--keep-cluster`` left running."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from meshconform.live.controlplane.cluster import reattach, state_root
from meshconform.live.controlplane.processes import Processes
from meshconform.live.controlplane.provider import plane_name, stop_kept
from meshconform.modes import parse_modes

Handler = Callable[[argparse.Namespace], int]


def _status(args: argparse.Namespace) -> int:
    root = state_root()
    folders = (
        sorted(p for p in root.glob("meshconform-cp-*") if p.is_dir()) if root.is_dir() else []
    )
    if not folders:
        print("no kept control planes")
        return 0
    for folder in folders:
        plane = reattach(folder.name, folder)
        procs = Processes.reattach(folder).procs
        state = "running" if plane is not None else "not running (stale folder)"
        names = ", ".join(f"{p.name}={p.pid}" for p in procs) or "no processes"
        kubeconfig = f" kubeconfig {plane.kubeconfig}" if plane is not None else ""
        print(f"{folder.name}: {state}; {names};{kubeconfig}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    for mode in parse_modes(args.mesh_mode or ["all"]):
        stopped = stop_kept(mode)
        print(f"{plane_name(mode)}: {'stopped' if stopped else 'none kept'}")
    return 0


def add_controlplane_commands(sub: argparse._SubParsersAction) -> dict[str, Handler]:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "controlplane", help="kept controlplane clusters (--keep-cluster): status, stop"
    )
    actions = parser.add_subparsers(dest="controlplane_command", required=True)
    actions.add_parser("status", help="list kept control planes and their processes")
    stop = actions.add_parser("stop", help="stop kept control planes by PID, remove their folders")
    stop.add_argument("--mesh-mode", action="append", metavar="MODE")

    def run(args: argparse.Namespace) -> int:
        return _status(args) if args.controlplane_command == "status" else _stop(args)

    return {"controlplane": run}
