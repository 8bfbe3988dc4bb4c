"""How the pod runner turns a rendered container into `docker run` (no Docker needed): the
kubelet's $(VAR) expansion, quantities, fieldRefs, Secret files, emptyDirs, security context,
and the probes' named ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from k8s.podrun.pod import find
from k8s.podrun.probes import probe
from k8s.podrun.spec import (
    Node,
    Pod,
    SpecError,
    docker_run,
    expand,
    quantity_bytes,
    quantity_cpus,
    rendered_secrets,
    service_hosts,
)
from tests.k8s.render import render

POD = Pod(name="todo-api-abc", namespace="todo-dev", node="node-1")


def test_expansion_follows_the_kubelet() -> None:
    env = {"POD_NAME": "p1"}
    assert expand("k8s.pod.name=$(POD_NAME)", env) == "k8s.pod.name=p1"
    assert expand("$(UNKNOWN) and $$(POD_NAME)", env) == "$(UNKNOWN) and $(POD_NAME)"


def test_quantities() -> None:
    assert quantity_bytes("64Mi") == 64 * 2**20
    assert quantity_bytes("1G") == 10**9
    assert quantity_cpus("250m") == 0.25
    assert quantity_cpus("1") == 1.0
    with pytest.raises(SpecError):
        quantity_bytes("lots")


def test_service_hosts_are_the_urls_host_names() -> None:
    values = ["postgres://u:p@postgres:5432/db", "http://127.0.0.1:1", "redis://redis:6379/0", "x"]
    assert service_hosts(values) == ["postgres", "redis"]


def test_the_dev_api_container_becomes_this_docker_run(tmp_path: Path) -> None:
    objects = render("dev")
    deployment = find(objects, "Deployment", "todo-api")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    node = Node(secrets=rendered_secrets(objects), workdir=tmp_path)
    run = docker_run(
        objects=objects, owner=deployment, container=container, pod=POD, node=node, run_name="r"
    )
    args = run.args
    assert args[args.index("--user") + 1] == "10001:10001"
    assert args[args.index("--group-add") + 1] == "10001"
    assert {"--read-only", "no-new-privileges"} <= set(args)
    assert args[args.index("--cap-drop") + 1] == "ALL"
    assert args[args.index("--memory") + 1] == str(512 * 2**20)
    tmpfs = [args[i + 1] for i, arg in enumerate(args) if arg == "--tmpfs"]
    assert [mount.split(":")[0] for mount in tmpfs] == ["/tmp", "/run/metrics"]  # noqa: S108
    assert f"size={32 * 2**20}" in tmpfs[1]
    assert run.env["OTEL_RESOURCE_ATTRIBUTES"] == (
        "k8s.pod.name=todo-api-abc,k8s.namespace.name=todo-dev,k8s.node.name=node-1"
    )
    assert run.env["DATABASE_URL_FILE"] == "/var/run/secrets/todo-api/DATABASE_URL"
    assert run.hosts == ["otel-collector", "postgres", "redis"]
    secret = tmp_path / "r" / "secrets" / "secrets" / "DATABASE_URL"
    assert secret.read_text() == rendered_secrets(objects)["todo-api-secrets"]["DATABASE_URL"]
    assert secret.stat().st_mode & 0o777 == 0o440
    assert args[-1] == "todo-api:0.1.0"  # no command: the image's CMD


def test_a_command_becomes_the_entrypoint_and_its_arguments(tmp_path: Path) -> None:
    objects = render("dev")
    job = find(objects, "Job", "todo-api-migrate")
    container = job["spec"]["template"]["spec"]["containers"][0]
    node = Node(secrets=rendered_secrets(objects), workdir=tmp_path)
    run = docker_run(
        objects=objects, owner=job, container=container, pod=POD, node=node, run_name="j"
    )
    entrypoint = run.args.index("--entrypoint")
    assert run.args[entrypoint + 1] == "python"
    assert run.args[-4:] == ["todo-api:0.1.0", "manage.py", "migrate", "--noinput"]


def test_a_missing_secret_or_configmap_is_refused(tmp_path: Path) -> None:
    objects = render("production")
    deployment = find(objects, "Deployment", "todo-api")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    node = Node(secrets={}, workdir=tmp_path)
    with pytest.raises(SpecError, match="Secret todo-api-secrets does not exist"):
        docker_run(
            objects=objects, owner=deployment, container=container, pod=POD, node=node, run_name="r"
        )


def test_probe_ports_resolve_by_name() -> None:
    deployment = find(render("production"), "Deployment", "todo-api")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    startup = probe(container, "startupProbe")
    assert startup is not None
    assert (startup.port, startup.path, startup.period, startup.failure_threshold) == (
        8000, "/healthz", 2.0, 30,
    )  # fmt: skip
    assert startup.budget == 60.0
    broken = {**container, "livenessProbe": {"httpGet": {"path": "/", "port": "nope"}}}
    with pytest.raises(SpecError, match="no port named 'nope'"):
        probe(broken, "livenessProbe")
