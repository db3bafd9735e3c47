"""The gateway lab's life: missing binaries are one line; an interrupted run leaves nothing.

The second test starts a throwaway lab (real control plane, istiod, pilot-agent + Envoy) in
a child process, kills that process with SIGKILL while a scenario is served, and checks
that every process of the lab, pilot-agent and Envoy included, is gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from meshconform import paths
from meshconform.certs import TestCA
from meshconform.live.controlplane.processes import pid_alive
from meshconform.wait import Done, Pending, wait_until

from .test_gateway_check import HOST, shop

CHILD = """
import json, sys, time
from pathlib import Path
from meshconform.certs import RunCertificates
from meshconform.dataplane.gateway_resources import istiod_gateway_scenario
from meshconform.live.controlplane.gateway_lab import GatewayLab
from meshconform.versions import get_istio_release

lab = GatewayLab.open(get_istio_release("1.31"), keep=False, reuse=False)
certs = RunCertificates.create(Path(sys.argv[1]), ["lab.meshconform.test"])
with istiod_gateway_scenario(lab, certs) as run:
    pids = [p.pid for p in lab.plane.processes.procs]
    agent = lab.plane.processes.get("gateway").pid
    children = []
    for task in Path(f"/proc/{agent}/task").glob("*"):
        children += [int(c) for c in (task / "children").read_text().split()]
    print(json.dumps({"pids": pids, "envoy": children, "folder": str(lab.plane.folder)}),
          flush=True)
    time.sleep(600)
"""


def test_missing_binaries_are_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "suites", "--tier",
         "dataplane", "-m", "gateway", "-q", "--report-dir", str(tmp_path / "report")],
        capture_output=True, text=True, check=False, timeout=300, cwd=paths.repo_root(),
        env={**os.environ, "MESHCONFORM_CACHE": str(tmp_path / "empty-cache")})
    assert done.returncode != 0
    assert "5 error" in done.stdout, done.stdout[-2000:]
    assert "passed" not in done.stdout.splitlines()[-1]
    lines = [x for x in done.stdout.splitlines() if "needs the gateway lab" in x]
    assert lines, done.stdout[-2000:]
    assert "not built yet" in lines[0]
    assert "Traceback" not in done.stdout


def test_gateway_check_without_binaries_is_one_line(tmp_path: Path) -> None:
    ca = TestCA.create(tmp_path / "ca", name="team CA")
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "gw.yaml").write_text(yaml.safe_dump_all(shop(ca.issue([HOST]))))
    done = subprocess.run(
        [sys.executable, "-m", "meshconform.cli", "gateway-check", "--resources",
         str(tmp_path / "res"), "--ca", str(ca.cert_path)],
        capture_output=True, text=True, check=False, timeout=60,
        env={**os.environ, "MESHCONFORM_CACHE": str(tmp_path / "empty-cache")})
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "not built yet" in done.stderr
    assert done.stdout == ""


def test_interrupted_run_leaves_no_process(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    with log.open("w") as err, subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path / "certs")], stdout=subprocess.PIPE,
            stderr=err, text=True, cwd=paths.repo_root()) as child:
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(30)
    assert line, log.read_text()[-3000:]
    state = json.loads(line)
    pids = [*state["pids"], *state["envoy"]]
    assert state["envoy"], "no Envoy under pilot-agent"

    def gone() -> Done[None] | Pending:
        alive = [pid for pid in pids if pid_alive(pid)]
        return Pending(f"still running: {alive}") if alive else Done(None)

    wait_until("the lab's processes gone with their parent", gone, timeout=30, interval=0.2)
