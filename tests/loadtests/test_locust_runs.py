"""Real, short Locust runs against the real server: the gate's verdict end to end.

Locust always runs in a subprocess (it monkey-patches with gevent when imported). Each run is
a bounded smoke: 4 users for 6 s (account setup included; Locust's own LOCUST_USERS,
LOCUST_SPAWN_RATE and LOCUST_RUN_TIME, or -u/-r/-t), 2 accounts per load-generator
process, short think times; the servers have the suite's high throttle rates
(tests/environment.py), so throttling never decides a verdict here.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import secrets
import signal
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.backing_services import REDIS_URL, reachable, require
from tests.support.http import http
from tests.support.locust_environment import clean_environment
from tests.support.ports import free_port
from tests.support.prometheus import scrape
from tests.support.servers import BIN_DIR, REPO_ROOT, Server, manage, migrated_database, run_server
from tests.support.waiting import poll

pytestmark = pytest.mark.e2e

LOCUSTFILE = "loadtests/locustfile.py"
SMOKE = {
    "LOAD_SHAPE": "smoke",
    "LOCUST_USERS": "4",
    "LOCUST_SPAWN_RATE": "4",
    "LOCUST_RUN_TIME": "6s",
    "LOAD_ACCOUNTS": "2",
    "LOAD_THINK_MIN": "0.1",
    "LOAD_THINK_MAX": "0.5",
    # These runs prove the gate's plumbing (verdicts, reports, merged statistics). The first
    # requests a cold 2-worker server answers, beside Locust on two shared cores, took 310-500
    # ms under load while the rest took ~15: 2 of ~100 decide the p99. The p99 check itself is
    # proven by the too-strict run below, which sets its own limit.
    "LOAD_P99_MS": "3000",
}
RUN_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Run:
    """A finished Locust process."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return f"exit {self.exit_code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    def assert_verdict(self, *, passed: bool) -> None:
        """The gate's verdict, and the exit code that goes with it."""
        assert self.exit_code == (0 if passed else 1), self.output
        assert f"VERDICT: {'PASS' if passed else 'FAIL'}" in self.stdout, self.output


def start_locust(
    args: Sequence[str], *, env: Mapping[str, str], locustfile: bool = True
) -> subprocess.Popen[str]:
    """Locust at the repository root (without ``-f`` it finds the locustfile in pyproject.toml)."""
    return subprocess.Popen(
        [str(BIN_DIR / "locust"), *(["-f", LOCUSTFILE] if locustfile else []), *args],
        cwd=REPO_ROOT,
        env=clean_environment(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> Run:
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"locust ran past {RUN_TIMEOUT_S:.0f} s:\n{stdout}\n{stderr}", pytrace=False)
    return Run(process.returncode, stdout, stderr)


def headless(
    server: Server,
    results: Path,
    *,
    env: Mapping[str, str] | None = None,
    user_classes: Sequence[str] = (),
) -> tuple[Run, Path]:
    """One local headless run of the smoke shape with CSV and HTML reports under ``results``
    (``user_classes``: only those of the locustfile's users)."""
    prefix = results / "smoke"
    args = ["--headless", "--host", server.url, "--csv", str(prefix), "--html", f"{prefix}.html"]
    args += user_classes
    return finish(start_locust(args, env={**SMOKE, **(env or {})})), prefix


def stats_rows(prefix: Path) -> dict[tuple[str, str], dict[str, str]]:
    """Locust's ``<prefix>_stats.csv`` keyed by (method, name)."""
    with Path(f"{prefix}_stats.csv").open(newline="") as file:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(file)}


def start_servers(
    stack: contextlib.ExitStack, configs: Mapping[str, Mapping[str, str]], root: Path
) -> dict[str, Server]:
    """Start one gunicorn per config at the same time (a boot is CPU-bound for seconds), each
    on its own migrated database; ``stack`` stops them."""
    databases = {name: stack.enter_context(migrated_database(root / name)) for name in configs}

    def start(name: str) -> tuple[contextlib.AbstractContextManager[Server], Server]:
        manager = run_server(
            {**configs[name], "DATABASE_URL": databases[name], "WEB_CONCURRENCY": "2"},
            directory=root / name,
            migrate=False,
        )
        return manager, manager.__enter__()

    with ThreadPoolExecutor(len(configs)) as pool:
        futures = {name: pool.submit(start, name) for name in configs}
    servers: dict[str, Server] = {}
    failures: list[BaseException] = []
    for name, future in futures.items():
        try:
            manager, server = future.result()
        except BaseException as error:  # pytest.fail raises a BaseException
            failures.append(error)
            continue
        stack.push(manager)
        servers[name] = server
    if failures:
        raise failures[0]
    return servers


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """The service under gunicorn with 2 workers: healthy, and failing half its requests."""
    root = tmp_path_factory.mktemp("load")
    for name in ("healthy", "faulty"):
        (root / name).mkdir()
    with contextlib.ExitStack() as stack:
        servers = start_servers(stack, {"healthy": {}, "faulty": {"FAULT_ERROR_RATE": "0.5"}}, root)
        for server in servers.values():
            warm(server)
        yield servers


WARM_REQUESTS = 8  # at once: both workers of a server answer some


def warm(server: Server) -> None:
    """Send a cold server's first REST and GraphQL requests before a 6-second run does (a
    worker's first ones load the URL conf and run the schema cold). In one CI run on
    2026-12-05 the one GraphQL user of the healthy run sent nothing; taking the cold start
    out of the runs is the cheap guard, the cause was not established. Answers are not
    checked (the faulty server fails half of them)."""

    def one(number: int) -> None:
        if number % 2:
            http("POST", f"{server.url}/graphql/", json_body={"query": "{ __typename }"})
        else:
            http("GET", f"{server.url}/api/todos/")

    with ThreadPoolExecutor(WARM_REQUESTS) as pool:
        list(pool.map(one, range(WARM_REQUESTS)))


@pytest.fixture(scope="module")
def healthy(servers: dict[str, Server]) -> Server:
    return servers["healthy"]


@pytest.fixture(scope="module")
def faulty(servers: dict[str, Server]) -> Server:
    """Every route but the probes and the fault switch's controls (token, /api/faults/) fails
    half the time (FAULT_ERROR_RATE=0.5, no FAULT_ROUTES)."""
    return servers["faulty"]


def test_a_healthy_server_passes_the_gate_and_the_reports_are_written(
    healthy: Server, tmp_path: Path
) -> None:
    run, prefix = headless(healthy, tmp_path)

    run.assert_verdict(passed=True)
    rows = stats_rows(prefix)
    for endpoint in [("GET", "/api/todos/"), ("GET", "/api/todos/{id}/")]:
        assert int(rows[endpoint]["Request Count"]) > 0, rows
        assert int(rows[endpoint]["Failure Count"]) == 0, rows
    assert int(rows[("POST", "setup: /api/auth/register/")]["Request Count"]) == 2
    assert int(rows[("POST", "setup: /api/auth/token/")]["Request Count"]) == 2
    assert not any("/api/todos/1" in name for _, name in rows), "names are route templates"
    graphql = {name: row for (_, name), row in rows.items() if name.startswith("graphql: ")}
    assert graphql, f"the GraphQL user (1 of the 4) sent nothing: {sorted(rows)}"
    assert all(int(row["Failure Count"]) == 0 for row in graphql.values()), graphql
    html = Path(f"{prefix}.html").read_text()
    assert "/api/todos/{id}/" in html


def test_conditional_reads_answered_304_pass_the_gate(tmp_path: Path) -> None:
    """Every user revalidates (LOAD_CONDITIONAL_SHARE=1) against a server caching its reads:
    repeated reads are answered 304, and those count as successes."""
    require("redis", reachable(REDIS_URL, default_port=6379))
    (tmp_path / "cached").mkdir()
    cached = {"REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": f"locust-{secrets.token_hex(4)}"}
    with contextlib.ExitStack() as stack:
        server = start_servers(stack, {"cached": cached}, tmp_path)["cached"]
        run, prefix = headless(server, tmp_path, env={"LOAD_CONDITIONAL_SHARE": "1"})
        not_modified = scrape(server).matching(
            "django_http_responses_total_by_status_view_method_total", status="304"
        )

    run.assert_verdict(passed=True)
    assert sum(sample.value for sample in not_modified) > 0, run.output
    rows = stats_rows(prefix)
    for endpoint in [("GET", "/api/todos/"), ("GET", "/api/todos/{id}/")]:
        assert int(rows[endpoint]["Failure Count"]) == 0, rows


def test_a_too_strict_latency_limit_fails_the_gate_naming_p99(
    healthy: Server, tmp_path: Path
) -> None:
    run, _ = headless(healthy, tmp_path, env={"LOAD_P99_MS": "0.001"})

    run.assert_verdict(passed=False)
    assert "violated: p99 latency: measured" in run.stdout
    assert "limit 0.001 ms (LOAD_P99_MS), over by" in run.stdout
    assert "violated: failure ratio" not in run.stdout


def test_a_distributed_run_is_judged_on_the_masters_merged_statistics(
    healthy: Server, tmp_path: Path
) -> None:
    port = free_port()
    prefix = tmp_path / "distributed"
    master = start_locust(
        [
            "--headless",
            "--master",
            "--expect-workers",
            "2",
            "--expect-workers-max-wait",
            "30",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--host",
            healthy.url,
            "--csv",
            str(prefix),
        ],
        env=SMOKE,
    )
    # The workers get no LOAD_* settings: the master sends its options (2 accounts each).
    worker_args = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    workers = [start_locust(worker_args, env={}) for _ in range(2)]

    run = finish(master)
    worker_runs = [finish(worker) for worker in workers]

    run.assert_verdict(passed=True)
    assert [worker.exit_code for worker in worker_runs] == [0, 0], worker_runs[0].output
    assert all("VERDICT" not in worker.stdout for worker in worker_runs)
    rows = stats_rows(prefix)
    # Each worker set up its own pool of 2 accounts: the master saw all 4 registrations.
    assert int(rows[("POST", "setup: /api/auth/register/")]["Request Count"]) == 4, rows
    assert int(rows[("GET", "/api/todos/")]["Request Count"]) > 0


def test_an_error_fault_fails_the_gate_naming_the_failure_ratio(
    faulty: Server, tmp_path: Path
) -> None:
    run, _ = headless(faulty, tmp_path)

    run.assert_verdict(passed=False)
    assert "violated: failure ratio: measured 0." in run.stdout
    assert "limit 0.001 (slo.yaml: availability 0.999), over by" in run.stdout
    assert "requests failed (5xx or no answer)" in run.stdout


def test_the_incident_shape_switches_the_fault_on_and_off_through_the_api(
    healthy: Server, tmp_path: Path
) -> None:
    admin = {"username": "incident-admin", "password": "incident-admin-password-2024"}
    manage(
        "createsuperuser",
        "--noinput",
        "--username",
        admin["username"],
        "--email",
        "incident-admin@example.com",
        env={**healthy.env, "DJANGO_SUPERUSER_PASSWORD": admin["password"]},
    )
    token = http("POST", f"{healthy.url}/api/auth/token/", json_body=admin).body["access"]
    staff = {"Authorization": f"Bearer {token}"}

    run, prefix = headless(
        healthy,
        tmp_path,
        env={
            "LOAD_SHAPE": "incident",
            "LOCUST_RUN_TIME": "9",
            "INCIDENT_ERROR_RATE": "1",
            "INCIDENT_ADMIN_USERNAME": admin["username"],
            "INCIDENT_ADMIN_PASSWORD": admin["password"],
        },
    )

    run.assert_verdict(passed=False)
    assert "violated: failure ratio" in run.stdout, run.output
    assert "a FAIL verdict is the expected outcome of this shape" in run.stdout
    # on at 3 s and off at 6 s of the run, give or take the staff login
    assert re.search(r"fault switched on at [34] s, off at [67] s", run.stdout), run.output
    rows = stats_rows(prefix)
    assert int(rows[("PUT", "control: /api/faults/")]["Request Count"]) == 1
    assert int(rows[("DELETE", "control: /api/faults/")]["Request Count"]) == 1
    assert int(rows[("PUT", "control: /api/faults/")]["Failure Count"]) == 0
    after = http("GET", f"{healthy.url}/api/faults/", headers=staff)
    assert after.status == 200
    assert after.body["active"] is False, after.body


def test_a_graphql_resolver_fault_fails_the_gate_though_every_answer_is_200(
    healthy: Server, tmp_path: Path
) -> None:
    """GraphQL users only; the incident shape fails every GraphQL resolver (graphql:*) from
    3 s to 6 s: HTTP says 200 throughout, the gate still counts the failures."""
    admin = {"username": "graphql-incident", "password": f"pw-{secrets.token_urlsafe(18)}"}
    manage(
        "createsuperuser", "--noinput", "--username", admin["username"],
        "--email", "graphql-incident@example.com",
        env={**healthy.env, "DJANGO_SUPERUSER_PASSWORD": admin["password"]},
    )  # fmt: skip
    before = scrape(healthy)

    run, prefix = headless(
        healthy,
        tmp_path,
        env={
            "LOAD_SHAPE": "incident",
            "LOCUST_RUN_TIME": "9",
            "INCIDENT_ERROR_RATE": "1",
            "INCIDENT_ROUTES": "graphql:*",
            "INCIDENT_ADMIN_USERNAME": admin["username"],
            "INCIDENT_ADMIN_PASSWORD": admin["password"],
        },
        user_classes=["TodoGraphQLUser"],
    )

    run.assert_verdict(passed=False)
    assert "violated: failure ratio" in run.stdout, run.output
    failures = Path(f"{prefix}_failures.csv").read_text()
    assert "GraphQL INTERNAL_SERVER_ERROR" in failures, failures
    rows = stats_rows(prefix)
    rest = [name for _, name in rows if name.startswith("/api/todos") and "exports" not in name]
    assert not rest, sorted(rows)  # GraphQL users only (exports are REST for everybody)
    after = scrape(healthy)
    server_errors = after.value("todos_graphql_operations_total", outcome="server_error")
    assert server_errors > before.value("todos_graphql_operations_total", outcome="server_error")
    status_500 = "django_http_responses_total_by_status_view_method_total"
    assert after.value(status_500, view="graphql", status="500") == 0


def test_locust_alone_at_the_root_runs_the_default_shape_with_u_r_t(
    healthy: Server, tmp_path: Path
) -> None:
    """No -f (pyproject.toml's [tool.locust] names the locustfile), no LOAD_SHAPE: smoke, with
    Locust's own -u/-r/-t driving it and no "will be ignored" warning."""
    env = {key: SMOKE[key] for key in ("LOAD_ACCOUNTS", "LOAD_THINK_MIN", "LOAD_THINK_MAX")}
    args = ["--headless", "-u", "3", "-r", "3", "-t", "5s", "--host", healthy.url]

    run = finish(start_locust(args, env=env, locustfile=False))

    run.assert_verdict(passed=True)
    assert "load shape smoke: 3 users until 5 s (@3/s)" in run.stderr, run.output
    assert "will be ignored" not in run.stderr, run.output
    assert "shape smoke, mix read" in run.stdout


def _web(method: str, url: str, fields: Mapping[str, str] | None = None) -> str:
    """One request to Locust's web UI (form-encoded, no proxies); the body as text."""
    data = urllib.parse.urlencode(fields).encode() if fields is not None else None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(url, data=data, method=method), timeout=10) as answer:
        body: bytes = answer.read()
    return body.decode()


def _mix_requests(web: str) -> int:
    """Requests of the mix so far (not setup), from the web UI's statistics."""
    stats = json.loads(_web("GET", f"{web}/stats/requests"))["stats"]
    return sum(row["num_requests"] for row in stats if row["name"] == "/api/todos/")


def test_stopping_a_run_in_the_web_ui_prints_and_stores_its_verdict(
    healthy: Server, tmp_path: Path
) -> None:
    port, prefix = free_port(), tmp_path / "web"
    stdout_path = tmp_path / "stdout.txt"
    args = ["--web-host", "127.0.0.1", "--web-port", str(port), "--host", healthy.url]
    with stdout_path.open("w") as stdout:
        process = subprocess.Popen(
            [str(BIN_DIR / "locust"), "-f", LOCUSTFILE, *args, "--csv", str(prefix)],
            cwd=REPO_ROOT,
            env=clean_environment({**SMOKE, "LOCUST_RUN_TIME": "60s"}),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    web = f"http://127.0.0.1:{port}"
    try:
        poll(
            lambda: _web_or_none(f"{web}/verdict"),
            lambda page: page is not None,
            timeout=30,
            failure=lambda _: "Locust's web UI did not come up",
        )
        _web("POST", f"{web}/swarm", {"user_count": "4", "spawn_rate": "4", "host": healthy.url})
        poll(
            lambda: _mix_requests(web),
            lambda count: count >= 5,
            timeout=30,
            failure=lambda count: f"only {count} requests of the mix",
        )
        _web("POST", f"{web}/stop")  # the Stop button; Locust itself keeps running
        printed = poll(
            stdout_path.read_text,
            lambda text: "VERDICT: " in text,
            timeout=20,
            failure=lambda text: f"no verdict printed after Stop:\n{text}",
        )
        page = _web("GET", f"{web}/verdict")
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=30)

    assert "VERDICT: PASS" in printed
    assert "VERDICT: PASS" in page
    assert Path(f"{prefix}_verdict.txt").read_text() == page
    assert exit_code == 0  # quitting after the stop: the stopped run's verdict
    assert stdout_path.read_text().count("VERDICT: ") == 1  # not printed again at quit


def _web_or_none(url: str) -> str | None:
    try:
        return _web("GET", url)
    except OSError:
        return None
