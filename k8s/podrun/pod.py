"""Run a rendered workload's pod on this machine as a kubelet would, one container at a time.

``PodRunner`` takes the objects of `kubectl kustomize`, a Node (Secrets, scratch directory)
and a local image, and: runs a Job's container to completion; runs a Deployment's init
containers to completion, in order; starts its main container and checks its startup, then
readiness and liveness probes; stops it as the kubelet does (preStop hook, SIGTERM, SIGKILL
after terminationGracePeriodSeconds). Every failure raises PodError with the container's
log tail. Containers share the host network, so the spec's ports are the host's ports.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from k8s.podrun.docker import Docker
from k8s.podrun.probes import ProbeError, probe, run_until_settled
from k8s.podrun.spec import DockerRun, Node, Pod, SpecError, docker_run

Object = dict[str, Any]
POLL_S = 0.2


class PodError(Exception):
    """The pod did not do what its spec says it does (a kubelet would report the same)."""


@dataclass(frozen=True)
class Started:
    """A running main container: its docker run, and how long its probes took to pass."""

    run: DockerRun
    container: Object
    owner: Object
    startup_s: float
    ready_s: float

    @property
    def ports(self) -> dict[str, int]:
        """The container's named ports (the host's, on the host network)."""
        return {p["name"]: int(p["containerPort"]) for p in self.container.get("ports") or []}


@dataclass(frozen=True)
class Stopped:
    """How a container ended: exit code, seconds from the stop request, the preStop delay."""

    exit_code: int
    seconds: float
    pre_stop_s: float
    grace_s: float


def find(objects: Sequence[Object], kind: str, name: str) -> Object:
    """The rendered object of ``kind`` called ``name``."""
    found = [o for o in objects if o.get("kind") == kind and o["metadata"]["name"] == name]
    if len(found) != 1:
        raise SpecError(f"expected one {kind}/{name} in the render, found {len(found)}")
    return found[0]


def port_in_use(port: int) -> bool:
    """True when something listens on 127.0.0.1:``port``."""
    with socket.socket() as probe_socket:
        probe_socket.settimeout(0.5)
        return probe_socket.connect_ex(("127.0.0.1", port)) == 0


class PodRunner:
    """Runs the pods of one render; removes every container it started on ``close()``."""

    def __init__(
        self, objects: Sequence[Object], *, node: Node, image: str | None, docker: Docker
    ) -> None:
        self.objects = list(objects)
        self.node = node
        self.image = image
        self.docker = docker
        self.run_id = secrets.token_hex(3)
        self._started: list[str] = []

    def __enter__(self) -> PodRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every container this runner started."""
        for name in reversed(self._started):
            self.docker.remove(name)
        self._started.clear()

    # ------------------------------------------------------------------ building blocks
    def _pod(self, owner: Object) -> Pod:
        name = owner["metadata"]["name"]
        suffix = secrets.token_hex(3) if owner["kind"] == "Job" else f"5d8f7c-{self.run_id}"
        return Pod(
            name=f"{name}-{suffix}",
            namespace=owner["metadata"].get("namespace") or "default",
            node=socket.gethostname(),
        )

    def _start(self, owner: Object, container: Object, pod: Pod) -> DockerRun:
        name = f"podrun-{self.run_id}-{owner['metadata']['name']}-{container['name']}"
        self.docker.remove(name)
        run = docker_run(
            objects=self.objects,
            owner=owner,
            container=container,
            pod=pod,
            node=self.node,
            image=self.image,
            run_name=name,
        )
        self._started.append(name)
        self.docker.call(*run.command()[1:], timeout=120)
        return run

    def _gone(self, name: str) -> str | None:
        status, code = self.docker.state(name)
        return None if status in {"running", "created"} else f"{status} (exit code {code})"

    def _wait_exit(self, name: str, deadline_s: float) -> int:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            status, code = self.docker.state(name)
            if status in {"exited", "dead"}:
                return code
            time.sleep(POLL_S)
        raise PodError(f"{name} still running after {deadline_s:g}s\n{self.docker.logs(name)}")

    def _run_to_completion(self, owner: Object, container: Object, pod: Pod, limit: float) -> None:
        run = self._start(owner, container, pod)
        code = self._wait_exit(run.name, limit)
        if code != 0:
            raise PodError(
                f"{owner['kind']}/{owner['metadata']['name']} container {container['name']} "
                f"exited {code}\n{self.docker.logs(run.name)}"
            )

    # ------------------------------------------------------------------ what a kubelet does
    def run_job(self, name: str) -> None:
        """Run the Job's pod to completion within activeDeadlineSeconds. A failure is
        reported at once (the Job controller would retry up to backoffLimit times)."""
        job = find(self.objects, "Job", name)
        limit = float(job["spec"].get("activeDeadlineSeconds", 600))
        pod = self._pod(job)
        for container in job["spec"]["template"]["spec"]["containers"]:
            self._run_to_completion(job, container, pod, limit)

    def start_deployment(self, name: str, *, init_deadline_s: float = 120) -> Started:
        """Init containers to completion, in order, then the main container with its
        startup probe, then readiness and liveness; returns once the pod is Ready."""
        deployment = find(self.objects, "Deployment", name)
        pod_spec = deployment["spec"]["template"]["spec"]
        pod = self._pod(deployment)
        main = pod_spec["containers"][0]
        # Check the probes' ports before anything runs (a named port that does not exist fails
        # every probe; no need to wait failureThreshold periods to say so).
        try:
            checks = {kind: probe(main, kind) for kind in ("startupProbe", "readinessProbe")}
            liveness = probe(main, "livenessProbe")
        except SpecError as error:
            raise PodError(str(error)) from None
        for declared in main.get("ports") or []:
            if port_in_use(int(declared["containerPort"])):
                raise PodError(
                    f"port {declared['containerPort']} ({declared.get('name')}) is in use on "
                    "this machine: the pod runs in the host network and needs it free"
                )
        for init in pod_spec.get("initContainers") or []:
            self._run_to_completion(deployment, init, pod, init_deadline_s)
        run = self._start(deployment, main, pod)
        logs = lambda: self.docker.logs(run.name)  # noqa: E731
        alive = lambda: self._gone(run.name)  # noqa: E731
        try:
            startup, readiness = checks["startupProbe"], checks["readinessProbe"]
            startup_s = run_until_settled(startup, alive=alive, logs=logs) if startup else 0.0
            ready_s = run_until_settled(readiness, alive=alive, logs=logs) if readiness else 0.0
            if liveness:
                run_until_settled(liveness, alive=alive, logs=logs)
        except ProbeError as error:
            raise PodError(str(error)) from None
        return Started(run, main, deployment, startup_s, ready_s)

    def stop(self, started: Started) -> Stopped:
        """The kubelet's stop: the preStop hook, then SIGTERM, then SIGKILL once
        terminationGracePeriodSeconds (counted from the start of preStop) have passed."""
        pod_spec = started.owner["spec"]["template"]["spec"]
        grace = float(pod_spec.get("terminationGracePeriodSeconds", 30))
        began = time.monotonic()
        pre_stop = (started.container.get("lifecycle") or {}).get("preStop") or {}
        if "sleep" in pre_stop:
            time.sleep(float(pre_stop["sleep"]["seconds"]))
        elif pre_stop:
            raise SpecError(f"preStop {sorted(pre_stop)} is not run here (only sleep)")
        pre_stop_s = time.monotonic() - began
        self.docker.call("kill", "--signal", "TERM", started.run.name)
        try:
            code = self._wait_exit(started.run.name, max(0.0, grace - pre_stop_s))
        except PodError:
            self.docker.call("kill", "--signal", "KILL", started.run.name)
            raise PodError(
                f"{started.run.name} ignored SIGTERM past terminationGracePeriodSeconds "
                f"({grace:g}s): killed\n{self.docker.logs(started.run.name)}"
            ) from None
        return Stopped(code, time.monotonic() - began, pre_stop_s, grace)
