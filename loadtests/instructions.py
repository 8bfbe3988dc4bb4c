"""Instructions per request, counted by callgrind: the overhead benchmark's steady twin.

``make bench`` measures throughput and CPU time, which on a shared 2-core VM move by 10% or
more between runs of the same code. ``make bench-instructions`` counts the instructions the
app executes per request instead (valgrind's callgrind): the same code and inputs give the
same count, whatever else the machine is doing, so a change of a few percent is visible.

Each variant of ``make bench`` (same environments: bare, project@100%, project@10%,
otel-zero-code, sentry-tracing) serves one endpoint through its WSGI application, in one process
under callgrind (no gunicorn, no sockets: the app and its telemetry only), twice:
``--short`` then ``--long`` requests. The difference divided by the extra requests is the
cost of one request, start-up and warm-up cancelled out. At the end of each run the spans are
flushed to a local sink, so encoding and sending them count too; metric scrapes (by the
master, not the worker) do not.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import subprocess  # nosec B404
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, TypeVar
from wsgiref.util import setup_testing_defaults

from loadtests import bench, sinks
from loadtests.local_server import REPO, run_python
from loadtests.machine import machine

DEFAULT_SHORT = 10
DEFAULT_LONG = 60
TEST_HOST = "testserver"  # the Host of every measured request (ALLOWED_HOSTS)
TODO_COUNT = 25
# Spans wait in the queue until the flush at the end, so the run's length under valgrind (50x
# slower) does not change how they are batched.
QUEUE_ALL_SPANS = {
    "OTEL_BSP_SCHEDULE_DELAY": str(24 * 3600 * 1000),
    "OTEL_BSP_MAX_QUEUE_SIZE": "100000",
    "OTEL_METRIC_EXPORT_INTERVAL": str(24 * 3600 * 1000),
}
ONE_DAY_S = 24 * 3600
SAMPLING_SEED = 11
# Work done every so often in wall-clock time (the fault switch's database poll each second,
# the migration gauges' recount each minute) would be counted once per few requests under
# valgrind instead of once per hundreds, and more often the busier the machine: the measured
# process does each once a day instead (and once at start, in both runs alike).
NO_PERIODIC_WORK = {
    "FAULT_REFRESH_SECONDS": str(ONE_DAY_S),
    "MIGRATIONS_REFRESH_SECONDS": str(ONE_DAY_S),
}
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Count:
    """Instructions of one variant on one endpoint: the two runs and the cost of a request."""

    variant: str
    endpoint: str
    short: int
    long: int
    requests: int  # long - short

    @property
    def per_request(self) -> float:
        """Instructions one request adds."""
        return (self.long - self.short) / self.requests


def parse_collected(stderr: str) -> int:
    """The total callgrind reports (``==pid== Collected : N``)."""
    found = _COLLECTED.findall(stderr)
    if not found:
        raise ValueError(f"no callgrind total in the output:\n{stderr[-2000:]}")
    return int(found[-1])


# ------------------------------------------------------------------ the measured process
def request_path(endpoint: str, todo_id: int) -> tuple[str, str]:
    """``(method, path)`` of one request to ``endpoint``, as ``make bench`` sends it."""
    if endpoint == "retrieve":
        return "GET", f"/api/todos/{todo_id}/"
    if endpoint == "list":
        return "GET", "/api/todos/"
    if endpoint == "create":
        return "POST", "/api/todos/"
    raise ValueError(f"unknown endpoint {endpoint!r}")


def load_app(app_module: str | None, zero_code: bool) -> WsgiApp:
    """The WSGI application the variant's gunicorn worker would serve (loaded the same way:
    auto-instrumentation first for zero-code, Sentry's own entry point for sentry-tracing)."""
    if zero_code:
        from opentelemetry.instrumentation.auto_instrumentation import (  # noqa: PLC0415
            initialize,
        )

        initialize()
    module, _, name = (app_module or "app.wsgi:application").partition(":")
    application: WsgiApp = getattr(import_module(module), name or "application")
    return application


def flush_telemetry() -> None:
    """Send what the SDKs still hold (spans, Sentry envelopes) before the process ends."""
    from opentelemetry import trace  # noqa: PLC0415

    force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if force_flush is not None:
        force_flush()
    import sentry_sdk  # noqa: PLC0415

    sentry_sdk.flush()


def seed() -> dict[str, Any]:
    """A user with todos and a long-lived token, in a migrated database (run without valgrind)."""
    import django  # noqa: PLC0415

    django.setup()
    from django.contrib.auth.models import User  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415
    from rest_framework_simplejwt.tokens import AccessToken  # noqa: PLC0415

    from app.todos.models import Todo  # noqa: PLC0415

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password=bench.PASSWORD)
    todos = [Todo.objects.create(owner=user, title=f"todo {n}") for n in range(TODO_COUNT)]
    return {"token": str(AccessToken.for_user(user)), "todo_id": todos[-1].pk}


def wsgi_environ(method: str, path: str, token: str, body: bytes) -> dict[str, Any]:
    """One request as gunicorn hands it to the app (Host ``testserver``)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "HTTP_HOST": TEST_HOST,
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "wsgi.input": io.BytesIO(body),
    }
    if body:
        environ["CONTENT_TYPE"] = "application/json"
        environ["CONTENT_LENGTH"] = str(len(body))
    setup_testing_defaults(environ)
    return environ


def serve(application: WsgiApp, endpoint: str, count: int, token: str, todo_id: int) -> None:
    """``count`` requests to ``endpoint`` through the WSGI application; each must succeed."""
    method, path = request_path(endpoint, todo_id)
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    for number in range(count):
        body = json.dumps({"title": f"instructions {number}"}).encode() if method == "POST" else b""
        result = application(wsgi_environ(method, path, token, body), start_response)
        try:
            b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not statuses[-1].startswith("2"):
            raise SystemExit(f"{method} {path} answered {statuses[-1]}")


@dataclass(frozen=True)
class MeasuredApp:
    """The WSGI application a measured process serves, and what its requests carry."""

    application: WsgiApp
    token: str
    todo_id: int

    def serve(self, endpoint: str, count: int) -> None:
        """``count`` requests to ``endpoint``; each must succeed."""
        serve(self.application, endpoint, count, self.token, self.todo_id)


def measured_app() -> MeasuredApp:
    """Set up a measured process (this one) and load the variant's app, from its environment."""
    from app.heap import freeze_startup_heap  # noqa: PLC0415
    from app.telemetry.prometheus import exemplars  # noqa: PLC0415

    # The exemplar file is rewritten at most once a second of wall-clock time: once per few
    # requests under valgrind instead of once per hundreds (it counted 0.39M instructions a
    # request at 100% sampling). Like NO_PERIODIC_WORK: once at start, in both runs alike.
    exemplars.FLUSH_INTERVAL_S = ONE_DAY_S
    # Trace ids come from ``random`` (the SDK's id generator), and the ratio sampler keeps a
    # trace by its id: seeded, a run samples the same requests every time, so project@10%
    # counts the same sampled share run after run (unseeded, 10 +/- 3 of 100 requests).
    random.seed(SAMPLING_SEED)
    application = load_app(
        os.environ.get("BENCH_APP_MODULE") or None, bool(os.environ.get("BENCH_ZERO_CODE"))
    )
    # Start-up leaves a young heap of its own garbage; the collections that sweep it fall
    # among the first requests, in the long run and not the short one or the other way round,
    # as the allocation counts happen to fall: in a 60-request difference they moved a piece's
    # cost by 0.12-0.13 M modelled cycles a request (make bench-cycles). Collected and frozen
    # now, as a gunicorn worker's heap is once the app is loaded (gunicorn.conf.py's
    # post_worker_init): start-up's objects out of the collector's way, the requests' young.
    freeze_startup_heap()
    return MeasuredApp(application, os.environ["BENCH_TOKEN"], int(os.environ["BENCH_TODO_ID"]))


def child(endpoint: str, count: str) -> int:
    """The measured process (``--child ENDPOINT COUNT``): serve, then flush."""
    measured_app().serve(endpoint, int(count))
    flush_telemetry()
    return 0


# ------------------------------------------------------------------ the driver
def variant_environment(
    variant: bench.Variant, workdir: Path, sink: sinks.SinkServer
) -> dict[str, str]:
    """The variant's ``make bench`` environment, for one process serving ``testserver``."""
    env = {
        **bench.base_environment(workdir, bench.slug(variant.name), port=0),
        **variant.env,
        **bench.sink_env(variant, sink.url),
        **QUEUE_ALL_SPANS,
        **NO_PERIODIC_WORK,
        # str hashes (and with them dict and set layouts) the same in every run
        "PYTHONHASHSEED": "0",
        "DJANGO_SETTINGS_MODULE": "app.settings",
        "DJANGO_ALLOWED_HOSTS": TEST_HOST,
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"metrics-{bench.slug(variant.name)}"),
        "BENCH_APP_MODULE": variant.app_module or "",
        "BENCH_ZERO_CODE": "1" if variant.launcher else "",
    }
    Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(exist_ok=True)
    return env


def seeded_database(env: Mapping[str, str]) -> dict[str, Any]:
    """Migrate and seed the variant's database; its token and todo id."""
    result = run_python(["-m", "loadtests.instructions", "--seed"], env, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"seeding failed:\n{result.stderr[-2000:]}")
    seeded: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return seeded


def prepared_environment(
    variant: bench.Variant, workdir: Path, sink: sinks.SinkServer
) -> dict[str, str]:
    """The variant's environment, its database migrated and seeded (once; runs use copies)."""
    env = variant_environment(variant, workdir, sink)
    seeded = seeded_database(env)
    return {**env, "BENCH_TOKEN": seeded["token"], "BENCH_TODO_ID": str(seeded["todo_id"])}


@contextmanager
def on_database_copy(env: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """``env`` pointing at a fresh copy of its SQLite database (removed after), so that every
    run starts from the same rows."""
    database = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / database.name
        shutil.copyfile(database, copy)
        yield {**env, "DATABASE_URL": f"sqlite:///{copy}"}


def child_command(endpoint: str, requests: int) -> list[str]:
    """The measured process serving ``requests`` requests to ``endpoint`` (``--child``)."""
    return [sys.executable, "-m", "loadtests.instructions", "--child", endpoint, str(requests)]


def run_measured(
    command: Sequence[str], env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """``command`` (a measured process under valgrind) run to its end from the repository;
    its failure ends the driver with the tail of its output."""
    result = subprocess.run(  # noqa: S603  # nosec B603  # valgrind, our interpreter
        list(command),
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return result


def count_instructions(env: Mapping[str, str], endpoint: str, requests: int) -> int:
    """Instructions of one process serving ``requests`` requests, on a fresh copy of the db."""
    callgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    with on_database_copy(env) as run_env:
        result = run_measured([*callgrind, *child_command(endpoint, requests)], run_env)
    return parse_collected(result.stderr)


def measure(
    variant: bench.Variant,
    endpoint: str,
    env: Mapping[str, str],
    short: int,
    long: int,
) -> Count:
    """One variant on one endpoint: the short and the long run."""
    return Count(
        variant=variant.name,
        endpoint=endpoint,
        short=count_instructions(env, endpoint, short),
        long=count_instructions(env, endpoint, long),
        requests=long - short,
    )


def table(counts: Sequence[Count]) -> list[str]:
    """One line per variant and endpoint: instructions per request and the ratio to bare."""
    bare = {c.endpoint: c.per_request for c in counts if c.variant == bench.BASELINE}
    lines = [f"{'endpoint':9} {'variant':16} {'instructions/request':>21} {'x bare':>7}"]
    for c in counts:
        ratio = c.per_request / bare[c.endpoint] if c.endpoint in bare else float("nan")
        lines.append(f"{c.endpoint:9} {c.variant:16} {c.per_request:21,.0f} {ratio:7.3f}")
    return lines


def selection_parser(
    description: str, variants: Sequence[bench.Variant], endpoints: Sequence[str]
) -> argparse.ArgumentParser:
    """A parser with the ``--endpoints`` (``endpoints`` by default) and ``--variants`` (bare
    always included) options the in-process drivers share."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--endpoints", nargs="+", choices=bench.ENDPOINTS, default=[*endpoints])
    parser.add_argument(
        "--variants",
        nargs="+",
        metavar="VARIANT",
        help="a subset (bare is always included): "
        + ", ".join(v.name for v in variants).replace("%", "%%"),
    )
    return parser


def parse_args(argv: Sequence[str] | None, variants: Sequence[bench.Variant]) -> Any:
    """The driver's options."""
    parser = selection_parser(__doc__.split("\n\n")[0], variants, ["retrieve"])
    parser.add_argument("--short", type=int, default=DEFAULT_SHORT, help="requests, first run")
    parser.add_argument("--long", type=int, default=DEFAULT_LONG, help="requests, second run")
    parser.add_argument("--output", type=Path, default=bench.RESULTS / "instructions.json")
    options = parser.parse_args(argv)
    if options.long <= options.short:
        parser.error("--long must be more than --short")
    return options


def valgrind_missing() -> bool:
    """Say so and return True when valgrind is not installed."""
    if shutil.which("valgrind") is None:
        bench.say("valgrind is missing: apt-get install -y valgrind")
        return True
    return False


Measured = TypeVar("Measured")


def measure_all(
    chosen: Sequence[bench.Variant],
    endpoints: Sequence[str],
    measure_one: Callable[[bench.Variant, str, dict[str, str]], Measured],
    describe: Callable[[Measured], str],
) -> tuple[list[Measured], dict[str, Any]]:
    """``measure_one(variant, endpoint, env)`` for every variant and endpoint, on the
    variant's seeded environment, as many at a time as there are cores (each said as it
    comes, in order); the results and what the sink received."""
    sink = sinks.start_sink()
    results: list[Measured] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-valgrind-") as workdir:
            jobs = [
                (variant, endpoint, env)
                for variant in chosen
                for env in [prepared_environment(variant, Path(workdir), sink)]
                for endpoint in endpoints
            ]
            with ThreadPoolExecutor(max_workers=max(1, len(os.sched_getaffinity(0)))) as pool:
                futures = [pool.submit(measure_one, v, e, env) for v, e, env in jobs]
                for future in futures:
                    result = future.result()
                    results.append(result)
                    bench.say(describe(result))
    finally:
        sink.shutdown()
    return results, sink.stats.snapshot()


def save_results(path: Path, fields: Mapping[str, Any]) -> None:
    """``fields``, with the machine and the commit, as JSON at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": machine(), "commit": bench.git("rev-parse", "--short", "HEAD")}
    path.write_text(json.dumps({**document, **fields}, indent=2) + "\n")
    bench.say(f"results: {path}")


def main(argv: list[str] | None = None) -> int:
    """Count every selected variant on every selected endpoint, two runs at a time."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["--seed"]:
        bench.say(json.dumps(seed()))
        return 0
    if arguments[:1] == ["--child"]:
        return child(*arguments[1:])
    variants = bench.build_variants(bench.production_sampler_ratio())
    options = parse_args(arguments, variants)
    if valgrind_missing():
        return 2
    counts, received = measure_all(
        bench.select_variants(variants, options.variants),
        options.endpoints,
        lambda variant, endpoint, env: measure(variant, endpoint, env, options.short, options.long),
        lambda count: f"{count.endpoint:9} {count.variant:16} {count.per_request:,.0f}",
    )
    for line in table(counts):
        bench.say(line)
    save_results(
        options.output,
        {
            "short": options.short,
            "long": options.long,
            "counts": [{**c.__dict__, "per_request": round(c.per_request)} for c in counts],
            "sinks": received,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
