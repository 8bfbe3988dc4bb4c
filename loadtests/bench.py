"""Instrumentation overhead benchmark (`make bench`): the same server, bare and instrumented.

Two gunicorn servers with identical settings (one sync worker, SQLite, debug off) differ only
in ``TELEMETRY_ENABLED``: the bare one emits nothing; the instrumented one writes JSON logs
(to /dev/null), serves metrics, and exports every span (sampled at 100% unless
``BENCH_SAMPLER_RATIO`` is set) to a local OTLP sink that accepts and discards. wrk drives
retrieve, list and create in alternating rounds (A B A B ...). Where the machine has two or
more cores, the servers run on core 0 and wrk, the sink and this script on the others.
Results: a table on stdout and ``loadtests/results/bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess  # nosec B404
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Bandit findings accepted here (marked inline): subprocess runs fixed argument lists without
# a shell (B404, B603); urlopen only reaches the local servers at HOST (B310); PASSWORD is the
# throwaway user of a short-lived local database (B105); token "" means none (B107).
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "loadtests" / "results"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
ENDPOINTS = ("retrieve", "list", "create")
PASSWORD = "bench-password-long-enough"  # nosec B105


# ------------------------------------------------------------------ OTLP sink
class _Discard(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def start_sink() -> tuple[ThreadingHTTPServer, str]:
    """An OTLP/HTTP endpoint that accepts every export and discards it."""
    server = ThreadingHTTPServer((HOST, 0), _Discard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{HOST}:{server.server_address[1]}"


# ------------------------------------------------------------------ servers
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cores() -> tuple[str | None, str | None]:
    """(server cores, load-generator cores) for taskset, or (None, None) on one core."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2 or not shutil.which("taskset"):
        return None, None
    return str(available[0]), ",".join(str(c) for c in available[1:])


@dataclass
class Server:
    """A running gunicorn and what the benchmark needs to call it."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    token: str = ""
    todo_id: int = 0


def start_server(
    name: str, overrides: dict[str, str], workdir: Path, server_cpus: str | None
) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"sqlite:///{workdir / name}.sqlite3",
        "DJANGO_STATIC_ROOT": str(workdir / "static"),
        "BIND_HOST": HOST,
        "PORT": str(port),
        "METRICS_PORT": str(free_port()),
        "WEB_CONCURRENCY": "1",
        "LOG_FORMAT": "json",
        "THROTTLE_ANON_RATE": "off",
        "THROTTLE_USER_RATE": "off",
        "THROTTLE_AUTH_RATE": "off",
        **overrides,
    }
    subprocess.run(  # nosec B603
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True
    )
    command = [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py"]
    if server_cpus:
        command = ["taskset", "-c", server_cpus, *command]
    process = subprocess.Popen(  # nosec B603
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Server(name=name, url=f"http://{HOST}:{port}", process=process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1):  # nosec B310
                break
        except OSError:
            time.sleep(0.1)
    else:
        raise SystemExit(f"{name} server did not start")
    prepare(server)
    return server


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
    call(f"{server.url}/api/auth/register/", {"username": "bench", "password": PASSWORD})
    server.token = call(
        f"{server.url}/api/auth/token/", {"username": "bench", "password": PASSWORD}
    )["access"]
    for n in range(25):
        todo = call(f"{server.url}/api/todos/", {"title": f"todo {n}"}, server.token)
    server.todo_id = todo["id"]


# ------------------------------------------------------------------ wrk
WRK_SCRIPT = """
wrk.method = "{method}"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
{body}
"""


@dataclass
class Run:
    """One wrk run: throughput and latency percentiles."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def wrk(
    server: Server, endpoint: str, seconds: int, connections: int, load_cpus: str | None
) -> Run:
    path = f"/api/todos/{server.todo_id}/" if endpoint == "retrieve" else "/api/todos/"
    method = "POST" if endpoint == "create" else "GET"
    body = 'wrk.body = \'{"title": "benchmark"}\'' if endpoint == "create" else ""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(method=method, token=server.token, body=body))
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name]
    if load_cpus:
        command = ["taskset", "-c", load_cpus, *command]
    output = subprocess.run(  # nosec B603
        [*command, server.url + path], capture_output=True, text=True, check=True
    ).stdout
    os.unlink(script.name)
    return parse_wrk(output)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output: str) -> Run:
    """Requests/s, p50, p99 and non-2xx/socket errors from wrk's --latency output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", output)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)", output)
    errors = int(non_2xx[1]) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Run(
        rps=rps,
        p50_ms=_ms(*p50.groups()),  # type: ignore[union-attr]
        p99_ms=_ms(*p99.groups()),  # type: ignore[union-attr]
        errors=errors,
    )


# ------------------------------------------------------------------ report
def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def summarize(rounds: dict[str, dict[str, list[Run]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for endpoint, runs in rounds.items():
        bare, inst = runs["bare"], runs["instrumented"]
        ratios = [i.rps / b.rps for b, i in zip(bare, inst, strict=True)]
        summary[endpoint] = {
            "bare_rps": statistics.median(r.rps for r in bare),
            "instrumented_rps": statistics.median(r.rps for r in inst),
            "ratio": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "bare_p50_ms": statistics.median(r.p50_ms for r in bare),
            "bare_p99_ms": statistics.median(r.p99_ms for r in bare),
            "instrumented_p50_ms": statistics.median(r.p50_ms for r in inst),
            "instrumented_p99_ms": statistics.median(r.p99_ms for r in inst),
            "errors": sum(r.errors for r in bare + inst),
            "rounds": {
                "bare": [asdict(r) for r in bare],
                "instrumented": [asdict(r) for r in inst],
            },
        }
    return summary


def print_table(summary: dict[str, Any]) -> None:
    print(
        f"{'endpoint':<9} {'bare rps':>9} {'inst rps':>9} {'ratio':>6} {'(min-max)':>12} "
        f"{'bare p50/p99 ms':>16} {'inst p50/p99 ms':>16} {'errors':>6}"
    )
    for endpoint, row in summary.items():
        print(
            f"{endpoint:<9} {row['bare_rps']:>9.0f} {row['instrumented_rps']:>9.0f} "
            f"{row['ratio']:>6.2f} {row['ratio_min']:>5.2f}-{row['ratio_max']:<5.2f} "
            f"{row['bare_p50_ms']:>7.2f}/{row['bare_p99_ms']:<8.2f} "
            f"{row['instrumented_p50_ms']:>7.2f}/{row['instrumented_p99_ms']:<8.2f} "
            f"{row['errors']:>6}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--endpoints", nargs="+", default=list(ENDPOINTS), choices=ENDPOINTS)
    parser.add_argument("--output", type=Path, default=RESULTS / "bench.json")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2
    server_cpus, load_cpus = cores()
    if load_cpus:
        os.sched_setaffinity(0, {int(c) for c in load_cpus.split(",")})
    sink, sink_url = start_sink()
    ratio = os.environ.get("BENCH_SAMPLER_RATIO")
    instrumented_env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink_url,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio" if ratio else "parentbased_always_on",
        **({"OTEL_TRACES_SAMPLER_ARG": ratio} if ratio else {}),
    }
    print(
        json.dumps(
            {
                "machine": machine(),
                "server_cpus": server_cpus,
                "load_cpus": load_cpus,
                "sampler_ratio": ratio or "1.0",
            }
        )
    )
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        subprocess.run(  # nosec B603
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=REPO, check=True,
            env={**os.environ, "DJANGO_DEBUG": "true", "DJANGO_STATIC_ROOT": f"{workdir}/static"},
        )  # fmt: skip
        servers = {
            "bare": start_server(
                "bare", {"TELEMETRY_ENABLED": "false"}, Path(workdir), server_cpus
            ),
            "instrumented": start_server(
                "instrumented", instrumented_env, Path(workdir), server_cpus
            ),
        }
        try:
            rounds: dict[str, dict[str, list[Run]]] = {}
            for endpoint in args.endpoints:
                rounds[endpoint] = {"bare": [], "instrumented": []}
                for server in servers.values():  # warm up both
                    wrk(server, endpoint, 2, args.connections, load_cpus)
                for _ in range(args.rounds):
                    for name, server in servers.items():
                        run = wrk(server, endpoint, args.seconds, args.connections, load_cpus)
                        rounds[endpoint][name].append(run)
        finally:
            for server in servers.values():
                server.process.terminate()
                server.process.wait(timeout=30)
            sink.shutdown()
    summary = summarize(rounds)
    print_table(summary)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {"machine": machine(), "sampler_ratio": ratio or "1.0", "endpoints": summary}, indent=2
        )
    )
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
