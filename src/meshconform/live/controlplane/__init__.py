"""The ``controlplane`` cluster: a real Kubernetes control plane and a real istiod as processes.

- :mod:`.binaries`: what each piece is built from (tools/ wrapper modules, Debian's etcd);
- :mod:`.pki`: the cluster's certificates and keys, fresh per cluster;
- :mod:`.processes`: start, watch and stop processes by PID (die with the run);
- :mod:`.cluster`: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok;
- :mod:`.istiod`: istiod as a process, with the rendered Deployment's env;
- :mod:`.provider`: one control plane per mode for the live tier, and Istio on it.

What it can and cannot give as evidence: meshconform.evidence and docs/controlplane.md.
"""
