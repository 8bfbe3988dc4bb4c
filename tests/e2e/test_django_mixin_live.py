"""The community django-mixin's alerts, evaluated live against the running service.

Opt-in (marker ``django_mixin``, deselected by ``make test``): the mixin has no licence, so this
repository carries none of it; ``make check-django-mixin DJANGO_MIXIN=.../prometheus_alerts.yaml``
renders the fitted rules into a temporary directory and runs this file with ``DJANGO_MIXIN``
(the user's upstream file) and ``DJANGO_MIXIN_RULES`` (the fitted rules) set. Run without them,
it fails saying so.

The app under gunicorn (2 workers, on the suite's database) and a real Prometheus scraping it
every second, evaluating every second two rule files: the mixin's alerts as upstream rendered
them (only their ``job="django"`` selector pointed at this service) and the fitted rules (the
overrides applied). Then traffic of an ordinary day of this API, and one real database error:

1. before any error, ``django_db_errors_total`` exists at 0 for the type about to be raised,
   so the mixin's ``increase()`` sees the first one;
2. designed 404s (another user's or a missing todo, unknown URLs) and a taken username make
   the upstream 4xx alert go active for those views, while the fitted one stays silent on
   them and still goes active for a view the overrides keep watching (todo-list refused
   with 401); the taken username counts no database error;
3. a query on a renamed table (a real database error) fires the fitted
   ``DjangoDatabaseException`` with the driver's exception type;
4. every rule of both files evaluates without error.

About 20 s; runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from observability.prometheus import django_mixin_rules as mixin
from tests.support.accounts import Account, create_account
from tests.support.http import http
from tests.support.ports import HOST
from tests.support.prometheus import Prometheus, run_prometheus, scrape_config
from tests.support.servers import Server, manage, run_server_on_new_database
from tests.support.waiting import poll

pytestmark = [pytest.mark.e2e, pytest.mark.django_mixin]

JOB = "todo-api"
HOW = "run `make check-django-mixin DJANGO_MIXIN=/path/to/prometheus_alerts.yaml`"
DEADLINE_S = 60.0
MISSING_TODO = "/api/todos/987654321/"
# The exception class each driver raises for a query on a table that does not exist.
UNDEFINED_TABLE_TYPE = {"sqlite": "OperationalError", "postgresql": "UndefinedTable"}


def given_file(variable: str, what: str) -> Path:
    """The file the environment variable ``variable`` names; fails (never skips) without it."""
    value = os.environ.get(variable, "")
    if not value:
        pytest.fail(f"{variable} is not set: it names {what}; {HOW}", pytrace=False)
    path = Path(value)
    if not path.is_file():
        pytest.fail(f"{variable}={value}: no such file ({what}); {HOW}", pytrace=False)
    return path


@dataclass(frozen=True)
class Stack:
    """The running service, the Prometheus evaluating both rule files, and a user."""

    server: Server
    prometheus: Prometheus
    upstream_file: Path
    fitted_file: Path
    alice: Account


def upstream_rules(source: Path, directory: Path) -> Path:
    """The user's upstream alerts with only their job selector changed to this service's."""
    text = source.read_text(encoding="utf-8")
    assert mixin.UPSTREAM_SELECTOR in text
    path = directory / "upstream-django-mixin.yml"
    path.write_text(text.replace(mixin.UPSTREAM_SELECTOR, f'job="{JOB}"'), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    source = given_file("DJANGO_MIXIN", "the mixin's rendered prometheus_alerts.yaml")
    fitted = given_file("DJANGO_MIXIN_RULES", "the fitted rules (django_mixin_rules.py)")
    directory = tmp_path_factory.mktemp("django-mixin-live")
    (directory / "app").mkdir()
    with contextlib.ExitStack() as running:
        server = running.enter_context(
            run_server_on_new_database({"WEB_CONCURRENCY": "2"}, directory=directory / "app")
        )
        upstream = upstream_rules(source, directory)
        config = scrape_config([f"{HOST}:{server.env['METRICS_PORT']}"])
        config["global"]["evaluation_interval"] = "1s"
        config["rule_files"] = [str(upstream), str(fitted)]
        prometheus = running.enter_context(
            run_prometheus(config, directory=directory / "prometheus")
        )
        alice = create_account(server)
        yield Stack(server, prometheus, upstream, fitted, alice)


# ------------------------------------------------------------------ reading Prometheus


def query(prometheus: Prometheus, expr: str) -> list[dict[str, Any]]:
    """The instant vector ``expr`` evaluates to now."""
    result: list[dict[str, Any]] = prometheus.api("query", query=expr)["result"]
    return result


def rules_of(prometheus: Prometheus, path: Path) -> dict[str, dict[str, Any]]:
    """The alerting rules Prometheus loaded from ``path``, by name, with state and health."""
    groups = prometheus.api("rules", type="alert")["groups"]
    return {
        rule["name"]: rule
        for group in groups
        if group["file"] == str(path)
        for rule in group["rules"]
    }


def active_views(rule: dict[str, Any]) -> set[str]:
    """The ``view`` label of each pending or firing alert of ``rule``."""
    return {alert["labels"].get("view", "") for alert in rule.get("alerts", [])}


def database_errors(prometheus: Prometheus) -> dict[str, float]:
    """``django_db_errors_total`` of the service by type (all aliases and vendors summed)."""
    rows = query(prometheus, f'sum by (type) (django_db_errors_total{{job="{JOB}"}})')
    return {row["metric"]["type"]: float(row["value"][1]) for row in rows}


def vendor(prometheus: Prometheus) -> str:
    rows = query(prometheus, f'count by (vendor) (django_db_errors_total{{job="{JOB}"}})')
    assert len(rows) == 1, rows
    return str(rows[0]["metric"]["vendor"])


# ------------------------------------------------------------------ traffic


def ordinary_traffic(stack: Stack) -> None:
    """One round of an ordinary minute: lists, a todo created, a missing todo, an unknown URL,
    a taken username, and a client without its token on the list."""
    url, headers = stack.server.url, stack.alice.headers
    assert http("GET", f"{url}/api/todos/", headers=headers).status == 200
    created = http("POST", f"{url}/api/todos/", headers=headers, json_body={"title": "live"})
    assert created.status == 201, created
    for _ in range(3):
        assert http("GET", f"{url}{MISSING_TODO}", headers=headers).status == 404
    assert http("GET", f"{url}/api/no-such-route/{secrets.token_hex(3)}/").status == 404
    taken = {"username": stack.alice.username, "password": f"pw-{secrets.token_urlsafe(18)}"}
    assert http("POST", f"{url}/api/auth/register/", json_body=taken).status == 400
    for _ in range(2):
        assert http("GET", f"{url}/api/todos/").status == 401


def rename_todos_table(server: Server, old: str, new: str, *, metrics_dir: Path) -> None:
    """Rename the todos table behind the running service's back (both backends' SQL), from a
    process whose own metrics go to ``metrics_dir``, not into the service's."""
    code = (
        "from django.db import connection\n"
        f"connection.cursor().execute('ALTER TABLE {old} RENAME TO {new}')\n"
    )
    manage("shell", "-c", code, env={**server.env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})


# ------------------------------------------------------------------ the tests, in order


def test_the_db_error_types_exist_at_zero_before_the_first_error(stack: Stack) -> None:
    errors = poll(
        lambda: database_errors(stack.prometheus),
        bool,
        timeout=DEADLINE_S,
        failure=lambda found: (
            f"no django_db_errors_total series scraped: {found}; "
            f"targets: {stack.prometheus.targets_report()}"
        ),
    )

    raised_next = UNDEFINED_TABLE_TYPE[vendor(stack.prometheus)]
    assert errors[raised_next] == 0
    assert errors["IntegrityError"] == 0
    assert set(errors.values()) == {0.0}


def test_designed_4xx_fire_the_upstream_alert_but_not_the_fitted_one(stack: Stack) -> None:
    def observe() -> tuple[dict[str, Any], dict[str, Any]]:
        ordinary_traffic(stack)
        upstream = rules_of(stack.prometheus, stack.upstream_file)["DjangoHighHttp4xxErrorRate"]
        fitted = rules_of(stack.prometheus, stack.fitted_file)["DjangoHighHttp4xxErrorRate"]
        return upstream, fitted

    upstream, fitted = poll(
        observe,
        lambda pair: (
            {"todo-detail", "register"} <= active_views(pair[0])
            and "todo-list" in active_views(pair[1])
        ),
        timeout=DEADLINE_S,
        failure=lambda pair: (
            f"upstream active for {active_views(pair[0])}, "
            f"fitted active for {active_views(pair[1])}"
        ),
    )

    assert upstream["state"] in {"pending", "firing"}
    assert active_views(fitted) == {"todo-list"}  # designed 404s, 400s: silent
    assert all(alert["labels"]["severity"] == "ticket" for alert in fitted["alerts"])
    assert set(database_errors(stack.prometheus).values()) == {0.0}  # the taken usernames


def test_a_real_database_error_fires_the_fitted_database_exception_alert(
    stack: Stack, tmp_path: Path
) -> None:
    raised = UNDEFINED_TABLE_TYPE[vendor(stack.prometheus)]
    rename_todos_table(stack.server, "todos_todo", "todos_todo_away", metrics_dir=tmp_path)
    try:
        answer = http("GET", f"{stack.server.url}/api/todos/", headers=stack.alice.headers)
    finally:
        rename_todos_table(stack.server, "todos_todo_away", "todos_todo", metrics_dir=tmp_path)
    assert answer.status >= 500, answer

    rule = poll(
        lambda: rules_of(stack.prometheus, stack.fitted_file)["DjangoDatabaseException"],
        lambda found: found["state"] == "firing",
        timeout=DEADLINE_S,
        failure=lambda found: (
            f"DjangoDatabaseException is {found['state']}: {found}; "
            f"errors: {database_errors(stack.prometheus)}"
        ),
    )

    assert [alert["labels"]["type"] for alert in rule["alerts"]] == [raised]
    assert database_errors(stack.prometheus)[raised] == 1  # the one failed request's query
    assert http("GET", f"{stack.server.url}/api/todos/", headers=stack.alice.headers).status == 200


def evaluated_rules(stack: Stack, path: Path) -> dict[str, dict[str, Any]]:
    """The alerting rules of ``path`` once Prometheus has evaluated every one of them."""

    def evaluated(found: dict[str, dict[str, Any]]) -> bool:
        return bool(found) and all(rule["health"] != "unknown" for rule in found.values())

    def why(found: dict[str, dict[str, Any]]) -> str:
        return f"{path.name}: not evaluated yet: {found}"

    return poll(
        lambda: rules_of(stack.prometheus, path), evaluated, timeout=DEADLINE_S, failure=why
    )


def test_every_rule_of_both_files_evaluates_without_error(stack: Stack) -> None:
    for path in (stack.upstream_file, stack.fitted_file):
        rules = evaluated_rules(stack, path)
        broken = {
            name: rule.get("lastError") for name, rule in rules.items() if rule["health"] != "ok"
        }
        assert not broken, f"{path.name}: {broken}"
    assert set(rules_of(stack.prometheus, stack.upstream_file)) == {
        "DjangoMigrationsUnapplied",
        "DjangoDatabaseException",
        "DjangoHighHttp4xxErrorRate",
        "DjangoHighHttp5xxErrorRate",
    }
    # a migrated database: the mixin's migrations alert is silent (and could fire: its series
    # exists)
    upstream = rules_of(stack.prometheus, stack.upstream_file)
    assert upstream["DjangoMigrationsUnapplied"]["state"] == "inactive"
    assert query(stack.prometheus, f'django_migrations_unapplied_total{{job="{JOB}"}}')
