"""Pod and Job objects shaped exactly like the API's JSON (kubectl get -o json), trimmed."""

from __future__ import annotations

from typing import Any

T0 = "2026-03-01T10:00:00Z"


def running(started: str = T0, ready: bool = True, name: str = "app",
            started_flag: bool | None = True) -> dict[str, Any]:
    status: dict[str, Any] = {"name": name, "ready": ready, "restartCount": 0,
                              "image": "x", "imageID": "x", "containerID": "containerd://1",
                              "state": {"running": {"startedAt": started}}}
    if started_flag is not None:
        status["started"] = started_flag
    return status


def terminated(name: str = "app", code: int = 0, started: str = T0,
               finished: str = "2026-03-01T10:00:01Z") -> dict[str, Any]:
    return {"name": name, "ready": False, "restartCount": 0, "image": "x", "imageID": "x",
            "started": False, "containerID": "containerd://2",
            "state": {"terminated": {"exitCode": code,
                                     "reason": "Completed" if code == 0 else "Error",
                                     "startedAt": started, "finishedAt": finished,
                                     "containerID": "containerd://2"}}}


PROXY_CONTAINER = {
    "name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.30.3",
    "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
    "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
    "readinessProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021}},
}
NATIVE_PROXY = {**PROXY_CONTAINER, "restartPolicy": "Always",
                "startupProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021},
                                 "periodSeconds": 1, "failureThreshold": 600}}
HOLD_PROXY = {**PROXY_CONTAINER, "lifecycle": {"postStart": {"exec": {
    "command": ["pilot-agent", "wait"]}}}}
ISTIO_INIT = {"name": "istio-init", "image": "docker.io/istio/proxyv2:1.30.3",
              "args": ["istio-iptables", "-p", "15001"],
              "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}}}
APP = {"name": "app", "image": "curlimages/curl:8.11.1", "command": ["sh", "-c", "echo"]}
APP_INIT = {"name": "app-init", "image": "curlimages/curl:8.11.1", "command": ["true"]}


def pod(*, containers: list[dict[str, Any]], init: list[dict[str, Any]] | None = None,
        statuses: list[dict[str, Any]] | None = None,
        init_statuses: list[dict[str, Any]] | None = None, phase: str = "Running",
        injected: bool = True, name: str = "mc-job-abcde") -> dict[str, Any]:
    annotations = {"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'} if injected else {}
    status: dict[str, Any] = {
        "phase": phase, "hostIP": "172.18.0.2", "podIP": "10.244.1.7",
        "startTime": "2026-03-01T09:59:58Z",
        "conditions": [{"type": "PodScheduled", "status": "True",
                        "lastTransitionTime": "2026-03-01T09:59:58Z"}],
        "containerStatuses": statuses or [],
    }
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    spec: dict[str, Any] = {"containers": containers, "restartPolicy": "Never",
                            "serviceAccountName": "default"}
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "mc-ns", "uid": "u1",
                         "creationTimestamp": "2026-03-01T09:59:58Z",
                         "labels": {"job-name": "mc-job", "batch.kubernetes.io/job-name": "mc-job"},
                         "annotations": annotations},
            "spec": spec, "status": status}


def job(conditions: list[dict[str, Any]] | None = None, active: int = 1) -> dict[str, Any]:
    status: dict[str, Any] = {"startTime": "2026-03-01T09:59:58Z", "ready": 0,
                              "terminating": 0, "uncountedTerminatedPods": {}}
    if active:
        status["active"] = active
    if conditions:
        status["conditions"] = conditions
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "mc-job", "namespace": "mc-ns", "generation": 1},
            "spec": {"backoffLimit": 0, "completions": 1, "parallelism": 1},
            "status": status}


def complete(at: str = "2026-03-01T10:00:03Z") -> list[dict[str, Any]]:
    message = "Reached expected number of succeeded pods"
    return [{"type": kind, "status": "True", "lastTransitionTime": at, "lastProbeTime": at,
             "reason": "CompletionsReached", "message": message}
            for kind in ("SuccessCriteriaMet", "Complete")]
