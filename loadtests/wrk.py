"""wrk, the HTTP load generator of `make bench`: one run's command and Lua script, started
alone or beside another, and what its ``--latency`` output says."""

from __future__ import annotations

import os
import re
import subprocess  # nosec B404
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Protocol

# Bandit findings accepted here (marked inline): subprocess runs wrk with a fixed argument
# list and no shell (B404, B603).
SCRIPT = """
wrk.method = "{method}"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
{body}
"""
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


class Target(Protocol):
    """What wrk needs of a benchmarked server: where it is and whose todos to call."""

    url: str
    token: str
    todo_id: int


@dataclass
class Run:
    """One wrk run: throughput, latency percentiles, errors, and the worker's CPU per request."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_us_per_request: float | None = None
    # The server core's busy time not spent in the worker, as % of the run's wall time: the
    # master, idle variants, interrupts, and anything else on the machine. High means noise.
    other_cpu_pct: float | None = None


def command(
    target: Target, endpoint: str, seconds: int, connections: int, script: str
) -> list[str]:
    """wrk against ``endpoint`` of ``target`` with the Lua ``script``."""
    path = f"/api/todos/{target.todo_id}/" if endpoint == "retrieve" else "/api/todos/"
    return [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script,
        target.url + path,
    ]  # fmt: skip


@contextmanager
def script_for(target: Target, endpoint: str) -> Iterator[str]:
    """A Lua file that makes wrk send ``endpoint``'s request as ``target``'s user (POST with
    a JSON body for create, GET otherwise); removed on exit."""
    method = "POST" if endpoint == "create" else "GET"
    body = 'wrk.body = \'{"title": "benchmark"}\'' if endpoint == "create" else ""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(SCRIPT.format(method=method, token=target.token, body=body))
    try:
        yield script.name
    finally:
        os.unlink(script.name)


def run(target: Target, endpoint: str, seconds: int, connections: int) -> str:
    """wrk's output for one run (wrk runs where this process is pinned)."""
    return run_together([target], endpoint, seconds, connections)[0]


def run_together(
    targets: Sequence[Target],
    endpoint: str,
    seconds: int,
    connections: int,
    while_running: Callable[[Sequence[subprocess.Popen[str]]], None] | None = None,
) -> list[str]:
    """wrk's outputs for runs against every target at the same time, one wrk each, started
    together (wrk runs where this process is pinned). ``while_running`` is called with the
    wrk processes once they have started, and should return once they have all exited."""
    with ExitStack() as stack:
        scripts = [stack.enter_context(script_for(t, endpoint)) for t in targets]
        processes = [
            subprocess.Popen(  # nosec B603
                command(target, endpoint, seconds, connections, script),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for target, script in zip(targets, scripts, strict=True)
        ]
        if while_running is not None:
            while_running(processes)
        outputs = [process.communicate() for process in processes]
    for process, (_, error) in zip(processes, outputs, strict=True):
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, process.args, stderr=error)
    return [output for output, _ in outputs]


def _search(pattern: str, output: str) -> re.Match[str]:
    match = re.search(pattern, output)
    if match is None:
        raise ValueError(f"no {pattern!r} in wrk output:\n{output}")
    return match


def parse(output: str) -> Run:
    """Requests/s, p50, p99, total requests and errors (non-2xx/3xx answers plus socket
    connect/read/write/timeout errors) from wrk's ``--latency`` output."""
    rps = float(_search(r"Requests/sec:\s+([\d.]+)", output)[1])
    requests = int(_search(r"(\d+) requests in ", output)[1])
    p50 = _search(r"\s50%\s+([\d.]+)(us|ms|s|m)\b", output)
    p99 = _search(r"\s99%\s+([\d.]+)(us|ms|s|m)\b", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx[1]) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Run(
        rps=rps,
        p50_ms=float(p50[1]) * _UNITS_MS[p50[2]],
        p99_ms=float(p99[1]) * _UNITS_MS[p99[2]],
        errors=errors,
        requests=requests,
    )
