"""The pure parts of the Istio install: command line, version detection, webhook, gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshconform.errors import ProvisioningError
from meshconform.live.clusters import GatewayEndpoint
from meshconform.live.istio import (
    gateway_from_service,
    gateway_nodeport_problem,
    image_tag,
    install_argv,
    installed_version,
    istio_validators,
    webhook_decision,
)
from meshconform.live.kube import parse_exec_status
from meshconform.modes import MODES
from meshconform.versions import ISTIO_HUB, ISTIO_RELEASES
from meshconform.wait import Done, Failed, Pending


def test_install_command_line() -> None:
    mode = MODES["ambient"]
    argv = install_argv(Path("/bin/istioctl"), mode, ISTIO_RELEASES["1.30"], Path("/s/k"),
                        "kind-meshconform-ambient")
    layered = install_argv(Path("/bin/istioctl"), mode, ISTIO_RELEASES["1.30"], Path("/s/k"),
                           None, files=[Path("/u/team.yaml")], sets=["values.x=1"])
    assert layered[3:7] == ["-f", str(mode.istio_overlay), "-f", "/u/team.yaml"]
    assert layered[-4:] == ["--set", "values.x=1", "--kubeconfig", "/s/k"]
    assert argv == ["/bin/istioctl", "install", "-y", "-f", str(mode.istio_overlay),
                    "--set", f"hub={ISTIO_HUB}", "--set", "tag=1.30.3",
                    "--kubeconfig", "/s/k", "--context", "kind-meshconform-ambient"]
    # the install waits with istioctl's own readiness limit, named after the suite's timeout
    timed = install_argv(Path("/bin/istioctl"), mode, ISTIO_RELEASES["1.30"], Path("/s/k"),
                         None, readiness_timeout=300.0)
    assert timed[-2:] == ["--readiness-timeout", "300s"]
    assert "--context" not in timed


def test_installed_version_reads_istiods_image() -> None:
    istiod = {"spec": {"template": {"spec": {"containers": [
        {"name": "discovery", "image": "docker.io/istio/pilot:1.30.3-distroless"}]}}}}
    assert installed_version(istiod) == "1.30.3"
    assert installed_version(None) is None
    assert image_tag("localhost:5000/istio/pilot") is None
    assert image_tag("gcr.io/istio-release/pilot:1.29.6@sha256:abc") == "1.29.6"


def test_webhook_decision() -> None:
    """Defect 3 (issue 10): an ADMITTED invalid probe means not ready, never ready.

    The former wait dry-ran a valid object and took admission as readiness; an
    unlabelled object is only seen by the default validator, which fails open until
    istiod answers, so admission proved nothing (shared/research/controlplane.md).
    """
    admitted = webhook_decision(None)
    assert isinstance(admitted, Pending)
    assert "admitted" in admitted.state
    refused = ('500 Internal Server Error: Internal error occurred: failed calling webhook '
               '"validation.istio.io": failed to call webhook: Post "https://istiod.istio-system'
               '.svc:443/validate?timeout=10s": dial tcp 10.96.1.2:443: connect: '
               'connection refused')
    assert isinstance(webhook_decision(refused), Pending)
    denied = ('400 Bad Request: admission webhook "validation.istio.io" denied the request: '
              'configuration is invalid')
    decided = webhook_decision(denied)
    assert isinstance(decided, Done)
    assert "denied the request" in decided.value
    assert isinstance(webhook_decision("403 Forbidden: peerauthentications is forbidden"), Failed)


def validating_config(name: str, *hooks: str) -> dict[str, Any]:
    """A ValidatingWebhookConfiguration as the API server returns it (fields trimmed)."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name, "labels": {"app": "istiod", "istio": "istiod"}},
        "webhooks": [{"name": hook, "admissionReviewVersions": ["v1"], "failurePolicy": "Ignore",
                      "sideEffects": "None", "clientConfig": {"service": {
                          "name": "istiod", "namespace": "istio-system", "path": "/validate",
                          "port": 443}}} for hook in hooks],
    }


def test_istio_validators_found_only_among_istio_webhooks() -> None:
    default = validating_config("istiod-default-validator", "validation.istio.io")
    revision = validating_config("istio-validator-istio-system", "rev.validation.istio.io")
    other = validating_config("cert-manager-webhook", "webhook.cert-manager.io")
    assert istio_validators([other, default, revision]) == [
        "validation.istio.io", "rev.validation.istio.io"]
    # global.configValidation=false renders neither: nothing will ever deny
    assert istio_validators([other]) == []
    assert istio_validators([validating_config("empty")]) == []


def service(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
        "spec": {"type": "NodePort", "externalTrafficPolicy": "Cluster", "ports": [
            {"name": "status-port", "port": 15021, "targetPort": 15021, "nodePort": 30021,
             "protocol": "TCP"},
            {"name": "http2", "port": 80, "targetPort": 8080, "nodePort": 30080,
             "protocol": "TCP"},
            {"name": "https", "port": 443, "targetPort": 8443, "nodePort": 30443,
             "protocol": "TCP"}]},
        "status": status or {"loadBalancer": {}},
    }


NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
        "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.3"},
                                 {"type": "Hostname", "address": "n1"}]}}


def test_gateway_nodeports_must_match_the_kind_mapping() -> None:
    assert gateway_nodeport_problem(service()) is None
    wrong = service()
    wrong["spec"]["ports"][1]["nodePort"] = 31234
    assert "30080" in str(gateway_nodeport_problem(wrong))
    local = service()
    local["spec"]["externalTrafficPolicy"] = "Local"
    assert "externalTrafficPolicy Local" in str(gateway_nodeport_problem(local))
    assert "does not exist" in str(gateway_nodeport_problem(None))


def test_gateway_of_an_existing_cluster() -> None:
    lb = service(loadBalancer={"ingress": [{"ip": "203.0.113.7", "ipMode": "VIP"}]})
    assert gateway_from_service(lb, [NODE]) == GatewayEndpoint("203.0.113.7", 80, 443, 15021)
    assert gateway_from_service(service(), [NODE]) == GatewayEndpoint("172.18.0.3", 30080,
                                                                      30443, 30021)
    with pytest.raises(ProvisioningError, match="no address"):
        gateway_from_service(service(), [])


def test_exec_status_channel() -> None:
    assert parse_exec_status('{"metadata":{},"status":"Success"}') == (0, "")
    nonzero = ('{"metadata":{},"status":"Failure","message":"command terminated with non-zero '
               'exit code: error executing command [sh -c exit 7], exit code 7","reason":'
               '"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}')
    assert parse_exec_status(nonzero)[0] == 7
    missing = ('{"metadata":{},"status":"Failure","message":"failed to exec in container: '
               'exec: \\"nope\\": executable file not found in $PATH","reason":"InternalError"}')
    rc, message = parse_exec_status(missing)
    assert rc == -1
    assert "executable file not found" in message
    assert parse_exec_status("")[0] == -1
