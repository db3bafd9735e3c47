"""Every pinned version in one place: Istio releases, the tools, the kind node images.

Change a version here and nowhere else. Sources are given per entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshconform.errors import UsageError


@dataclass(frozen=True)
class Substitution:
    """A dependency pin of an Istio Go ref that the build replaces (wrapper go.mod ``replace``).

    The release's ``go.mod`` requires ``module`` at ``pinned``; the Go module proxy refuses
    that version, so ``tools/istio/<minor>/go.mod`` replaces the module with ``used``.
    """

    module: str
    pinned: str
    used: str
    #: why ``used`` and not another served version
    reason: str

    def sentence(self) -> str:
        return f"{self.module} {self.used} instead of {self.pinned}"


@dataclass(frozen=True)
class IstioRelease:
    """One supported Istio minor release and how the suite obtains its istioctl."""

    minor: str
    #: the patch release installed by the live tier (images, release istioctl)
    release: str
    #: Kubernetes minors this release supports (istio.io supportStatus.yml)
    kubernetes: tuple[str, ...]
    #: ``go install istio.io/istio/istioctl/cmd/istioctl@<go_ref>`` for the static tier.
    #: Istio's tags are not Go semver, so a release is pinned by a pseudo-version.
    go_ref: str
    #: what ``go_ref`` is, in words, for the report (a branch snapshot is not the tag)
    go_ref_note: str
    #: dependency pins of ``go_ref`` the build replaces; each is a ``replace`` directive in
    #: ``tools/istio/<minor>/go.mod`` (tests/static/test_build.py checks that they agree)
    substitutions: tuple[Substitution, ...] = ()

    def build_note(self, binary: str = "istioctl") -> str:
        """The source build of ``binary`` in words, every substitution included, for reports."""
        note = f"{binary} {self.minor} built from {self.go_ref_note}"
        if self.substitutions:
            note += " with " + ", ".join(s.sentence() for s in self.substitutions)
            note += " (the Go module proxy refuses the pinned versions)"
        return note


ISTIO_RELEASES: dict[str, IstioRelease] = {
    r.minor: r
    for r in (
        IstioRelease(
            minor="1.29",
            release="1.29.6",
            kubernetes=("1.31", "1.32", "1.33", "1.34", "1.35"),
            # tag 1.29.6 = commit 7019d6d3608e (2026-07-13). The Go module proxy
            # reachable from the project's machines answers 403 "This module
            # version is not available" for it (checked 2026-11-23).
            go_ref="v0.0.0-20260713140233-7019d6d3608e",
            go_ref_note="tag 1.29.6 (commit 7019d6d3608e)",
        ),
        IstioRelease(
            minor="1.30",
            release="1.30.3",
            kubernetes=("1.32", "1.33", "1.34", "1.35", "1.36"),
            # release-1.30 branch at 9739e10eb9d7 (2026-08-26), VERSION file "1.30":
            # newer than tag 1.30.3 (56df41f63e51, 2026-07-13), which the proxy refuses.
            # The module is served, but the proxy answers 403 "This module version is not
            # available" for five pseudo-versions its go.mod pins (checked 2026-12-02); the
            # wrapper module tools/istio/1.30 replaces each with the nearest served version.
            go_ref="v0.0.0-20260826214018-9739e10eb9d7",
            go_ref_note="release-1.30 branch snapshot 9739e10eb9d7 (2026-08-26, after 1.30.3)",
            substitutions=(
                Substitution(
                    "istio.io/api",
                    "v1.30.4-0.20260824163423-69099aec2678",
                    "v1.30.8",
                    "the only 1.30 release the proxy lists; same release line",
                ),
                Substitution(
                    "istio.io/client-go",
                    "v1.30.4-0.20260824164123-eb36a3f6cac0",
                    "v1.30.8",
                    "the only 1.30 release the proxy lists; matches istio.io/api v1.30.8",
                ),
                Substitution(
                    "github.com/envoyproxy/go-control-plane/envoy",
                    "v1.37.1-0.20260409083702-98966259b99a",
                    "v1.38.0",
                    "v1.37.0 lacks packages the snapshot imports",
                ),
                Substitution(
                    "github.com/envoyproxy/go-control-plane/contrib",
                    "v1.36.1-0.20260409083702-98966259b99a",
                    "v1.36.1-0.20260713214202-ca8ce173c36f",
                    "no tagged release is served; the pseudo-version the 1.31 build uses",
                ),
                Substitution(
                    "github.com/agentgateway/agentgateway/api",
                    "v0.0.0-20260506232448-6ae4ab07bb06",
                    "v0.0.0-20260501213430-773586679f1c",
                    "no release is served; the pseudo-version the 1.31 build uses",
                ),
            ),
        ),
        IstioRelease(
            minor="1.31",
            release="1.31.0",
            kubernetes=("1.32", "1.33", "1.34", "1.35", "1.36"),
            # release-1.31 branch at eed52ebb66ad (2026-08-27), VERSION file "1.31",
            # after tag 1.31.0-rc.0 (423f108b5459) and before the 1.31.0 release.
            go_ref="v0.0.0-20260827124520-eed52ebb66ad",
            go_ref_note="release-1.31 branch snapshot eed52ebb66ad (2026-08-27, after 1.31.0-rc.0)",
        ),
    )
}

DEFAULT_ISTIO = "1.30"

#: Istio images for the live tier. Pinned explicitly: 1.30.x charts default to another hub.
ISTIO_HUB = "docker.io/istio"

KIND_VERSION = "v0.31.0"
#: kind v0.31.0 release notes, "Images pre-built for this release".
KIND_NODE_IMAGES: dict[str, str] = {
    "1.35": "kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f",
    "1.34": "kindest/node:v1.34.3@sha256:08497ee19eace7b4b5348db5c6a1591d7752b164530a36f855cb0f2bdcbadd48",
    "1.33": "kindest/node:v1.33.7@sha256:d26ef333bdb2cbe9862a0f7c3803ecc7b4303d8cea8e814b481b09949d353040",
    "1.32": "kindest/node:v1.32.11@sha256:5fc52d52a7b9574015299724bd68f183702956aa4a2116ae75a63cb574b35af8",
}
DEFAULT_KUBERNETES = "1.35"
KUBECTL_VERSION = "v1.35.0"

#: The ``controlplane`` cluster's kube-apiserver, kube-controller-manager and kube-scheduler:
#: k8s.io/kubernetes at this tag, built through the wrapper module tools/kube (its go.mod
#: requires the same tag and replaces each staging module with the matching v0.x release).
CONTROL_PLANE_KUBERNETES = "v1.35.4"
#: kwok (sigs.k8s.io/kwok) for the controlplane cluster's fake nodes; tools/kwok pins it.
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.17.3"


def get_istio_release(minor_or_patch: str) -> IstioRelease:
    """Return the supported release for ``1.30`` or ``1.30.3``, or raise a UsageError."""
    parts = minor_or_patch.strip().split(".")
    minor = ".".join(parts[:2])
    release = ISTIO_RELEASES.get(minor)
    if release is None or (len(parts) > 2 and minor_or_patch != release.release):
        supported = ", ".join(f"{r.minor} ({r.release})" for r in ISTIO_RELEASES.values())
        raise UsageError(
            f"Istio version {minor_or_patch!r} is not supported",
            f"Use one of: {supported}; or add it to src/meshconform/versions.py",
        )
    return release


def parse_releases(value: str) -> list[IstioRelease]:
    """``1.30``, ``1.30,1.31`` or ``all``: the releases a provisioning command builds."""
    if value == "all":
        return list(ISTIO_RELEASES.values())
    return [get_istio_release(v) for v in value.split(",") if v.strip()]


def node_image(kubernetes: str) -> str:
    """Return the pinned kind node image for a Kubernetes minor, or raise a UsageError."""
    image = KIND_NODE_IMAGES.get(kubernetes)
    if image is None:
        raise UsageError(
            f"no pinned kind node image for Kubernetes {kubernetes!r}",
            f"Use one of {', '.join(KIND_NODE_IMAGES)} (kind {KIND_VERSION})",
        )
    return image
