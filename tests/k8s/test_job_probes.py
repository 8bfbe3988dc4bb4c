"""The worker's and beat's probes, as rendered, run against a real worker and beat on Redis.

No cluster here: the rendered containers' command lines start the processes (with this
virtualenv's interpreter for the image's ``python``), and each probe's exec command runs as
the kubelet runs it (``sh -c``, ``HOSTNAME`` the pod's host name: here, this machine's).
A probe must pass against the running process and fail when its node does not answer.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.k8s.render import Object, containers, pod_templates, render
from tests.support.backing_services import REDIS_URL, reachable, require
from tests.support.jobs import (
    BEAT_READY,
    WORKER_READY,
    jobs_env,
    started,
    terminate,
    wait_ready,
)
from tests.support.ports import free_port
from tests.support.servers import REPO_ROOT, server_environment

pytestmark = pytest.mark.e2e

PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
NO_ANSWER_EXIT = 69  # `celery inspect`: no node replied (EX_UNAVAILABLE)


def _container(deployment: str) -> Object:
    pod = next(
        pod
        for pod in pod_templates(render("dev"))
        if pod.kind == "Deployment" and pod.owner["metadata"]["name"] == deployment
    )
    return next(container.spec for container in containers(pod) if not container.init)


def _command(container: Object) -> list[str]:
    """The container's command with this virtualenv's interpreter for the image's python."""
    command = list(container["command"])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def _probe(
    container: Object, probe: str, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    command = container[probe]["exec"]["command"]
    return subprocess.run(  # the manifest's own probe command
        command,
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=container[probe]["timeoutSeconds"],
        check=False,
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Worker and beat settings on the test Redis; ``celery`` on PATH as in the image."""
    require("redis", reachable(REDIS_URL, default_port=6379))
    directory = tmp_path_factory.mktemp("job-probes")
    settings = {
        **jobs_env(directory, broker_url=REDIS_URL),
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        "HOSTNAME": socket.gethostname(),  # what %h expands to, as in a pod
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    settings.pop("CELERY_WORKER_POOL")  # the manifests' default: prefork
    return server_environment(settings, port=free_port(), directory=directory)


def test_the_rendered_probes_pass_against_a_running_worker_and_beat(
    env: dict[str, str], tmp_path: Path
) -> None:
    worker, beat = _container("todo-worker"), _container("todo-beat")
    with (
        started(_command(worker), env, tmp_path / "worker.log") as worker_process,
        started(_command(beat), env, tmp_path / "beat.log") as beat_process,
    ):
        wait_ready(worker_process, "worker", WORKER_READY)
        wait_ready(beat_process, "beat", BEAT_READY)
        try:
            for container in (worker, beat):
                for probe in PROBES:
                    result = _probe(container, probe, env)
                    assert result.returncode == 0, (container["name"], probe, result.stderr)
        finally:
            terminate(worker_process.process, beat_process.process)


def test_a_probe_fails_when_its_node_does_not_answer(env: dict[str, str]) -> None:
    """No process of that name (a stopped or stuck worker): the ping gets no reply."""
    readiness = _container("todo-worker")["readinessProbe"]
    *shell, script = readiness["exec"]["command"]
    # the same command with a 1 s wait for replies instead of 10 s
    quick = {
        "readinessProbe": {
            **readiness,
            "exec": {"command": [*shell, script.replace("--timeout 10", "--timeout 1")]},
        }
    }
    result = _probe(quick, "readinessProbe", {**env, "HOSTNAME": "todo-worker-gone"})
    assert result.returncode == NO_ANSWER_EXIT, result.stderr
