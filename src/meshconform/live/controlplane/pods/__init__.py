"""Process pods: the sidecar data plane of the controlplane cluster, without containers.

See :mod:`meshconform.live.controlplane.pods.kubelet` and docs/controlplane.md
"Process pods". :func:`unsupported` says in one line why this machine cannot run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache

TOOLS = ("unshare", "nsenter", "ip", "iptables", "iptables-save", "setpriv", "curl")


@cache
def unsupported() -> str | None:
    """Why process pods cannot run here (root, tools, netfilter), or None."""
    if os.geteuid() != 0:
        return "process pods need root (network namespaces, iptables): run as root, as CI does"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return (
            f"process pods need {', '.join(missing)} on PATH "
            "(Debian: iproute2, iptables, util-linux, curl)"
        )
    try:
        out = subprocess.run(
            ["unshare", "--net", "iptables", "-t", "nat", "-S"],
            capture_output=True, text=True, check=False, timeout=20,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"process pods need netfilter in a network namespace: {error}"
    if out.returncode != 0:
        return (
            "process pods need netfilter (iptables nat) in a network namespace: "
            f"{out.stderr.strip()[:200]}"
        )
    return None
