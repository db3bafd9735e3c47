"""Bad input is one clear message naming the fix, raised before anything is created."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshconform.errors import UsageError
from meshconform.modes import MODES
from meshconform.options import parse_options
from meshconform.versions import DEFAULT_ISTIO, ISTIO_RELEASES


def test_defaults_are_all_modes_offline_tiers_and_the_default_istio() -> None:
    options = parse_options()
    assert [m.name for m in options.modes] == list(MODES)
    assert options.tiers == ("static", "dataplane")
    assert [r.minor for r in options.istio] == [DEFAULT_ISTIO]
    assert not options.live


def test_modes_accept_all_lists_and_repeats_in_catalog_order() -> None:
    options = parse_options(mesh_modes=["ambient,sidecar", "sidecar"])
    assert [m.name for m in options.modes] == ["sidecar", "ambient"]


def test_istio_accepts_minor_patch_and_all() -> None:
    assert parse_options(istio_versions=["1.31.0"]).istio[0].minor == "1.31"
    assert len(parse_options(istio_versions=["all"]).istio) == len(ISTIO_RELEASES)


@pytest.mark.parametrize(("kwargs", "problem", "fix"), [
    ({"mesh_modes": ["sidecars"]}, "unknown mesh mode 'sidecars'", "native-sidecar"),
    ({"tiers": ["e2e"]}, "unknown tier 'e2e'", "static, dataplane, live"),
    ({"istio_versions": ["1.18"]}, "Istio version '1.18' is not supported", "1.30 (1.30.3)"),
    ({"istio_versions": ["1.30.9"]}, "Istio version '1.30.9' is not supported", "1.30"),
    ({"product": "nope"}, "unknown product 'nope'", "Use one of"),
    ({"kubernetes": "1.20"}, "no pinned kind node image for Kubernetes '1.20'", "1.35"),
    ({"kubeconfig": "/nonexistent/kubeconfig"}, "kubeconfig /nonexistent/kubeconfig does not exist",
     "drop --kubeconfig"),
    ({"context": "kind-x"}, "--context needs --kubeconfig", "kubeconfig"),
    ({"tiers": ["live"], "istio_versions": ["1.30", "1.31"]},
     "the live tier installs one Istio version per run", "single --istio-version"),
    ({"timeout_scale": 0}, "--timeout-scale must be positive", "2"),
    ({"binaries": {"kind": "/nonexistent/kind"}}, "--kind /nonexistent/kind is not a file", "kind"),
])
def test_bad_input_names_the_problem_and_the_fix(
    kwargs: dict[str, object], problem: str, fix: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_options(**kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith("meshconform: ")
    assert problem in message
    assert fix in message
    assert "\n" not in message


def test_kubeconfig_with_several_live_modes_is_refused(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    with pytest.raises(UsageError, match="names one cluster"):
        parse_options(kubeconfig=str(kubeconfig), tiers=["live"], mesh_modes=["all"])
    options = parse_options(kubeconfig=str(kubeconfig), tiers=["live"], mesh_modes=["cni"])
    assert options.existing_cluster
    with pytest.raises(UsageError, match="never deleted"):
        parse_options(kubeconfig=str(kubeconfig), keep_cluster=True, mesh_modes=["cni"])
