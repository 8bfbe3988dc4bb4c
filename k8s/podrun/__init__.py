"""Run a rendered pod spec with Docker, as a kubelet would (issue 18).

`kubectl kustomize` output in, containers out: the migration Job, then a Deployment's init
and main containers, each started with `docker run` exactly as its spec says (spec.py), its
probes checked with the kubelet's rules (probes.py), orchestrated by pod.py. The node is this
machine: the host network, Service names mapped to 127.0.0.1, Secrets written as files.
"""
