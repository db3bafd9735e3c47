"""The static tier: the real istioctl of the version under test, no cluster.

``istioctl manifest generate`` per mode, ``istioctl kube-inject`` with that install's
injector config, ``istioctl analyze`` of the suite's Istio resources, schema
validation of the install, and pure evaluators that turn what istioctl produced
into an outcome per claim. See docs/static.md.
"""
