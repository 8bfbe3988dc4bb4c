"""What the pod-runner tests give the pods: a fresh PostgreSQL database per run, the Node
(Secrets as the kubelet would mount them), and a smoke run over HTTP."""

from __future__ import annotations

import copy as copy_module
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from tests.support.http import Response, http

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def fresh_database(database_url: str) -> Iterator[str]:
    """``database_url`` with its database replaced by a new, empty one on the machine's
    PostgreSQL (owned by the URL's user, created if missing; trust auth ignores the password);
    dropped afterwards."""
    parts = urlsplit(database_url)
    user = parts.username or "postgres"
    name = f"{parts.path.lstrip('/') or 'todo'}_pod_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(user)))
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(user)
            )
        )
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def with_database(
    secrets_by_name: Mapping[str, Mapping[str, str]], secret: str, database_url: str
) -> dict[str, dict[str, str]]:
    """A copy of the Secrets with ``secret``'s DATABASE_URL replaced."""
    copy = {name: dict(data) for name, data in secrets_by_name.items()}
    copy[secret]["DATABASE_URL"] = database_url
    return copy


def smoke(base_url: str, headers: Mapping[str, str]) -> list[Response]:
    """Register, get a token, create, list, read, update and delete a todo; every answer is
    checked and returned. ``headers`` go with each request (Host, X-Forwarded-Proto...)."""
    credentials = {"username": f"pod-{secrets.token_hex(4)}", "password": secrets.token_urlsafe(18)}
    answers: list[Response] = []

    def call(method: str, path: str, status: int, body: Any = None, auth: str = "") -> Response:
        extra = {"Authorization": f"Bearer {auth}"} if auth else {}
        answer = http(method, f"{base_url}{path}", json_body=body, headers={**headers, **extra})
        assert answer.status == status, f"{method} {path}: {answer.status} {answer.body}"
        answers.append(answer)
        return answer

    call("POST", "/api/auth/register/", 201, credentials)
    token = str(call("POST", "/api/auth/token/", 200, credentials).body["access"])
    todo = call("POST", "/api/todos/", 201, {"title": "run the pod spec"}, token).body
    listed = call("GET", "/api/todos/", 200, auth=token).body
    assert [item["id"] for item in listed["results"]] == [todo["id"]], listed
    call("GET", f"/api/todos/{todo['id']}/", 200, auth=token)
    done = call("PATCH", f"/api/todos/{todo['id']}/", 200, {"completed": True}, token).body
    assert done["completed"] is True, done
    call("DELETE", f"/api/todos/{todo['id']}/", 204, auth=token)
    call("GET", f"/api/todos/{todo['id']}/", 404, auth=token)
    return answers


def workdir(base: Path) -> Path:
    """A scratch directory the kubelet-made files (Secrets, volumes) go under."""
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    return base


# ------------------------------------------------------------------ broken manifests
Objects = list[dict[str, Any]]
Mutation = Callable[[Objects], Objects]


def _container(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    """The first container of the ``kind`` called ``name`` (the live dict, to mutate)."""
    owner = next(
        obj for obj in objects if obj.get("kind") == kind and obj["metadata"]["name"] == name
    )
    container: dict[str, Any] = owner["spec"]["template"]["spec"]["containers"][0]
    return container


def _api_container(objects: Objects) -> dict[str, Any]:
    return _container(objects, "Deployment", "todo-api")


def with_probe(
    kind: str, *, path: str | None = None, port: str | None = None, **fields: int
) -> Mutation:
    """A render whose API container's ``kind`` probe has another path, port or fields."""

    def mutate(objects: Objects) -> Objects:
        copy = copy_module.deepcopy(objects)
        spec = _api_container(copy)[kind]
        if path is not None:
            spec["httpGet"]["path"] = path
        if port is not None:
            spec["httpGet"]["port"] = port
        spec.update(fields)
        return copy

    return mutate


def without_mount(volume: str, *, kind: str = "Deployment", name: str = "todo-api") -> Mutation:
    """A render whose ``kind``/``name`` main container no longer mounts ``volume`` (other
    containers of the pod, such as the init container, still do)."""

    def mutate(objects: Objects) -> Objects:
        copy = copy_module.deepcopy(objects)
        container = _container(copy, kind, name)
        mounts = container["volumeMounts"]
        assert any(mount["name"] == volume for mount in mounts), f"no mount of {volume}"
        mounts[:] = [mount for mount in mounts if mount["name"] != volume]
        return copy

    return mutate
