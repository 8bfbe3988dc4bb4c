"""Fixtures of the pod-runner tests: an overlay's pod running under Docker as its spec says,
with a fresh database, a test OTLP collector at the rendered endpoint, and the Secrets."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from k8s.podrun.pod import PodError, PodRunner, Started, find
from k8s.podrun.spec import Node, config_maps, rendered_secrets
from tests.k8s.render import render
from tests.support import images, pods
from tests.support.receivers import OtlpReceiver

SECRET = "todo-api-secrets"
BrokenRun = Callable[[pods.Mutation, str], str]


@dataclass
class RunningPod:
    """An overlay's API pod, Ready, and what the test needs to talk to it."""

    overlay: str
    runner: PodRunner
    started: Started
    collector: OtlpReceiver
    headers: dict[str, str]  # what the ingress (production) or port-forward (dev) sends

    @property
    def url(self) -> str:
        """The API's base URL on the host network."""
        return f"http://127.0.0.1:{self.started.ports['http']}"

    @property
    def metrics_url(self) -> str:
        """The metrics endpoint on the pod's ``metrics`` port."""
        return f"http://127.0.0.1:{self.started.ports['metrics']}/metrics"


def production_secret(database_url: str) -> dict[str, str]:
    """The Secret an operator creates by hand for production (k8s/overlays/production)."""
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url,
        "REDIS_URL": "redis://redis.prod.internal:6379/0",
        "SENTRY_DSN": "",
    }


def tag_as_rendered(built: images.BuiltImage, objects: list[dict[str, object]]) -> None:
    """Give the built image the name the render uses (what `kind load docker-image` does)."""
    deployment = find(objects, "Deployment", "todo-api")
    rendered = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    built.docker.call("tag", built.tag, str(rendered))


@pytest.fixture(scope="module", params=["dev", "production"])
def running_pod(
    request: pytest.FixtureRequest,
    project_image: images.BuiltImage,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningPod]:
    """Migration Job, init container, then the API container with its probes passed."""
    overlay = str(request.param)
    objects = render(overlay)
    deployment = find(objects, "Deployment", "todo-api")
    namespace = deployment["metadata"]["namespace"]
    config = config_maps(objects)
    config_name = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]
    endpoint = config[(namespace, config_name["configMapRef"]["name"])][
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    ]
    if overlay == "dev":
        wanted = rendered_secrets(objects)
        template_url = wanted[SECRET]["DATABASE_URL"]
        headers = {"Host": "localhost"}
    else:
        wanted = {}
        template_url = "postgres://todo:operator-made@postgres.prod.internal:5432/todo"
        # What ingress-nginx adds: the client's address and the original scheme.
        headers = {
            "Host": "todo.example.com",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "203.0.113.7",
        }
    tag_as_rendered(project_image, objects)
    with (
        pods.fresh_database(template_url) as database_url,
        OtlpReceiver(port=urlsplit(endpoint).port or 4318) as collector,
    ):
        if overlay == "dev":
            node_secrets = pods.with_database(wanted, SECRET, database_url)
        else:
            node_secrets = {SECRET: production_secret(database_url)}
        workdir = pods.workdir(Path(tmp_path_factory.mktemp(f"pod-{overlay}")))
        node = Node(secrets=node_secrets, workdir=workdir)
        with PodRunner(objects, node=node, image=None, docker=project_image.docker) as runner:
            runner.run_job("todo-api-migrate")
            started = runner.start_deployment("todo-api")
            yield RunningPod(overlay, runner, started, collector, headers)


@pytest.fixture(scope="module")
def broken_run(
    project_image: images.BuiltImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokenRun]:
    """Start the dev overlay's API pod from a broken copy of the render (migrated once per
    module); returns the runner's failure message, and fails the test if it did not fail."""
    objects = render("dev")
    tag_as_rendered(project_image, objects)
    wanted = rendered_secrets(objects)
    with pods.fresh_database(wanted[SECRET]["DATABASE_URL"]) as database_url:
        workdir = pods.workdir(Path(tmp_path_factory.mktemp("pod-broken")))
        node = Node(secrets=pods.with_database(wanted, SECRET, database_url), workdir=workdir)
        with PodRunner(objects, node=node, image=None, docker=project_image.docker) as runner:
            runner.run_job("todo-api-migrate")

        def run(mutation: pods.Mutation, what: str) -> str:
            """``what``: "job" (the migration Job) or "api" (the API Deployment's pod)."""
            broken = mutation(objects)
            with PodRunner(broken, node=node, image=None, docker=project_image.docker) as pod:
                try:
                    if what == "job":
                        pod.run_job("todo-api-migrate")
                    else:
                        pod.start_deployment("todo-api")
                except PodError as error:
                    return str(error)
            pytest.fail("the pod runner accepted a broken pod spec")

        yield run
