"""The dev and production overlays' pods run under Docker exactly as rendered (issue 18):
the migration Job completes, the init container passes, the probes pass on the ports and paths
the spec names, the API serves a smoke run, the metrics port counts it, the collector gets its
spans, and SIGTERM after the preStop delay drains in-flight requests within the grace period.
"""

from __future__ import annotations

import json
import secrets
import threading
import time

import pytest

from tests.k8s.conftest import RunningPod
from tests.support import pods
from tests.support.http import Response, http
from tests.support.waiting import poll

# A sampled W3C parent: production keeps 10 % of new traces, and every child of a sampled one.
TRACEPARENT = "00-{trace}-{span}-01"


def _inspect(pod: RunningPod) -> dict[str, object]:
    raw = pod.runner.docker.call("inspect", pod.started.run.name)
    return dict(json.loads(raw)[0])


def test_the_api_container_runs_with_the_specs_security_context(running_pod: RunningPod) -> None:
    host = _inspect(running_pod)["HostConfig"]
    config = _inspect(running_pod)["Config"]
    assert isinstance(host, dict)
    assert isinstance(config, dict)
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert config["User"] == "10001:10001"
    assert set(host["Tmpfs"]) == {"/tmp", "/run/metrics"}  # noqa: S108  (the two emptyDirs)
    assert host["NetworkMode"] == "host"
    processes = running_pod.runner.docker.call("exec", running_pod.started.run.name, "id", "-u")
    assert processes.strip() == "10001"


def test_the_probes_pass_within_their_thresholds(running_pod: RunningPod) -> None:
    startup = running_pod.started.container["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert running_pod.started.startup_s < budget
    assert running_pod.started.ports == {"http": 8000, "metrics": 9464}


def test_the_api_answers_a_smoke_run(running_pod: RunningPod) -> None:
    answers = pods.smoke(running_pod.url, running_pod.headers)
    assert [answer.status for answer in answers] == [201, 200, 201, 200, 200, 200, 204, 404]


def test_the_metrics_port_serves_the_request_metrics(running_pod: RunningPod) -> None:
    pods.smoke(running_pod.url, running_pod.headers)
    metrics = http("GET", running_pod.metrics_url)
    assert metrics.status == 200
    assert 'django_http_responses_total_by_status_view_method_total{method="POST"' in metrics.body
    assert 'view="todo-list"' in metrics.body or "todo-list" in metrics.body


def test_the_collector_receives_the_pods_spans(running_pod: RunningPod) -> None:
    trace = secrets.token_hex(16)
    headers = {
        **running_pod.headers,
        "traceparent": TRACEPARENT.format(trace=trace, span=secrets.token_hex(8)),
    }
    answer = http("GET", f"{running_pod.url}/api/todos/", headers=headers)
    assert answer.status == 401  # no token: still a server span
    spans = poll(
        lambda: [s for s in running_pod.collector.spans if s.trace_id == trace],
        bool,
        timeout=15,
        failure=lambda _: f"no span of trace {trace} reached the collector",
    )
    server = next(span for span in spans if span.kind == "SERVER")
    assert server.resource["service.name"] == "todo-api"
    assert (
        server.resource["k8s.namespace.name"] == running_pod.started.owner["metadata"]["namespace"]
    )
    assert server.resource["k8s.pod.name"].startswith("todo-api-")


def test_sigterm_after_prestop_drains_in_flight_requests(running_pod: RunningPod) -> None:
    """Last: it stops the pod. Dev only lets staff add latency (production refuses faults)."""
    if running_pod.overlay != "dev":
        pytest.skip("fault latency is refused in production; the drain is shown on dev")
    name = running_pod.started.run.name
    admin = {"username": f"staff-{secrets.token_hex(3)}", "password": secrets.token_urlsafe(16)}
    running_pod.runner.docker.call(
        "exec", name, "python", "manage.py", "ensure_demo_user", "--staff",
        "--username", admin["username"], "--password", admin["password"],
        "--base-url", running_pod.url,
    )  # fmt: skip
    token = http(
        "POST", f"{running_pod.url}/api/auth/token/", json_body=admin, headers=running_pod.headers
    )
    auth = {**running_pod.headers, "Authorization": f"Bearer {token.body['access']}"}
    switched = http(
        "PUT",
        f"{running_pod.url}/api/faults/",
        json_body={"latency_ms": 4000, "routes": ["/api/todos/"]},
        headers=auth,
    )
    assert switched.status == 200, switched
    time.sleep(1.5)  # every worker polls the switch within a second
    answers: list[Response] = []

    def slow_request() -> None:
        answers.append(http("GET", f"{running_pod.url}/api/todos/", headers=auth, timeout=30))

    pre_stop = running_pod.started.container["lifecycle"]["preStop"]["sleep"]["seconds"]
    # In flight when SIGTERM comes: sent 1 s before the preStop delay ends, 4 s to answer.
    timer = threading.Timer(
        pre_stop - 1.0, lambda: [threading.Thread(target=slow_request).start() for _ in range(2)]
    )
    timer.start()
    stopped = running_pod.runner.stop(running_pod.started)
    assert [answer.status for answer in answers] == [200, 200], answers
    assert stopped.exit_code == 0
    assert stopped.pre_stop_s >= pre_stop
    assert stopped.seconds < stopped.grace_s
