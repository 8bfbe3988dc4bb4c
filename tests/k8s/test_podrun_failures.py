"""A broken manifest is caught by the pod runner (issue 18): a probe on a wrong path, a probe
on a port name the container does not declare, and a container without one of its emptyDirs
each make the run fail, saying what is wrong."""

from __future__ import annotations

import pytest

from tests.k8s.conftest import BrokenRun
from tests.support.pods import with_probe, without_mount


def test_a_probe_on_a_wrong_path_fails_the_pod(broken_run: BrokenRun) -> None:
    # failureThreshold 3 instead of 30: the kubelet's verdict in 6 s instead of 60 s.
    error = broken_run(with_probe("startupProbe", path="/healthz-typo", failureThreshold=3), "api")
    assert "startupProbe failed 3 times in a row (every 2s)" in error
    assert "GET http://127.0.0.1:8000/healthz-typo -> HTTP 404" in error


def test_a_probe_on_a_wrong_named_port_fails_the_pod(broken_run: BrokenRun) -> None:
    error = broken_run(with_probe("readinessProbe", port="htpp"), "api")
    assert "readinessProbe: no port named 'htpp'" in error
    assert "['http', 'metrics']" in error


@pytest.mark.parametrize(
    ("what", "kind", "name"),
    [("api", "Deployment", "todo-api"), ("job", "Job", "todo-api-migrate")],
)
def test_a_container_without_its_metrics_emptydir_fails_naming_the_mount(
    broken_run: BrokenRun, what: str, kind: str, name: str
) -> None:
    """prometheus_client writes every process's samples under PROMETHEUS_MULTIPROC_DIR
    (/run/metrics): on the read-only root the first metric created fails, naming the file."""
    error = broken_run(without_mount("metrics", kind=kind, name=name), what)
    assert "Read-only file system: '/run/metrics/" in error


# Not tested as needed: the API container without its /tmp emptyDir starts, passes its probes
# and serves (gunicorn's heartbeat files are in /dev/shm, gunicorn.conf.py). /tmp stays mounted
# for whatever writes temporary files (HOME=/tmp); see README "Run the pod spec".
