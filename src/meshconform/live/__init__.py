"""The live tier: clusters (kind, an existing kubeconfig, or the control plane as
processes), the Istio install, the Kubernetes client and failure artifacts."""
