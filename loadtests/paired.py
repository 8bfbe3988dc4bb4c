"""Paired runs for `make bench`: bare and one variant under load at the same time, on the
same core, each driven by its own wrk.

A shared VM's speed moves from second to second (on 2-core AMD EPYC VMs here, bare served
200-310 retrieves in consecutive one-second runs, and its CPU time per request moved with
it), so a variant run alone is compared with a bare run made on a faster or slower machine.
Two servers loaded together share every one of those seconds: whatever slows the core slows
both. Each saturated worker gets its turns on the core; what a request costs it is its CPU
time (every thread, the scheduler's nanosecond runtime) over the requests it served. The
paired ratio is bare's cost over the variant's: the throughput ratio the two would show,
each alone, on equally fast cores. The ratio of requests served is kept beside it; it also
depends on how the scheduler shared the core (a variant's export thread is a scheduling
entity of its own and wins its process a little more than half).

The workers take turns of ``TURN_SECONDS`` (the other one stopped). Whichever has the first
turn read about 2% better in one test on this VM (two bare servers: 1.008 against 0.990,
1.038 against 1.016...), so rounds alternate which goes first. The control is bare against a
second bare server: the ratio the method reads when nothing differs, its noise and bias.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess  # nosec B404
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from loadtests import wrk
from loadtests.worker_cpu import runtime_seconds, worker_pid

# Bandit finding accepted here: subprocess only for the Popen type of a server's master (B404).

# How long each worker of a pair runs before the other's turn. Left to the kernel, the two
# would switch every few milliseconds, in the middle of nearly every request, and each request
# would start on caches the other had just filled (CPU per request rose by up to 1.7x, and
# unevenly: two bare servers read 1.00 and 1.12 in consecutive pairs). Turns of 100 ms hold
# 20-50 requests; the machine's speed moves over seconds, so both still see the same machine.
TURN_SECONDS = 0.1


class Loaded(wrk.Target, Protocol):
    """A benchmarked server: its master process and the requests sent to it so far."""

    process: subprocess.Popen[bytes]
    requests: int


@dataclass(frozen=True)
class Pair:
    """One paired run: the base's (a bare server's) and the variant's wrk runs over the same
    seconds; ``base`` names which bare server it was."""

    bare: wrk.Run
    variant: wrk.Run
    base: str = "bare"

    @property
    def ratio(self) -> float:
        """Bare's CPU per request over the variant's (1.0 = costs the same; 0.0 if unknown)."""
        bare, variant = self.bare.cpu_us_per_request, self.variant.cpu_us_per_request
        return bare / variant if bare and variant else 0.0

    @property
    def request_ratio(self) -> float:
        """The variant's requests over bare's, served in the same seconds."""
        return self.variant.requests / self.bare.requests if self.bare.requests else 0.0


class WorkerReplacedError(RuntimeError):
    """A worker was replaced during a paired run, so its CPU time cannot be read."""


def take_turns(
    workers: Sequence[int],
    loads: Sequence[subprocess.Popen[str]],
    turn_seconds: float = TURN_SECONDS,
) -> None:
    """Let one worker run at a time, each for ``turn_seconds`` in turn (the others stopped
    with SIGSTOP), until every load generator in ``loads`` has exited; then all run again."""
    running = 0
    try:
        for worker in workers[1:]:
            os.kill(worker, signal.SIGSTOP)
        while any(load.poll() is None for load in loads):
            time.sleep(turn_seconds)
            os.kill(workers[running], signal.SIGSTOP)
            running = (running + 1) % len(workers)
            os.kill(workers[running], signal.SIGCONT)
    finally:
        for worker in workers:
            os.kill(worker, signal.SIGCONT)


def measure(
    bare: Loaded,
    variant: Loaded,
    endpoint: str,
    seconds: int,
    connections: int,
    *,
    bare_first: bool = True,
) -> Pair:
    """Load ``bare`` and ``variant`` together for ``seconds``, ``connections`` each, their
    workers taking turns on the core (``bare_first``: bare's worker has the first turn);
    count each worker's CPU time over the run."""
    servers = (bare, variant) if bare_first else (variant, bare)
    workers = [worker_pid(server.process.pid) for server in servers]
    before = [runtime_seconds(worker) for worker in workers]
    outputs = wrk.run_together(
        servers, endpoint, seconds, connections, lambda loads: take_turns(workers, loads)
    )
    used = [runtime_seconds(worker) - start for worker, start in zip(workers, before, strict=True)]
    for server, worker in zip(servers, workers, strict=True):
        if worker_pid(server.process.pid, timeout=0) != worker:
            raise WorkerReplacedError(f"worker {worker} of {server.url} was replaced during a run")
    runs = []
    for server, output, cpu in zip(servers, outputs, used, strict=True):
        run = wrk.parse(output)
        server.requests += run.requests
        per_request = cpu * 1e6 / run.requests if run.requests else None
        runs.append(replace(run, cpu_us_per_request=per_request))
    first, second = runs
    return Pair(bare=first, variant=second) if bare_first else Pair(bare=second, variant=first)


def summarize(pairs: Sequence[Pair]) -> dict[str, Any]:
    """The median paired ratio with its min and max, the median ratio of requests served,
    errors on either side, and every pair."""
    ratios = [pair.ratio for pair in pairs]
    return {
        "paired_ratio": statistics.median(ratios),
        "paired_ratio_min": min(ratios),
        "paired_ratio_max": max(ratios),
        "paired_request_ratio": statistics.median(pair.request_ratio for pair in pairs),
        "paired_errors": sum(pair.bare.errors + pair.variant.errors for pair in pairs),
        "paired_rounds": [asdict(pair) for pair in pairs],
    }


def progress(pair: Pair) -> str:
    """A paired run on one line."""
    variant_cpu, bare_cpu = pair.variant.cpu_us_per_request, pair.bare.cpu_us_per_request
    return (
        f"ratio {pair.ratio:.3f}  requests {pair.variant.requests:>5} vs bare "
        f"{pair.bare.requests:>5} ({pair.request_ratio:.3f})  CPU {variant_cpu or 0:>5.0f} vs "
        f"{bare_cpu or 0:>5.0f} us/req  errors {pair.variant.errors + pair.bare.errors}"
    )
