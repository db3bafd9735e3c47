"""istiod as a process gets the rendered Deployment's own env and args (real istioctl render)."""

from __future__ import annotations

from pathlib import Path

from meshconform.live.controlplane.istiod import IstiodPorts, istiod_argv, istiod_env
from meshconform.modes import MODES
from meshconform.static.install import generate
from meshconform.static.istioctl import Istioctl


def test_env_is_the_deployments_with_field_refs_resolved(istioctl: Istioctl) -> None:
    install = generate(istioctl, MODES["native-sidecar"])
    env, skipped = istiod_env(install)
    assert env["ENABLE_NATIVE_SIDECARS"] == "true"  # the overlay's value reaches the process
    assert env["REVISION"] == "default"
    assert env["POD_NAMESPACE"] == "istio-system"  # fieldRef metadata.namespace
    assert env["SERVICE_ACCOUNT"] == "istiod"  # fieldRef spec.serviceAccountName
    # resource references have no kubelet to resolve them: listed, not invented
    assert any(s.startswith("GOMAXPROCS") or s.startswith("GOMEMLIMIT") for s in skipped)
    classic, _ = istiod_env(generate(istioctl, MODES["sidecar"]))
    assert classic["ENABLE_NATIVE_SIDECARS"] == "false"


def test_args_keep_the_deployments_and_move_every_listener_to_loopback(
    istioctl: Istioctl,
) -> None:
    install = generate(istioctl, MODES["cni"])
    ports = IstiodPorts(1, 2, 3, 4, 5)
    argv = istiod_argv(Path("/bin/pilot-discovery"), install, Path("/k/kubeconfig"), ports)
    assert argv[:2] == ["/bin/pilot-discovery", "discovery"]
    assert "--domain" in argv  # a Deployment arg, kept
    listeners = [a for a in argv if a.split("=")[0].lstrip("-").endswith("Addr")]
    assert listeners == [
        "--httpAddr=127.0.0.1:1",
        "--httpsAddr=127.0.0.1:2",
        "--grpcAddr=127.0.0.1:3",
        "--secureGRPCAddr=127.0.0.1:4",
        "--monitoringAddr=127.0.0.1:5",
    ]
    assert ports.install_sets() == (
        "values.istiodRemote.injectionURL=https://127.0.0.1:2/inject",
        "values.base.validationURL=https://127.0.0.1:2/validate",
    )
