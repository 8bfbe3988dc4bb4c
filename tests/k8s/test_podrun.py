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


def _slow_todo_reads(pod: RunningPod) -> dict[str, str]:
    """Make GET /api/todos/ take 4 s through the runtime fault switch, as a staff user made
    in the container (`kubectl exec` would do the same); returns that user's headers."""
    admin = {"username": f"staff-{secrets.token_hex(3)}", "password": secrets.token_urlsafe(16)}
    pod.runner.docker.call(
        "exec", pod.started.run.name, "python", "manage.py", "ensure_demo_user", "--staff",
        "--username", admin["username"], "--password", admin["password"], "--base-url", pod.url,
    )  # fmt: skip
    token = http("POST", f"{pod.url}/api/auth/token/", json_body=admin, headers=pod.headers)
    auth = {**pod.headers, "Authorization": f"Bearer {token.body['access']}"}
    fault = {"latency_ms": 4000, "routes": ["/api/todos/"]}
    switched = http("PUT", f"{pod.url}/api/faults/", json_body=fault, headers=auth)
    assert switched.status == 200, switched
    time.sleep(1.5)  # every worker polls the switch within a second
    return auth


def test_sigterm_after_prestop_drains_in_flight_requests(running_pod: RunningPod) -> None:
    """Last: it stops the pod. On dev, two 4 s requests are in flight when SIGTERM comes (one
    per worker); production refuses the fault switch, so there it is the stop alone."""
    answers: list[Response] = []
    timer: threading.Timer | None = None
    pre_stop = running_pod.started.container["lifecycle"]["preStop"]["sleep"]["seconds"]
    if running_pod.overlay == "dev":
        auth = _slow_todo_reads(running_pod)

        def slow_requests() -> None:
            for _ in range(2):
                threading.Thread(
                    target=lambda: answers.append(
                        http("GET", f"{running_pod.url}/api/todos/", headers=auth, timeout=30)
                    )
                ).start()

        # Sent 1 s before the preStop delay ends: accepted, and 3 s from done at SIGTERM.
        timer = threading.Timer(pre_stop - 1.0, slow_requests)
        timer.start()
    stopped = running_pod.runner.stop(running_pod.started)
    if timer is not None:
        assert [answer.status for answer in answers] == [200, 200], answers
    assert stopped.exit_code == 0, running_pod.runner.docker.logs(running_pod.started.run.name)
    assert stopped.pre_stop_s >= pre_stop
    assert stopped.seconds < stopped.grace_s
