"""docker-compose.yml's app and its one-shot migrate, run from the file's own definitions
(tests/support/compose_services.py) with the image built here, against the machine's
PostgreSQL and Redis (issue 18). The other services need images from a registry: not run."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from k8s.podrun.docker import Docker
from tests.support import compose_services, pods
from tests.support.http import http
from tests.support.images import BuiltImage
from tests.support.waiting import poll

HOSTS = ["postgres", "redis", "otel-collector"]
# The demo user's public password: ensure_demo_user's default (README "Two commands").
DEMO_PASSWORD = "demo-password-2024"


@dataclass(frozen=True)
class ComposeApp:
    """The app service, healthy, after migrate completed."""

    docker: Docker
    name: str
    demo_admin_password: str


@pytest.fixture(scope="module")
def compose_app(project_image: BuiltImage) -> Iterator[ComposeApp]:
    engine = project_image.docker
    dotenv = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(12),
        "DEMO_ADMIN_PASSWORD": secrets.token_urlsafe(12),
    }
    app = compose_services.service("app", dotenv)
    migrate = compose_services.service("migrate", dotenv)
    assert app["image"] == migrate["image"]  # one build, both services
    engine.call("tag", project_image.tag, app["image"])
    run_id = secrets.token_hex(3)
    names = {service: f"compose-{run_id}-{service}" for service in ("migrate", "app")}
    with pods.fresh_database(app["environment"]["DATABASE_URL"]) as database_url:
        for spec in (app, migrate):
            spec["environment"]["DATABASE_URL"] = database_url  # a fresh database per run
        try:
            migrate_args = compose_services.docker_run_args(
                migrate, name=names["migrate"], hosts=HOSTS, volume_prefix=f"compose-{run_id}-"
            )
            engine.call("run", *migrate_args, timeout=300)  # foreground: to completion
            state = engine.state(names["migrate"])
            assert state == ("exited", 0), engine.logs(names["migrate"])
            app_args = compose_services.docker_run_args(
                app, name=names["app"], hosts=HOSTS, volume_prefix=f"compose-{run_id}-"
            )
            engine.call("run", "--detach", *app_args)
            poll(
                lambda: engine.call(
                    "inspect", "--format", "{{.State.Health.Status}}", names["app"]
                ).strip(),
                lambda status: status == "healthy",
                timeout=compose_services.seconds(app["healthcheck"]["start_period"]) + 30,
                failure=lambda status: f"app is {status}:\n{engine.logs(names['app'])}",
                interval=0.5,
            )
            yield ComposeApp(engine, names["app"], dotenv["DEMO_ADMIN_PASSWORD"])
        finally:
            for name in names.values():
                engine.remove(name)
            engine.call("volume", "rm", "--force", f"compose-{run_id}-export-data")


def test_the_app_serves_a_smoke_run_after_migrate(compose_app: ComposeApp) -> None:
    answers = pods.smoke("http://127.0.0.1:8000", {"Host": "localhost"})
    assert len(answers) == 8


def test_migrate_created_the_demo_users(compose_app: ComposeApp) -> None:
    for credentials in (
        {"username": "demo", "password": DEMO_PASSWORD},
        {"username": "demo-admin", "password": compose_app.demo_admin_password},
    ):
        token = http("POST", "http://127.0.0.1:8000/api/auth/token/", json_body=credentials)
        assert token.status == 200, (credentials["username"], token)


def test_the_app_runs_read_only_as_10001_with_its_tmpfs(compose_app: ComposeApp) -> None:
    inspected = compose_app.docker.call(
        "inspect", "--format", "{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}", compose_app.name
    )
    assert inspected.split() == ["true", "10001:10001"]
    metrics = http("GET", "http://127.0.0.1:9464/metrics")
    assert metrics.status == 200
    assert "django_http_requests_total_by_method_total" in metrics.body


def test_compose_interpolation_refuses_a_missing_secret() -> None:
    with pytest.raises(compose_services.InterpolationError, match="DJANGO_SECRET_KEY"):
        compose_services.service("app", {"POSTGRES_PASSWORD": "x"})
