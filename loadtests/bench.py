"""Instrumentation overhead benchmark (`make bench`): one app, observed five ways, side by side.

Every variant is its own gunicorn server with identical settings (one sync worker, SQLite,
debug off, throttles off, JSON logs to a file) and differs only in what observes the app:

- ``bare``: ``TELEMETRY_ENABLED=false``, nothing observed; every ratio is against it;
- ``project@100%`` and ``project@10%``: the project's own telemetry (traces, metrics, logs),
  spans sampled ``parentbased_always_on`` / ``parentbased_traceidratio`` 0.1 and exported
  over OTLP/HTTP; plus ``project@<p>%`` when the production overlay's ratio is not 0.1;
- ``project@10%+cache``: ``project@10%`` with the response cache on (``REDIS_URL`` the
  Redis at 127.0.0.1:6379, ``BENCH_REDIS_URL`` overrides; ``RESPONSE_CACHE_SECONDS=60``), the
  same telemetry: its speed-up over ``project@10%`` (median of per-round ratios) is printed
  and saved as ``speedup``. Reads hit (wrk repeats one request); create also raises the version;
- ``otel-zero-code``: the bare app under ``opentelemetry-instrument`` with the distro's
  defaults (given only the endpoint, ``http/protobuf``, the service and settings names);
- ``sentry-tracing``: the bare app with ``sentry_sdk.init(traces_sample_rate=1.0)`` and its
  default integrations (``loadtests/bench_apps/sentry_wsgi.py``).

Each exporting variant has its own local sink (OTLP/HTTP, or Sentry envelopes) that accepts,
counts (requests, bytes, spans or envelope items, per path) and discards. For each endpoint
wrk warms every variant up, then runs rounds in a fixed order (bare, project@100%, ...). Per
run: requests/s, p50/p99, errors, requests, and the gunicorn worker's CPU time per request
(utime + stime from /proc, its export threads included). Then paired rounds
(``loadtests/paired.py``): a bare server and each other variant loaded together on the same
core, the two bare servers against each other first as the control, the base, the turns and
the order balanced over every four rounds (``pair_schedule``); their cost ratio holds still
where a shared VM's speed moves between sequential runs, and the targets are read from it.
With two or more cores the servers run on core 0 and wrk, the sinks, py-spy and this script on
the others.
``--profile VARIANT`` records that variant's worker with py-spy during the sequential rounds.
Results: a table and the targets met or missed on stdout, and ``loadtests/results/bench.json``
(``--output``); exit status 1 when a run had errors or an exporting variant's sink received
no spans or transactions (a missed target is reported, not an error).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess  # nosec B404
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from loadtests import local_server, paired, wrk
from loadtests.local_server import (
    BIN,
    HOST,
    NO_THROTTLES,
    REPO,
    NotReadyError,
    answers_200,
    free_port,
    gunicorn_command,
    log_tail,
)
from loadtests.machine import machine
from loadtests.sinks import SinkServer, SinkStats, start_sink
from loadtests.worker_cpu import cpu_seconds, worker_pid
from loadtests.wrk import Run

# Bandit findings accepted here (marked inline): subprocess runs fixed argument lists without
# a shell (B404, B603); urlopen only reaches the local servers at HOST (B310); PASSWORD is the
# throwaway user of a short-lived local database (B105); token "" means none (B107).
RESULTS = REPO / "loadtests" / "results"
PRODUCTION_OVERLAY = REPO / "k8s" / "overlays" / "production" / "kustomization.yaml"
ENDPOINTS = ("retrieve", "list", "create")
PASSWORD = "bench-password-long-enough"  # nosec B105
BASELINE = "bare"
TWIN = "bare-twin"  # a second bare server: the paired runs' control
PROJECT_PREFIX = "project@"
PROJECT_RATIO = 0.1  # the project variant every run has besides 100%
STARTUP_SECONDS = 60
CACHED = f"{PROJECT_PREFIX}10%+cache"  # the project variant with the response cache on
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BUSY_WARNING = 20  # % of a core busy before the run: something else is running
# % of the server core busy outside the measured worker during a run. A few % is normal (the
# master, the idle variants' heartbeats and pollers, loopback interrupts); well above means
# another process shared the core and that run's numbers are not comparable.
OTHER_CPU_WARNING = 25
# The targets (issue 11), read from the paired ratio over the control: the floor of each
# project variant's ratio to bare on every endpoint, and the alternatives project@100% must be
# ahead of on every endpoint.
TARGETS = {f"{PROJECT_PREFIX}100%": 0.85, f"{PROJECT_PREFIX}10%": 0.95}
ALTERNATIVES = ("otel-zero-code", "sentry-tracing")
EXPORT_WAIT_SECONDS = 20  # the distro's batch processor exports every 5 s
# Inherited settings that would make variants differ, or share state, if left in place.
DROPPED_PREFIXES = ("OTEL_", "SENTRY_", "TELEMETRY_", "FAULT_", "BENCH_")
DROPPED_NAMES = frozenset({"PROMETHEUS_MULTIPROC_DIR", "REDIS_URL", "DATABASE_URL"})


def say(text: str) -> None:
    """One line of progress or result on stdout, flushed at once."""
    print(text, flush=True)


# ------------------------------------------------------------------ variants
@dataclass(frozen=True)
class Variant:
    """One way of running the app: environment overrides and how gunicorn is launched."""

    name: str
    env: dict[str, str]
    exports: str | None = None  # "otlp" or "sentry": the kind of sink it sends to
    sampled: float = 0.0  # share of new traces kept
    launcher: tuple[str, ...] = ()  # runs before gunicorn (opentelemetry-instrument)
    app_module: str | None = None  # overrides gunicorn.conf.py's wsgi_app
    speedup_over: str | None = None  # the variant it differs from by one feature only


def percent(ratio: float) -> str:
    """``0.1`` -> ``"10%"``, ``0.125`` -> ``"12.5%"``."""
    return f"{round(ratio * 100, 4):g}%"


def project_variant(ratio: float) -> Variant:
    """The project's own telemetry, new traces sampled at ``ratio``."""
    sampler = (
        {"OTEL_TRACES_SAMPLER": "parentbased_always_on"}
        if math.isclose(ratio, 1.0)
        else {
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": f"{ratio:g}",
        }
    )
    return Variant(f"{PROJECT_PREFIX}{percent(ratio)}", sampler, exports="otlp", sampled=ratio)


def cached_variant(redis_url: str = BENCH_REDIS_URL) -> Variant:
    """``project@10%`` with the response cache on; its keys under a prefix of its own."""
    base = project_variant(PROJECT_RATIO)
    cache = {
        "REDIS_URL": redis_url,
        "RESPONSE_CACHE_SECONDS": "60",
        "CACHE_KEY_PREFIX": f"bench-{os.getpid()}-{int(time.time())}",
    }
    return replace(base, name=CACHED, env={**base.env, **cache}, speedup_over=base.name)


def production_sampler_ratio(path: Path = PRODUCTION_OVERLAY) -> float | None:
    """``OTEL_TRACES_SAMPLER_ARG`` among the overlay's configMapGenerator literals, or None
    when the file, the literal or a number is missing."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    generators = document.get("configMapGenerator") if isinstance(document, dict) else None
    for generator in generators or []:
        for literal in (generator or {}).get("literals") or []:
            key, _, value = str(literal).partition("=")
            if key.strip() == "OTEL_TRACES_SAMPLER_ARG":
                try:
                    return float(value)
                except ValueError:
                    return None
    return None


def build_variants(production_ratio: float | None) -> list[Variant]:
    """Every variant, in the order each round runs them."""
    ratios = [1.0, PROJECT_RATIO]
    if production_ratio is not None and not any(math.isclose(production_ratio, r) for r in ratios):
        ratios.append(production_ratio)
    bare_env = {"TELEMETRY_ENABLED": "false"}
    return [
        Variant(BASELINE, bare_env),
        *(project_variant(ratio) for ratio in ratios),
        cached_variant(),
        Variant(
            "otel-zero-code",
            {
                **bare_env,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_SERVICE_NAME": "todo-api",
                "OTEL_TRACES_SAMPLER": "parentbased_always_on",
                "DJANGO_SETTINGS_MODULE": "app.settings",
            },
            exports="otlp",
            sampled=1.0,
            launcher=(str(BIN / "opentelemetry-instrument"),),
        ),
        Variant(
            "sentry-tracing",
            bare_env,
            exports="sentry",
            sampled=1.0,
            app_module="loadtests.bench_apps.sentry_wsgi:application",
        ),
    ]


def select_variants(variants: Sequence[Variant], names: Iterable[str] | None) -> list[Variant]:
    """The named variants (all when ``names`` is None), always with the baseline and the
    variant each chosen one is compared with, in order."""
    wanted = {BASELINE, *(names if names is not None else (v.name for v in variants))}
    wanted |= {v.speedup_over for v in variants if v.name in wanted and v.speedup_over}
    return [variant for variant in variants if variant.name in wanted]


def slug(name: str) -> str:
    """A file-name-safe form of a variant name: ``project@10%`` -> ``project-10pct``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", name.replace("%", "pct")).strip("-")


# ------------------------------------------------------------------ sinks
def sink_env(variant: Variant, url: str) -> dict[str, str]:
    """The overrides that point ``variant`` at its sink."""
    if variant.exports == "otlp":
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": url}
    if variant.exports == "sentry":
        return {"BENCH_SENTRY_DSN": url.replace("://", "://publickey@", 1) + "/1"}
    return {}


def exported(variant: Variant, stats: SinkStats) -> int:
    """The traces a variant's sink received: spans (OTLP) or transactions (Sentry)."""
    return stats.item("transaction" if variant.exports == "sentry" else "spans")


# ------------------------------------------------------------------ servers
def cores() -> tuple[str | None, str | None]:
    """(server cores, load-generator cores) for taskset, or (None, None) on one core."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2 or not shutil.which("taskset"):
        return None, None
    return str(available[0]), ",".join(str(c) for c in available[1:])


@dataclass
class Server:
    """A running gunicorn and what the benchmark needs to call and observe it."""

    variant: Variant
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    sink: SinkServer | None
    env: dict[str, str]  # the variant's non-secret overrides, sink address included
    command: list[str]
    token: str = ""
    todo_id: int = 0
    requests: int = 0  # sent by wrk, warm-ups included


class ServerFailed(SystemExit):
    """A server did not start or misbehaved; the message ends with its log's tail."""


def base_environment(workdir: Path, name: str, port: int) -> dict[str, str]:
    """The settings every variant shares, over this process's environment minus anything
    that would make variants differ (``OTEL_*``, ``SENTRY_*``, ``REDIS_URL``...)."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(DROPPED_PREFIXES) and key not in DROPPED_NAMES
    }
    return {
        **local_server.base_environment(
            port=port,
            metrics_port=free_port(),
            static_root=workdir / "static",
            workers=1,
            allowed_hosts=HOST,
            inherited=inherited,
        ),
        "DATABASE_URL": f"sqlite:///{workdir / name}.sqlite3",
        **NO_THROTTLES,
        # The tokens made before the run must outlive it (a full run takes about 6 minutes).
        "JWT_ACCESS_TOKEN_LIFETIME": "86400",  # nosec B105  # seconds, not a secret
    }


def server_command(variant: Variant, server_cpus: str | None) -> list[str]:
    """gunicorn with the project's config, behind the variant's launcher, pinned if asked.
    taskset and opentelemetry-instrument both exec, so the process started is the master.
    ``-c``, not ``--config``: opentelemetry-instrument's own parser would take ``--config`` for
    an ambiguous abbreviation of its ``--config_file``/``--configurator``."""
    command = [*variant.launcher, *gunicorn_command("-c")]
    if variant.app_module:
        command.append(variant.app_module)
    return ["taskset", "-c", server_cpus, *command] if server_cpus else command


def fail(server: Server, problem: str) -> ServerFailed:
    """An error naming the variant, the problem and the tail of its log."""
    tail = log_tail(server.log)
    return ServerFailed(f"{server.variant.name}: {problem}\n--- {server.log} (end) ---\n{tail}")


def start_server(
    variant: Variant, sink: SinkServer | None, workdir: Path, server_cpus: str | None
) -> Server:
    """Migrate a fresh database, start gunicorn (output to ``<workdir>/<variant>.log``),
    wait for /healthz and seed a user with 25 todos."""
    name = slug(variant.name)
    port = free_port()
    overrides = {**variant.env, **(sink_env(variant, sink.url) if sink else {})}
    env = {**base_environment(workdir, name, port), **overrides}
    log = workdir / f"{name}.log"
    migrate = local_server.manage("migrate", "--noinput", "-v0", env=env)
    if migrate.returncode:
        raise ServerFailed(f"{variant.name}: migrate failed\n{migrate.stdout}{migrate.stderr}")
    command = server_command(variant, server_cpus)
    process = local_server.start(command, env=env, log_path=log, new_session=False)
    server = Server(variant, f"http://{HOST}:{port}", process, log, sink, overrides, command)
    wait_until_healthy(server)
    worker_pid(process.pid)  # exactly one worker, or fail now
    prepare(server)
    return server


def wait_until_healthy(server: Server, timeout: float = STARTUP_SECONDS) -> None:
    """Return once /healthz answers 200; raise with the log's tail if the server exits or
    does not answer within ``timeout`` seconds."""
    healthz = f"{server.url}/healthz"
    try:
        local_server.wait_until_ready(
            server.process, lambda: answers_200(healthz, timeout=1), timeout=timeout
        )
    except NotReadyError as not_ready:
        if not_ready.returncode is not None:
            raise fail(server, f"gunicorn exited with status {not_ready.returncode}") from None
        raise fail(server, f"no 200 from /healthz within {timeout:.0f} s") from None


def stop_server(server: Server) -> None:
    """SIGTERM to the master; wait for a graceful exit (workers flush their exporters)."""
    local_server.stop(server.process, grace_s=30)


def call(url: str, body: dict[str, Any] | None = None, token: str = "") -> Any:  # nosec B107
    """POST ``body`` as JSON to one of the local servers (http://127.0.0.1 only)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:  # nosec B310
        return json.loads(response.read() or b"null")


def prepare(server: Server) -> None:
    """A user with 25 todos; an access token that outlives the benchmark."""
    try:
        call(f"{server.url}/api/auth/register/", {"username": "bench", "password": PASSWORD})
        server.token = call(
            f"{server.url}/api/auth/token/", {"username": "bench", "password": PASSWORD}
        )["access"]
        for n in range(25):
            todo = call(f"{server.url}/api/todos/", {"title": f"todo {n}"}, server.token)
    except OSError as error:
        raise fail(server, f"seeding failed: {error}") from error
    server.todo_id = todo["id"]


def wait_for_exports(servers: Iterable[Server], timeout: float = EXPORT_WAIT_SECONDS) -> None:
    """Fail early, before minutes of load, if a variant that traces every request has not
    delivered a single span or transaction to its sink ``timeout`` seconds after seeding."""
    pending = [s for s in servers if s.sink and s.variant.sampled >= 1.0]
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [s for s in pending if s.sink and not exported(s.variant, s.sink.stats)]
        time.sleep(0.2)
    if pending:
        server = pending[0]
        sink = server.sink.stats.snapshot() if server.sink else {}
        raise fail(server, f"nothing traced reached its sink within {timeout:.0f} s: {sink}")


# ------------------------------------------------------------------ runs
def core_busy_seconds(core: str | None) -> float | None:
    """Busy time so far of ``core`` (``"0"``) from /proc/stat, or None when not pinned."""
    if core is None:
        return None
    busy, _ = parse_cpu_times(Path("/proc/stat").read_text())[f"cpu{core}"]
    return busy / os.sysconf("SC_CLK_TCK")


def measure(
    server: Server, endpoint: str, seconds: int, connections: int, core: str | None = None
) -> Run:
    """One wrk run, with the worker's CPU time over it divided by the requests served and,
    when the servers share one ``core``, how busy that core was with anything else."""
    worker = worker_pid(server.process.pid)
    started, core_before, before = time.monotonic(), core_busy_seconds(core), cpu_seconds(worker)
    output = wrk.run(server, endpoint, seconds, connections)
    if worker_pid(server.process.pid, timeout=0) != worker:
        raise fail(server, f"worker {worker} was replaced during a run")
    used = cpu_seconds(worker) - before
    core_after, elapsed = core_busy_seconds(core), time.monotonic() - started
    run = wrk.parse(output)
    server.requests += run.requests
    other = None
    if core_before is not None and core_after is not None:
        other = max(0.0, (core_after - core_before - used) * 100 / elapsed)
    per_request = used * 1e6 / run.requests if run.requests else None
    return replace(run, cpu_us_per_request=per_request, other_cpu_pct=other)


# ------------------------------------------------------------------ profiling
PROFILE_FORMATS = {"flamegraph": ("svg", ()), "raw": ("txt", ("--full-filenames",))}


@dataclass
class Profiler:
    """A py-spy recorder attached to one worker."""

    process: subprocess.Popen[bytes]
    output: Path
    log: Path


def start_profilers(server: Server, directory: Path, workdir: Path) -> list[Profiler]:
    """Two py-spy recorders (blocking mode, 250 Hz) on the variant's worker, one per format:
    ``flame-<variant>.svg`` (flame graph) and ``flame-<variant>.txt`` (raw collapsed stacks
    with full file names). py-spy writes one format per run; two attached at once works."""
    worker = worker_pid(server.process.pid)
    profilers = []
    for fmt, (suffix, extra) in PROFILE_FORMATS.items():
        output = directory / f"flame-{slug(server.variant.name)}.{suffix}"
        log = workdir / f"py-spy-{slug(server.variant.name)}-{fmt}.log"
        command = [
            str(BIN / "py-spy"), "record", "--pid", str(worker), "--rate", "250",
            "--format", fmt, *extra, "--output", str(output),
        ]  # fmt: skip
        with log.open("wb") as stream:
            process = subprocess.Popen(  # nosec B603
                command, stdout=stream, stderr=subprocess.STDOUT
            )
        profilers.append(Profiler(process, output, log))
    return profilers


def stop_profilers(profilers: Iterable[Profiler]) -> list[str]:
    """SIGINT each recorder (py-spy then writes its file); the files written."""
    written = []
    for profiler in profilers:
        if profiler.process.poll() is None:
            profiler.process.send_signal(signal.SIGINT)
        try:
            profiler.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            profiler.process.kill()
            profiler.process.wait()
        if profiler.output.exists():
            written.append(str(profiler.output))
        else:
            say(f"py-spy wrote no {profiler.output}:\n{log_tail(profiler.log)}")
    return written


# ------------------------------------------------------------------ report
def parse_cpu_times(text: str) -> dict[str, tuple[int, int]]:
    """``{cpuN: (busy, total)}`` jiffies from /proc/stat; idle and iowait are not busy."""
    times = {}
    for line in text.splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            jiffies = [int(v) for v in values[:8]]  # guest time is already in user
            idle = jiffies[3] + (jiffies[4] if len(jiffies) > 4 else 0)
            times[name] = (sum(jiffies) - idle, sum(jiffies))
    return times


def busy_percent(interval: float = 1.0) -> dict[str, float]:
    """How busy each core is over ``interval`` seconds before any server starts: another
    benchmark or test run on the machine skews every number, the servers' core above all."""
    before = parse_cpu_times(Path("/proc/stat").read_text())
    time.sleep(interval)
    after = parse_cpu_times(Path("/proc/stat").read_text())
    return {
        cpu: round(100 * (after[cpu][0] - busy) / ((after[cpu][1] - total) or 1), 1)
        for cpu, (busy, total) in before.items()
        if cpu in after
    }


def git(*args: str) -> str | None:
    """``git <args>`` in the repository, stripped, or None when git fails or is missing."""
    executable = shutil.which("git")
    if not executable:
        return None
    result = subprocess.run(  # nosec B603
        [executable, *args], cwd=REPO, capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize_variant(runs: Sequence[Run], bare: Sequence[Run]) -> dict[str, Any]:
    """Medians over rounds, and the ratio to bare as the median of per-round ratios (each
    round's run against the bare run of the same round), with its min and max."""
    ratios = [r.rps / b.rps if b.rps else 0.0 for b, r in zip(bare, runs, strict=True)]
    cpu = _median(r.cpu_us_per_request for r in runs)
    bare_cpu = _median(r.cpu_us_per_request for r in bare)
    return {
        "rps": statistics.median(r.rps for r in runs),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "cpu_us_per_request": cpu,
        "cpu_ratio": cpu / bare_cpu if cpu is not None and bare_cpu else None,
        "requests": sum(r.requests for r in runs),
        "errors": sum(r.errors for r in runs),
        "other_cpu_pct_max": max(
            (r.other_cpu_pct for r in runs if r.other_cpu_pct is not None), default=None
        ),
        "rounds": [asdict(r) for r in runs],
    }


def summarize(
    rounds: Mapping[str, Mapping[str, Sequence[Run]]],
    speedups: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``{endpoint: {variant: summary}}``; project variants also carry ``bare_rps``,
    ``instrumented_rps`` and ``ratio``, the names the overhead targets are stated in.
    ``speedups`` maps a variant to the one it is compared with: it also carries ``speedup``
    (with ``speedup_min``, ``speedup_max`` and ``speedup_over``), its throughput against that
    variant's, the median of per-round ratios."""
    summary: dict[str, Any] = {}
    for endpoint, by_variant in rounds.items():
        bare = by_variant[BASELINE]
        summary[endpoint] = {}
        for name, runs in by_variant.items():
            entry = summarize_variant(runs, bare)
            if name.startswith(PROJECT_PREFIX):
                entry = {
                    "bare_rps": statistics.median(r.rps for r in bare),
                    "instrumented_rps": entry["rps"],
                    **entry,
                }
            other = (speedups or {}).get(name, "")
            if other in by_variant:
                ratios = [
                    r.rps / o.rps if o.rps else 0.0
                    for o, r in zip(by_variant[other], runs, strict=True)
                ]
                entry = {
                    **entry,
                    "speedup_over": other,
                    "speedup": statistics.median(ratios),
                    "speedup_min": min(ratios),
                    "speedup_max": max(ratios),
                }
            summary[endpoint][name] = entry
    return summary


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(summary: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
    """One row per endpoint and variant: req/s, ratio to bare (min-max), the paired ratio
    (min-max; bare's is the control's) and it over the control's, p50, p99, worker CPU per
    request (and against bare), errors."""
    say(
        f"{'endpoint':<9} {'variant':<17} {'req/s':>6} {'ratio (min-max)':>17} "
        f"{'paired (min-max)':>20} {'/control':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU us/req':>10} {'(x bare)':>8} {'errors':>6}"
    )
    for endpoint, rows in summary.items():
        for name, row in rows.items():
            ratio = f"{row['ratio']:.2f} ({row['ratio_min']:.2f}-{row['ratio_max']:.2f})"
            pair = "-"
            if "paired_ratio" in row:
                pair = (
                    f"{row['paired_ratio']:.3f} ({row['paired_ratio_min']:.3f}-"
                    f"{row['paired_ratio_max']:.3f})"
                )
            say(
                f"{endpoint:<9} {name:<17} {row['rps']:>6.0f} {ratio:>17} {pair:>20} "
                f"{_number(row.get('paired_ratio_over_control'), '.3f'):>8} "
                f"{row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} "
                f"{_number(row['cpu_us_per_request'], '.0f'):>10} "
                f"{_number(row['cpu_ratio'], '.2f'):>8} "
                f"{row['errors'] + row.get('paired_errors', 0):>6}"
            )


def print_speedups(summary: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
    """One line per endpoint and compared variant: how much faster than its counterpart."""
    for endpoint, rows in summary.items():
        for name, row in rows.items():
            if "speedup" in row:
                say(
                    f"{endpoint:<9} {name} vs {row['speedup_over']}: {row['speedup']:.2f}x "
                    f"({row['speedup_min']:.2f}-{row['speedup_max']:.2f}) throughput"
                )


def reachable(url: str, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to ``url``'s host and port (6379 by default) succeeds."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or HOST, parts.port or 6379), timeout):
            return True
    except OSError:
        return False


def redis_missing(variants: Iterable[Variant]) -> str | None:
    """Why a chosen variant cannot run (its Redis does not answer), or None."""
    for variant in variants:
        url = variant.env.get("REDIS_URL")
        if url and not reachable(url):
            return f"{variant.name} needs Redis at {url}: start it or set BENCH_REDIS_URL"
    return None


def print_sinks(sinks: Mapping[str, Mapping[str, Any]]) -> None:
    """Per variant and sink path: requests, bytes and decoded items received."""
    say("sinks (what each variant exported; warm-ups and seeding included):")
    for name, paths in sinks.items():
        for path, count in paths.items():
            items = ", ".join(f"{k} {v}" for k, v in count["items"].items())
            say(
                f"  {name:<15} {path:<16} {count['requests']:>7} requests "
                f"{count['bytes'] / 1e6:>8.2f} MB  {items}"
            )


def problems(summary: Mapping[str, Any], servers: Iterable[Server]) -> list[str]:
    """Why the run failed: runs with errors, exporting variants whose sink got no traces."""
    found = [
        f"{endpoint} {name}: {row['errors'] + row.get('paired_errors', 0)} errors"
        for endpoint, rows in summary.items()
        for name, row in rows.items()
        if row["errors"] or row.get("paired_errors")
    ]
    found += [
        f"{s.variant.name}: its {s.variant.exports} sink received no traces"
        for s in servers
        if s.sink and not exported(s.variant, s.sink.stats)
    ]
    return found


def noise_warnings(rounds: Mapping[str, Mapping[str, Sequence[Run]]]) -> list[str]:
    """Measured runs during which something else kept the server core busy."""
    return [
        f"{endpoint} round {n} {name}: {run.other_cpu_pct:.0f}% of the server core went to "
        "other work (another benchmark or test run?); compare with care"
        for endpoint, by_variant in rounds.items()
        for name, runs in by_variant.items()
        for n, run in enumerate(runs, 1)
        if run.other_cpu_pct is not None and run.other_cpu_pct > OTHER_CPU_WARNING
    ]


# ------------------------------------------------------------------ main
def parse_args(argv: Sequence[str] | None, variants: Sequence[Variant]) -> argparse.Namespace:
    """Command-line options; ``--variants`` and ``--profile`` name ``variants``."""
    names = [v.name for v in variants]
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument(
        "--pairs", type=int, default=4,
        help="paired rounds (bare and each variant loaded together, taking turns on the core; "
        "default 4, even so that each goes first as often; 0: none)",
    )  # fmt: skip
    parser.add_argument("--seconds", type=int, default=6, help="seconds per run (default 6)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds (default 2)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (4)")
    parser.add_argument("--endpoints", nargs="+", default=list(ENDPOINTS), choices=ENDPOINTS)
    parser.add_argument(
        "--variants", nargs="+", choices=names, metavar="VARIANT",
        help=f"a subset ({BASELINE} is always included): {', '.join(names)}".replace("%", "%%"),
    )  # fmt: skip
    parser.add_argument(
        "--profile", action="append", default=[], choices=names, metavar="VARIANT",
        help="record this variant's worker with py-spy (flame-<variant>.svg and .txt next to "
        "--output); its own numbers then include py-spy's pauses",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=RESULTS / "bench.json")
    args = parser.parse_args(argv)
    if args.variants is not None:
        missing = set(args.profile) - {BASELINE, *args.variants}
        if missing:
            parser.error(f"--profile {', '.join(sorted(missing))} is not among --variants")
    return args


def start_servers(
    variants: Iterable[Variant], workdir: Path, server_cpus: str | None, into: dict[str, Server]
) -> None:
    """Start each variant's sink (if it exports) and server, one after the other, into
    ``into`` (filled as they start, so the caller can stop those started if one fails)."""
    for variant in variants:
        sink = start_sink() if variant.exports else None
        server = into[variant.name] = start_server(variant, sink, workdir, server_cpus)
        say(f"started {variant.name} at {server.url}, log {server.log}")


def benchmark(
    servers: Mapping[str, Server],
    twin: Server | None,
    args: argparse.Namespace,
    core: str | None,
) -> tuple[dict[str, dict[str, list[Run]]], dict[str, dict[str, list[paired.Pair]]]]:
    """For each endpoint: warm every variant up, run ``args.rounds`` rounds of one run per
    variant in a fixed order, then (given a ``twin``) ``args.pairs`` paired rounds; one
    progress line per run. Each endpoint's paired rounds come before the next endpoint's
    runs, so that every server has served the same endpoints when it is paired (creates
    make the list longer, and bare makes more of them than the variants)."""
    rounds: dict[str, dict[str, list[Run]]] = {}
    pairs: dict[str, dict[str, list[paired.Pair]]] = {}
    for endpoint in args.endpoints:
        rounds[endpoint] = {name: [] for name in servers}
        for name, server in servers.items():
            run = measure(server, endpoint, args.warmup, args.connections, core)
            say(f"{endpoint:<9} warm-up    {name:<15} {progress(run)}")
        for n in range(1, args.rounds + 1):
            for name, server in servers.items():
                run = measure(server, endpoint, args.seconds, args.connections, core)
                rounds[endpoint][name].append(run)
                say(f"{endpoint:<9} round {n}/{args.rounds} {name:<15} {progress(run)}")
        if twin is not None:
            pairs[endpoint] = pair_rounds(servers, twin, endpoint, args, core)
    return rounds, pairs


def pair_schedule(rounds: int, others: Sequence[str]) -> list[tuple[int, str, str, bool]]:
    """``(round, server, base, base_first)`` for every paired run, in order: each round pairs
    every server of ``others`` (the twin, the control, first in the given order) with a base,
    a bare server. Three things are balanced over every four rounds, each by itself and each
    against the others:

    - the base: bare in rounds 1-2, 5-6..., the twin in rounds 3-4, 7-8... (for the control,
      the twin against bare), so the two bare servers serve the same paired load, and a lean
      in either (bare also serves the sequential rounds) reaches the variants and the control
      alike: dividing by the control takes it out;
    - the turns: the base goes first in odd rounds;
    - the order: ``others`` as given in rounds 1 and 4, reversed in rounds 2 and 3, so no
      variant is always paired first or last in a round.
    """
    schedule: list[tuple[int, str, str, bool]] = []
    for n in range(1, rounds + 1):
        base = BASELINE if (n - 1) // 2 % 2 == 0 else TWIN
        order = reversed(others) if n % 4 in {2, 3} else others
        schedule.extend((n, name, base, n % 2 == 1) for name in order)
    return schedule


def pair_rounds(
    servers: Mapping[str, Server],
    twin: Server,
    endpoint: str,
    args: argparse.Namespace,
    core: str | None,
) -> dict[str, list[paired.Pair]]:
    """Warm the twin up, then ``args.pairs`` rounds of one paired run of a bare server with
    each other variant and of one bare server with the other (the control, kept under the
    twin's name), as ``pair_schedule`` orders them; one progress line each."""
    bases = {BASELINE: servers[BASELINE], TWIN: twin}
    opposite = {BASELINE: twin, TWIN: servers[BASELINE]}  # the control's other side
    others = {TWIN: twin, **{name: s for name, s in servers.items() if name != BASELINE}}
    measure(twin, endpoint, args.warmup, args.connections, core)
    pairs: dict[str, list[paired.Pair]] = {name: [] for name in others}
    for n, name, base, base_first in pair_schedule(args.pairs, list(others)):
        other = opposite[base] if name == TWIN else others[name]
        try:
            pair = paired.measure(
                bases[base], other, endpoint, args.seconds, args.connections,
                bare_first=base_first,
            )  # fmt: skip
        except paired.WorkerReplacedError as replaced:
            raise fail(other, str(replaced)) from None
        pairs[name].append(replace(pair, base=base))
        say(f"{endpoint:<9} pair {n}/{args.pairs}  {name:<15} {paired.progress(pair)}  base {base}")
    return pairs


def add_pairs(
    summary: dict[str, Any], pairs: Mapping[str, Mapping[str, Sequence[paired.Pair]]]
) -> dict[str, Any]:
    """``summary`` with each variant's paired figures added (``paired_ratio`` and the rest);
    bare's are the control's, one bare server against the other. With a control, each variant
    also gets ``paired_ratio_over_control``: its paired ratio divided by the control's, the
    part of the method's reading that two identical servers show taken out (before the bases
    rotated, bare, paired with every variant in turn, read 0.01-0.05 slower than its twin)."""
    for endpoint, by_variant in pairs.items():
        for name, runs in by_variant.items():
            row = summary[endpoint][BASELINE if name == TWIN else name]
            row.update(paired.summarize(runs))
        if TWIN in by_variant:
            control = summary[endpoint][BASELINE]["paired_ratio"]
            for name in by_variant.keys() - {TWIN}:
                row = summary[endpoint][name]
                if control:
                    row["paired_ratio_over_control"] = row["paired_ratio"] / control
    return summary


def verdict(summary: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Each target against the paired ratios over the control (the paired ratio where no
    control ran, the sequential ratio where no pair ran): the floors of ``TARGETS`` per
    endpoint, and project@100% ahead of each alternative."""

    def ratio(row: Mapping[str, Any]) -> float:
        for key in ("paired_ratio_over_control", "paired_ratio", "ratio"):
            if key in row:
                return float(row[key])
        raise KeyError("ratio")

    found = []
    for endpoint, rows in summary.items():
        for name, floor in TARGETS.items():
            if name in rows:
                value = ratio(rows[name])
                found.append({
                    "endpoint": endpoint, "target": f"{name} >= {floor:.2f} of {BASELINE}",
                    "value": round(value, 3), "met": value >= floor,
                })  # fmt: skip
        leader = f"{PROJECT_PREFIX}100%"
        for other in ALTERNATIVES:
            if leader in rows and other in rows:
                lead, behind = ratio(rows[leader]), ratio(rows[other])
                found.append({
                    "endpoint": endpoint, "target": f"{leader} ahead of {other}",
                    "value": round(lead, 3), "against": round(behind, 3), "met": lead > behind,
                })  # fmt: skip
    return found


def print_verdict(found: Sequence[Mapping[str, Any]]) -> None:
    """One line per target and endpoint: met or missed, with the figure it was read from."""
    for item in found:
        state = "met   " if item["met"] else "MISSED"
        against = f" vs {item['against']:.3f}" if "against" in item else ""
        say(f"{state} {item['endpoint']:<9} {item['target']:<38} {item['value']:.3f}{against}")


def progress(run: Run) -> str:
    """A run on one line."""
    return (
        f"{run.rps:>6.0f} req/s  p50 {run.p50_ms:>6.2f} ms  p99 {run.p99_ms:>7.2f} ms  "
        f"CPU {_number(run.cpu_us_per_request, '>5.0f')} us/req  "
        f"other {_number(run.other_cpu_pct, '>3.0f')}%  errors {run.errors}"
    )


def results_document(
    *,
    argv: list[str] | None,
    settings: Mapping[str, Any],
    servers: Mapping[str, Server],
    sinks: Mapping[str, Any],
    profiled: Sequence[str],
    summary: Mapping[str, Any],
    targets: Sequence[Mapping[str, Any]],
    flames: Sequence[str],
    found: Sequence[str],
    warnings: Sequence[str],
) -> dict[str, Any]:
    """What ``bench.json`` holds: the machine, command, commit, settings, each variant's
    environment, command, sink counts and requests, the summary, the targets, profiles,
    problems and warnings."""
    status = git("status", "--porcelain")
    return {
        "machine": machine(),
        "command": sys.argv if argv is None else [sys.argv[0], *argv],
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": None if status is None else bool(status),
        "settings": settings,
        "variants": {
            name: {
                "env": server.env,
                "command": server.command,
                "sink": sinks.get(name),
                "wrk_requests": server.requests,
                "profiled": name in profiled,
            }
            for name, server in servers.items()
        },
        "endpoints": summary,
        "targets": targets,
        "profiles": flames,
        "problems": found,
        "warnings": warnings,
    }


def run_everything(
    variants: Sequence[Variant],
    args: argparse.Namespace,
    server_cpus: str | None,
    servers: dict[str, Server],
) -> tuple[dict[str, dict[str, list[Run]]], dict[str, dict[str, list[paired.Pair]]], list[str]]:
    """Start every server (into ``servers``; the twin too when pairs are asked for), run the
    rounds, stop them all: the runs, the pairs and the flame graphs written (a profiled
    variant's paired runs include py-spy's pauses, like its own runs)."""
    profilers: list[Profiler] = []
    flames: list[str] = []
    twin: Server | None = None
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        subprocess.run(  # nosec B603
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=REPO, check=True,
            env={**os.environ, "DJANGO_DEBUG": "true", "DJANGO_STATIC_ROOT": f"{workdir}/static"},
        )  # fmt: skip
        try:
            start_servers(variants, workdir, server_cpus, into=servers)
            if args.pairs:  # started with the others: it idles through the same runs
                twin = start_server(
                    replace(servers[BASELINE].variant, name=TWIN), None, workdir, server_cpus
                )
                say(f"started {TWIN} at {twin.url}, log {twin.log}")
            wait_for_exports(servers.values())
            for name in args.profile:
                profilers += start_profilers(servers[name], args.output.parent, workdir)
            rounds, pairs = benchmark(servers, twin, args, server_cpus)
        finally:
            flames = stop_profilers(profilers)
            if twin is not None:
                stop_server(twin)
            for server in servers.values():
                stop_server(server)
            for server in servers.values():
                if server.sink:
                    server.sink.shutdown()
    return rounds, pairs, flames


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every run was clean and every exporting sink got traces."""
    production_ratio = production_sampler_ratio()
    every_variant = build_variants(production_ratio)
    args = parse_args(argv, every_variant)
    if not shutil.which("wrk"):
        say("wrk is missing: apt-get install -y wrk")
        return 2
    variants = select_variants(every_variant, args.variants)
    if missing := redis_missing(variants):
        say(missing)
        return 2
    server_cpus, load_cpus = cores()
    if load_cpus:  # wrk, the sinks and py-spy inherit this
        os.sched_setaffinity(0, {int(c) for c in load_cpus.split(",")})
    wrk_seconds = len(args.endpoints) * (
        len(variants) * (args.warmup + args.rounds * args.seconds)
        + (args.warmup + len(variants) * args.pairs * args.seconds if args.pairs else 0)
    )
    settings = {
        "seconds": args.seconds, "warmup_seconds": args.warmup, "rounds": args.rounds,
        "connections": args.connections, "wrk_threads": 1, "endpoints": args.endpoints,
        "pairs": args.pairs,
        "cpus": {"server": server_cpus, "load": load_cpus},
        "server": "gunicorn, 1 sync worker, SQLite, DJANGO_DEBUG=false, throttles off, JSON "
        f"logs; {CACHED}: Redis at {BENCH_REDIS_URL}",
        "production_sampler_ratio": production_ratio,
    }  # fmt: skip
    settings["busy_percent_before"] = busy = busy_percent()
    say(json.dumps({"machine": machine(), "settings": settings}))
    if any(share > BUSY_WARNING for share in busy.values()):
        say(f"WARNING: the machine is not idle ({busy} % busy): numbers will be skewed")
    say(f"variants: {', '.join(v.name for v in variants)}; about {wrk_seconds} s of wrk")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    servers: dict[str, Server] = {}
    rounds, pairs, flames = run_everything(variants, args, server_cpus, servers)
    summary = summarize(rounds, {v.name: v.speedup_over for v in variants if v.speedup_over})
    summary = add_pairs(summary, pairs)
    targets = verdict(summary)
    sinks = {name: server.sink.stats.snapshot() for name, server in servers.items() if server.sink}
    print_table(summary)
    print_verdict(targets)
    print_speedups(summary)
    print_sinks(sinks)
    found, warnings = problems(summary, servers.values()), noise_warnings(rounds)
    document = results_document(
        argv=argv, settings=settings, servers=servers, sinks=sinks, profiled=args.profile,
        summary=summary, targets=targets, flames=flames, found=found, warnings=warnings,
    )  # fmt: skip
    args.output.write_text(json.dumps(document, indent=2))
    say(f"results: {args.output}")
    for warning in warnings:
        say(f"WARNING: {warning}")
    for problem in found:
        say(f"FAILED: {problem}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
