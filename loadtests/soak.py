"""Soak test (`make soak`): a long Locust run against a local gunicorn, memory watched per worker.

Starts gunicorn (2 sync workers by default, debug off, throttles off, JSON logs to a file) and
one Celery worker (the default mix exports now and then; filesystem broker in a temporary
directory, its log in ``<shape>_worker.log``) on a fresh database: a new PostgreSQL database
on ``TEST_POSTGRES_URL``'s server when it answers (dropped afterwards), else a SQLite file.
Traces are sampled at the production overlay's ratio and exported over OTLP to a local sink,
as in production. Runs ``locust --shape soak``
(``--shape`` to change) for ``--minutes`` (``make soak SOAK_MINUTES=30``; default 10) and
samples every worker's RSS from the master's metrics endpoint
(``process_resident_memory_bytes{role="worker"}``) every ``--sample-every`` seconds, printing
one progress line per sample: elapsed time, requests so far and Locust's current p95 (its own
statistics history), RSS per worker. Locust's output goes to
``loadtests/results/<shape>_locust.log``, gunicorn's (JSON access and error logs) to
``<shape>_gunicorn.log`` beside it.

Memory is judged from a **warm baseline** (the first sample once ``--warmup`` seconds of load
have passed: imports, caches and connection pools are filled by then) to the end; the RSS at
boot is reported too. Targets, each PASS/FAIL:

- RSS per worker at the end below ``--max-rss-mib`` (150 MiB);
- RSS growth per worker from the warm baseline below ``--max-growth`` (5%);
- zero errors: Locust failures and server 5xx both 0;
- the same worker pids from start to end (a restarted worker would hide a leak).

Results: a summary on stdout, ``loadtests/results/soak.json`` (``--output``), and Locust's
CSV/HTML under ``loadtests/results/soak_*``. Exit status 0 when every target passes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import secrets
import signal
import subprocess  # nosec B404
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from loadtests import bench, local_server, sinks
from loadtests.local_server import BIN, HOST, NO_THROTTLES, REPO, free_port
from loadtests.machine import machine

# Bandit findings accepted here (marked inline): subprocess runs fixed argument lists without
# a shell (B404, B603); urlopen only reaches the local server at HOST (B310).
RESULTS = REPO / "loadtests" / "results"
MIB = 1024 * 1024
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"


def say(text: str) -> None:
    """One line of progress or result on stdout."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


# ------------------------------------------------------------------ database
def postgres_reachable(url: str) -> bool:
    """True when ``url`` accepts a connection within 3 s."""
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextlib.contextmanager
def soak_database(workdir: Path, postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on ``postgres_url``'s server (dropped at the end) if it
    answers, else a SQLite file in ``workdir``; yields its ``DATABASE_URL``."""
    if not postgres_url or not postgres_reachable(postgres_url):
        yield f"sqlite:///{workdir / 'soak.sqlite3'}"
        return
    name = f"todos_soak_{secrets.token_hex(4)}"
    parts = urlsplit(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(postgres_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# ------------------------------------------------------------------ server
@dataclass
class Server:
    """The gunicorn under test."""

    url: str
    metrics_url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def tracing_environment(sink_url: str) -> dict[str, str]:
    """Sampling at the production overlay's ratio (10% if it names none), exported to the sink."""
    ratio = bench.production_sampler_ratio() or bench.PROJECT_RATIO
    return {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": f"{ratio:g}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink_url,
    }


@contextlib.contextmanager
def run_server(
    database_url: str, workers: int, workdir: Path, tracing: dict[str, str], log_path: Path
) -> Iterator[Server]:
    """Migrate, then run gunicorn on a free port, its output in ``log_path`` (kept after the
    run: a failed request is explained there); SIGTERM it (then SIGKILL) at the end."""
    port, metrics_port = free_port(), free_port()
    env = {
        **local_server.base_environment(
            port=port, metrics_port=metrics_port, static_root=workdir / "static", workers=workers
        ),
        "DATABASE_URL": database_url,
        **NO_THROTTLES,
        **tracing,
        **local_server.jobs_environment(workdir / "jobs"),
    }
    migrate = local_server.manage("migrate", "--noinput", "-v0", env=env)
    if migrate.returncode:
        raise SystemExit(f"migrate failed:\n{migrate.stdout}{migrate.stderr}")
    worker = local_server.start(
        local_server.celery_worker_command(),
        env=env,
        log_path=log_path.with_name(log_path.name.replace("_gunicorn", "_worker")),
    )
    process = local_server.start(local_server.gunicorn_command(), env=env, log_path=log_path)
    server = Server(
        url=f"http://{HOST}:{port}",
        metrics_url=f"http://{HOST}:{metrics_port}/metrics",
        process=process,
        log_path=log_path,
    )
    try:
        try:
            local_server.wait_until_ready(
                process,
                lambda: len(scrape(server).get("workers", {})) >= workers,
                timeout=60,
                interval=0.2,
            )
        except local_server.NotReadyError:
            raise SystemExit(f"gunicorn did not start:\n{log_path.read_text()[-4000:]}") from None
        yield server
    finally:
        local_server.stop(process, grace_s=30)
        local_server.stop(worker, grace_s=30)


def scrape(server: Server) -> dict[str, Any]:
    """Worker RSS (MiB by pid) and server-side 5xx count from the metrics endpoint; {} if down."""
    try:
        with urllib.request.urlopen(server.metrics_url, timeout=5) as answer:  # noqa: S310  # nosec B310
            text = answer.read().decode()
    except OSError:
        return {}
    workers: dict[str, float] = {}
    errors = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "process_resident_memory_bytes" and sample.labels.get("role") == (
                "worker"
            ):
                workers[sample.labels["pid"]] = round(sample.value / MIB, 1)
            elif sample.name == "django_http_responses_total_by_status_total" and str(
                sample.labels.get("status", "")
            ).startswith("5"):
                errors += sample.value
    return {"workers": workers, "server_5xx": errors}


# ------------------------------------------------------------------ locust
def locust_command(server: Server, shape: str, prefix: Path) -> list[str]:
    """Headless Locust with the project's locustfile, CSV and HTML reports under ``prefix``."""
    return [
        str(BIN / "locust"),
        "-f",
        str(REPO / "loadtests" / "locustfile.py"),
        "--headless",
        "--host",
        server.url,
        "--shape",
        shape,
        "--csv",
        str(prefix),
        "--html",
        f"{prefix}.html",
        "--only-summary",
    ]


def progress(prefix: Path) -> tuple[int, float | None]:
    """Requests so far and the current p95 (ms, Locust's recent window), from the last
    ``Aggregated`` row Locust wrote to ``<prefix>_stats_history.csv`` (once a second);
    ``(0, None)`` before the first one."""
    path = Path(f"{prefix}_stats_history.csv")
    if not path.exists():
        return 0, None
    last: dict[str, str] = {}
    with path.open() as history:
        for row in csv.DictReader(history):
            if row.get("Name") == "Aggregated":
                last = row
    if not last:
        return 0, None
    p95 = last.get("95%", "N/A")
    return int(last.get("Total Request Count") or 0), None if p95 in {"", "N/A"} else float(p95)


def progress_line(elapsed_s: float, prefix: Path, sample: dict[str, Any]) -> str:
    """``t=  120s requests=1834 p95=85ms rss MiB 4242=99.1 4243=99.0``."""
    requests, p95 = progress(prefix)
    rss = " ".join(f"{pid}={mib}" for pid, mib in sorted(sample.get("workers", {}).items()))
    p95_text = "-" if p95 is None else f"{p95:g}ms"
    return f"t={elapsed_s:6.0f}s requests={requests} p95={p95_text} rss MiB {rss or '-'}"


def aggregated_stats(prefix: Path) -> dict[str, Any]:
    """The ``Aggregated`` row of Locust's ``<prefix>_stats.csv``: counts and percentiles (ms).

    Locust's total includes the ``job: export`` entries (export jobs, enqueue to succeeded,
    ~1 s or more; about one entry in a hundred with the default mix): the top percentiles and
    the maximum here are those of requests and jobs together. Per-request latency: the rows of
    ``<prefix>_stats.csv`` or the SLO gate's verdict in the Locust log."""
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return {}
    with path.open() as stats:
        for row in csv.DictReader(stats):
            if row.get("Name") == "Aggregated":
                return {
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "requests_per_s": round(float(row["Requests/s"]), 1),
                    "p50_ms": float(row["50%"]),
                    "p95_ms": float(row["95%"]),
                    "p99_ms": float(row["99%"]),
                    "max_ms": round(float(row["Max Response Time"]), 1),
                }
    return {}


# ------------------------------------------------------------------ verdict
@dataclass
class Verdict:
    """The targets, each with the measured value and PASS/FAIL."""

    checks: list[dict[str, Any]] = field(default_factory=list)

    def check(self, name: str, measured: Any, target: str, passed: bool) -> None:
        """Record one target."""
        self.checks.append({"target": name, "measured": measured, "limit": target, "pass": passed})

    @property
    def passed(self) -> bool:
        """Every target passed."""
        return all(check["pass"] for check in self.checks)


def judge(result: dict[str, Any], *, max_rss_mib: float, max_growth: float) -> Verdict:
    """Compare the run's figures with the targets."""
    verdict = Verdict()
    baseline: dict[str, float] = result["rss_mib"]["warm"]
    end: dict[str, float] = result["rss_mib"]["end"]
    verdict.check(
        "same workers throughout",
        sorted(end),
        f"== {sorted(baseline)}",
        sorted(end) == sorted(baseline),
    )
    for pid in sorted(set(baseline) & set(end)):
        verdict.check(
            f"worker {pid} RSS (MiB)", end[pid], f"< {max_rss_mib:g}", end[pid] < max_rss_mib
        )
        growth = (end[pid] - baseline[pid]) / baseline[pid]
        verdict.check(
            f"worker {pid} RSS growth",
            f"{growth:+.1%} ({baseline[pid]} -> {end[pid]} MiB)",
            f"< {max_growth:.0%}",
            growth < max_growth,
        )
    stats = result["locust"]
    verdict.check("requests", stats.get("requests", 0), "> 0", stats.get("requests", 0) > 0)
    verdict.check("Locust failures", stats.get("failures"), "== 0", stats.get("failures") == 0)
    verdict.check("server 5xx", result["server_5xx"], "== 0", result["server_5xx"] == 0)
    return verdict


# ------------------------------------------------------------------ main
def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Run the server and the load; return the result document (without the verdict)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    prefix = RESULTS / args.shape if args.shape != "soak" else RESULTS / "soak"
    sink = sinks.start_sink()
    with (
        tempfile.TemporaryDirectory(prefix="todos-soak-") as tmp,
        soak_database(Path(tmp), args.postgres_url) as database_url,
        run_server(
            database_url,
            args.workers,
            Path(tmp),
            tracing_environment(sink.url),
            log_path=Path(f"{prefix}_gunicorn.log"),
        ) as server,
        Path(f"{prefix}_locust.log").open("wb") as locust_log,
    ):
        boot = scrape(server)
        # Locust's own -t / -u, as variables: the shape reads them (use_common_options).
        env = {**os.environ, "LOCUST_RUN_TIME": f"{round(args.duration)}s"}
        if args.users:
            env["LOCUST_USERS"] = str(args.users)
        say(
            f"soak: {args.shape} for {args.duration:g} s against {server.url} "
            f"({database_url.split(':')[0]}); Locust's output as it runs: {prefix}_locust.log"
        )
        Path(f"{prefix}_stats_history.csv").unlink(missing_ok=True)  # an earlier run's
        started = time.monotonic()
        locust = subprocess.Popen(  # noqa: S603  # nosec B603
            locust_command(server, args.shape, prefix),
            cwd=REPO,
            env=env,
            stdout=locust_log,
            stderr=subprocess.STDOUT,
        )
        timeline: list[dict[str, Any]] = []
        warm: dict[str, float] = {}
        deadline = started + args.duration + 120  # the shape's own end plus setup slack
        while locust.poll() is None:
            if time.monotonic() > deadline:
                locust.send_signal(signal.SIGINT)
                locust.wait(timeout=60)
                break
            sample = scrape(server)
            elapsed = round(time.monotonic() - started, 1)
            timeline.append({"t_s": elapsed, **sample})
            say(progress_line(elapsed, prefix, sample))
            if not warm and elapsed >= args.warmup and sample.get("workers"):
                warm = dict(sample["workers"])
            with contextlib.suppress(subprocess.TimeoutExpired):
                locust.wait(timeout=args.sample_every)
        end = scrape(server)
    sink.shutdown()
    output = Path(f"{prefix}_locust.log").read_text(errors="replace")
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "shape": args.shape,
        "duration_s": round(time.monotonic() - started, 1),
        "workers": args.workers,
        "database": database_url.split(":")[0],
        "rss_mib": {
            "boot": boot.get("workers", {}),
            "warm": warm,
            "end": end.get("workers", {}),
        },
        "server_5xx": end.get("server_5xx", 0.0),
        "locust": aggregated_stats(prefix),
        "locust_exit_code": locust.returncode,
        "locust_output_tail": output[-3000:],
        "timeline": timeline,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, soak, print and save the verdict; 0 when every target passes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10, help="minutes of load (10)")
    parser.add_argument("--shape", default="soak", help="Locust shape (soak; steady works too)")
    parser.add_argument("--users", type=int, default=0, help="override the shape's users")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="PostgreSQL server to create the soak database on (else SQLite); '' for SQLite",
    )
    parser.add_argument("--warmup", type=float, default=60, help="seconds before the baseline")
    parser.add_argument("--sample-every", type=float, default=15, help="RSS sampling period")
    parser.add_argument("--max-rss-mib", type=float, default=150)
    parser.add_argument("--max-growth", type=float, default=0.05)
    parser.add_argument("--output", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args(argv)
    args.duration = args.minutes * 60
    args.warmup = min(args.warmup, args.duration / 2)

    result = soak(args)
    verdict = judge(result, max_rss_mib=args.max_rss_mib, max_growth=args.max_growth)
    result["verdict"] = {"pass": verdict.passed, "checks": verdict.checks}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")

    stats = result["locust"]
    say(
        f"\n{result['shape']} {result['duration_s']:g} s, {result['workers']} workers on "
        f"{result['database']}: {stats.get('requests', 0)} requests "
        f"({stats.get('requests_per_s', 0)}/s), p50 {stats.get('p50_ms')} ms, "
        f"p95 {stats.get('p95_ms')} ms, p99 {stats.get('p99_ms')} ms, max {stats.get('max_ms')} ms"
    )
    say(
        f"RSS MiB boot {result['rss_mib']['boot']}, warm {result['rss_mib']['warm']}, "
        f"end {result['rss_mib']['end']}"
    )
    for check in verdict.checks:
        status = "PASS" if check["pass"] else "FAIL"
        say(f"  {status}  {check['target']}: {check['measured']} (target {check['limit']})")
    say(f"VERDICT: {'PASS' if verdict.passed else 'FAIL'}  ({args.output})")
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
